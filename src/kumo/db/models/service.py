"""What ``kumo serve`` keeps between runs of its periodic work (kumo.periodic).

    image_cache_volumes   since when a cached image volume on a host has been unused (aging)
    periodic_runs         each periodic task's last run across every controller, so one runs it
                          per interval and takeover after a dead controller is visible
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, UTCDateTime


class ImageCacheVolume(Base):
    __tablename__ = "image_cache_volumes"

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"),
                                         primary_key=True)
    volume: Mapped[str] = mapped_column(String(255), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: None while an instance on the host boots from it (or an upload of it is unfinished)
    unused_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PeriodicRun(Base):
    __tablename__ = "periodic_runs"

    task: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the controller (journal owner name) that ran it last
    owner: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
