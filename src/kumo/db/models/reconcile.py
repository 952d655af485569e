"""Reconcile runs: one fleet-wide change of stored image properties, and what it did to each
instance (kumo.compute.reconcile).

A run is made once (``kumo reconcile --apply``, or ``--revert RUN_ID``: a run of its own whose
``revert_of`` names the run it undoes) and keeps, per selected instance, one item: what the
record was before and after, and the journal entry that redefined its domain. The items are
written in the unit of work that changes the instance record, so a run killed at any moment and
re-run changes each instance exactly once, and a revert restores exactly the records it found.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import JSONDict, Base, Timestamps, check_in


class RunState(StrEnum):
    IN_PROGRESS = "in-progress"
    #: its controller died; re-running the same command (or --revert again) resumes it
    INTERRUPTED = "interrupted"
    DONE = "done"


class ItemState(StrEnum):
    PENDING = "pending"  # selected, not yet looked at
    CHANGED = "changed"  # record changed (journal_id: the domain's redefinition)
    UNCHANGED = "unchanged"  # the record already was what the run asks
    SKIPPED = "skipped"  # not changed, ``detail`` says why (running without --reboot, busy...)
    FAILED = "failed"  # refused (``detail``): the record is as before


class ClockState(StrEnum):
    """With --sync-time, where an item's guest clock stands (None: not looked at yet)."""

    IN_PROGRESS = "in-progress"  # its sync-time journal entry is open (recovery finishes it)
    SET = "set"  # set from the host's clock through the guest agent
    NOT_SET = "not-set"  # not running, busy, or the agent refused (``detail`` says which)


class ReconcileRun(Timestamps, Base):
    __tablename__ = "reconcile_runs"
    __table_args__ = (CheckConstraint(check_in("state", RunState), name="state"),)

    #: the run id users give to --revert
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    #: what was asked (kumo.compute.reconcile.Request as a dict), compared to resume a run
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    #: the run this one undoes (None: a forward run)
    revert_of: Mapped[str | None] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(16), default=RunState.IN_PROGRESS.value)
    #: the run's own journal entry (no instance): its owner and lease say who works on it
    journal_id: Mapped[int | None] = mapped_column(Integer)


class ReconcileItem(Timestamps, Base):
    __tablename__ = "reconcile_items"
    __table_args__ = (
        UniqueConstraint("run_id", "instance_uuid"),
        CheckConstraint(check_in("state", ItemState), name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("reconcile_runs.id"), index=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    #: order within the run (the plan's order)
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=ItemState.PENDING.value)
    #: what was done (the action) or why not (skipped, failed)
    detail: Mapped[str | None] = mapped_column(Text)
    #: the instance's image_properties and pinned machine type before and after the change
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDict)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDict)
    machine_before: Mapped[str | None] = mapped_column(String(64))
    machine_after: Mapped[str | None] = mapped_column(String(64))
    #: the instance's journal entry (operation reconcile) that carried the change to its host
    journal_id: Mapped[int | None] = mapped_column(Integer)
    #: with --sync-time: ClockState (None: not looked at yet -- a resumed run does it)
    clock: Mapped[str | None] = mapped_column(String(16))
