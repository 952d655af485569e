"""Cold migrations and resizes of one instance (Nova's ``migrations`` table): where it moved
from and to, its flavor before and after, where it stands, and the claim the move itself holds.

An instance holds one claim, on the host it is recorded on (kumo.compute.records). A move needs
two while it is undecided, as Nova's placement allocations do (the migration record is the
consumer of the source's allocation while the instance is VERIFY_RESIZE): the migration row holds
the other one -- ``held_host_id`` and ``held_*`` -- on the target while the guest is being moved
there, then, once the instance is recorded on the target, on the source (its old flavor) until
the move is confirmed (released) or reverted (it becomes the instance's own claim again).
kumo.compute.usage counts these holds with the instances, so host usage stays the sum of what is
recorded as holding it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import JSONDict, Base, Timestamps, check_in


class MoveKind(StrEnum):
    MIGRATION = "migration"  # cold migration: same flavor, another host
    RESIZE = "resize"  # a new flavor (kumo: on another host, Nova's default)


class MoveStatus(StrEnum):
    """Nova's migration statuses for a cold migration or resize."""

    PRE_MIGRATING = "pre-migrating"  # target claimed, nothing done on a host yet
    MIGRATING = "migrating"  # guest stopped, disks being copied / defined on the target
    FINISHED = "finished"  # on the target; the source kept until confirm or revert
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    REVERTING = "reverting"
    REVERTED = "reverted"
    ERROR = "error"  # failed and rolled back: the instance is on its source as before


class Move(Timestamps, Base):
    __tablename__ = "migrations"
    __table_args__ = (
        CheckConstraint(check_in("kind", MoveKind), name="kind"),
        CheckConstraint(check_in("status", MoveStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=MoveStatus.PRE_MIGRATING.value)
    source_host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    source_node: Mapped[str] = mapped_column(String(255))
    dest_host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    dest_node: Mapped[str] = mapped_column(String(255))
    #: the instance's flavor snapshot before and after (kumo.compute.moves.FlavorSnapshot)
    old_flavor: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    new_flavor: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    #: vm_state before the move (active or stopped): what confirm and revert return it to
    old_vm_state: Mapped[str] = mapped_column(String(32))
    #: the claim this move holds (None: none any more) and its size
    held_host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"), index=True)
    held_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    held_ram_mib: Mapped[int] = mapped_column(Integer, default=0)
    held_disk_gib: Mapped[int] = mapped_column(Integer, default=0)
    #: why it failed (status error)
    error: Mapped[str | None] = mapped_column(Text)
    #: the move's journal entry (operation migrate)
    journal_id: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return (f"<Move {self.id} {self.kind} {self.instance_uuid} {self.source_node}->"
                f"{self.dest_node} {self.status}>")
