"""The image cache on hosts: which image volumes a host holds, and whether each is complete.

An image's data is uploaded once per host into kumo's pool (``kumo-image-<image id>``) and shared
by every instance there that boots from it. libvirt cannot rename a volume, so the volume has its
final name while it is being written; "the volume exists" therefore says nothing about it being
complete. This row does: ``state`` is ``uploading`` from before the first byte is sent until
the upload has finished and been checked, then ``ready``. It is also the lock that makes a
second create of the same image on the same host wait for the first one's upload -- across
controller processes, since they share the database (the primary key admits one row per host and
image). ``owner`` names the uploading process as the journal does (host:pid:start): a row left
``uploading`` by a dead process is a partial volume, which recovery deletes.

``image_id`` has no foreign key: a host may keep an image's volume after the image is deleted
from the catalog (``kumo host orphans`` reports it).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, Timestamps, check_in


class HostImageState(StrEnum):
    UPLOADING = "uploading"
    READY = "ready"


class HostImage(Timestamps, Base):
    __tablename__ = "host_images"
    __table_args__ = (CheckConstraint(check_in("state", HostImageState), name="state"),)

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"),
                                         primary_key=True)
    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    volume: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    #: the process uploading (journal owner format); None once ready, or when given up
    owner: Mapped[str | None] = mapped_column(String(255))
    #: this upload, among the threads of one process (which share an owner)
    token: Mapped[str | None] = mapped_column(String(32))
    #: bytes uploaded, once ready
    size: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"<HostImage host={self.host_id} image={self.image_id} {self.state}>"
