"""This installation's identity: one row, made once per database.

Every domain kumo defines carries the installation id in its libvirt metadata
(kumo.backends.libvirt_xml.metadata), so two kumo installations (two databases) sharing one
libvirt daemon each know their own domains and never report the other's as orphans.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, UTCDateTime, new_uuid, utcnow


class Installation(Base):
    __tablename__ = "installation"
    __table_args__ = (CheckConstraint("singleton = 1", name="singleton"),)

    #: always 1: the table holds one row
    singleton: Mapped[int] = mapped_column(Integer, primary_key=True, default=1,
                                           autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), default=new_uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
