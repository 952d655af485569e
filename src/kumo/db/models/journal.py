"""The operation journal: every lifecycle operation is written here before it acts.

One row per operation (create, start, stop, reboot, delete, rebuild, evacuate, ...): ``step`` is
the last step reached, ``payload`` what recovery needs to finish or undo it (volume names, the
target host, ...), ``state`` where it stands. On restart the compute layer reads the unfinished
rows (kumo.db.queries.unfinished_operations: one query on the ``state`` index) and finishes or
rolls each back. ``owner`` names the controller process working on the row and
``lease_expires_at`` until when it holds it (renewed while it works, kumo.compute.lease): with
several controllers on one PostgreSQL database another takes a row over only once its owner is
known dead or its lease expired.

``instance_uuid`` has no foreign key: the journal outlives the rows it talks about.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import JSONDict, Base, Timestamps, UTCDateTime, check_in


class JournalState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


#: states of an operation that is not finished (recovery's work list)
UNFINISHED_STATES = (JournalState.PENDING.value, JournalState.IN_PROGRESS.value)


class JournalEntry(Timestamps, Base):
    __tablename__ = "journal"
    __table_args__ = (
        CheckConstraint(check_in("state", JournalState), name="state"),
        Index(None, "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    operation: Mapped[str] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=JournalState.PENDING.value)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(64))
    #: who asked (the requester's user and project; None: kumo on its own, or an entry
    #: older than revision 0020)
    user_id: Mapped[str | None] = mapped_column(String(64))
    project_id: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return (f"<JournalEntry {self.id} {self.operation} {self.instance_uuid} "
                f"step={self.step} {self.state}>")
