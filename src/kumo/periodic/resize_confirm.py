"""Automatic confirmation of moves left undecided (``resize_confirm_window``, Nova's option of
that name: 0, the default as in Nova, never). A server moved by ``kumo server migrate`` or
``resize`` waits in VERIFY_RESIZE, its source's stopped copy and claim kept, until it is
confirmed or reverted; with a window set, a move finished longer than that many seconds ago is
confirmed through the very confirm ``kumo server migrate confirm`` runs
(kumo.compute.moves.confirm: journaled, the source's copy removed, its claim released).

As Nova's _poll_unconfirmed_resizes (nova/compute/manager.py): the moves are those whose
migration is ``finished`` and was last changed (Nova: migrations.updated_at) more than the
window ago -- a confirm that failed and left the move ``finished`` again starts the window
anew; a server being deleted, or busy with another operation, is skipped this run; a server
in ERROR is left for the operator (Nova sets such a migration to error; kumo's ``error``
status means "rolled back onto the source", which is not what happened, so the migration is
left as it is and the reason logged). A confirm that fails is logged and tried again next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from kumo import logs
from kumo.compute import moves
from kumo.compute.context import service_context
from kumo.compute.env import ComputeEnv
from kumo.compute.states import RESIZED, now
from kumo.db.models import UNFINISHED_STATES, Instance, JournalEntry
from kumo.db.models.moves import Move, MoveStatus
from kumo.errors import KumoError
from kumo.periodic import Outcome

NAME = "resize-confirm"
#: how often the task looks, at most: Nova's periodic tasks run every 60 s by default
#: (oslo.service periodic_task spacing), and a shorter window is looked at as often as it is long
LOOK_EVERY = 60.0

log = logs.get(__name__)


def interval(window: float) -> float:
    """The task's interval for a window (0: the task is off)."""
    return min(LOOK_EVERY, window) if window > 0 else 0.0


def run(env: ComputeEnv, at: datetime | None = None) -> Outcome:
    window = env.settings.resize_confirm_window
    if window <= 0:
        return Outcome("resize_confirm_window is 0: moves are never confirmed automatically")
    at = at or now()
    expired = due(env, at - timedelta(seconds=window))
    out = Outcome("")
    confirmed = 0
    ctx = service_context()
    for uuid, name, move_id, skip in expired:
        with logs.log_context(instance=uuid):
            if skip:
                log.info("move %s of server %s not confirmed automatically this time: %s",
                         move_id, name, skip)
                out.count("skipped")
                continue
            try:
                moves.confirm(env, ctx, uuid)
            except KumoError as e:  # left VERIFY_RESIZE by the confirm itself: next run
                log.warning("confirming the move %s of server %s automatically failed: %s; "
                            "trying again next run", move_id, name, e)
                out.count("failed")
                continue
            confirmed += 1
            out.count("confirmed")
            log.info("move %s of server %s confirmed automatically: undecided for more than "
                     "%g s (resize_confirm_window)", move_id, name, window)
    out.summary = (f"{len(expired)} move(s) undecided for more than {window:g} s: "
                   f"{confirmed} confirmed")
    return out


def due(env: ComputeEnv, before: datetime) -> list[tuple[str, str, int, str | None]]:
    """(uuid, name, move id, why it is skipped or None) of every move finished -- waiting for
    confirm or revert -- and unchanged since ``before``, oldest first."""
    with env.db.session_scope(readonly=True) as s:
        rows = s.execute(select(Move.id, Instance.uuid, Instance.name, Instance.vm_state,
                                Instance.task_state)
                         .join(Instance, Instance.uuid == Move.instance_uuid)
                         .where(Move.status == MoveStatus.FINISHED.value,
                                Move.updated_at < before, Instance.deleted.is_(False))
                         .order_by(Move.updated_at, Move.id)).all()
        busy = set(s.scalars(select(JournalEntry.instance_uuid).where(
            JournalEntry.state.in_(UNFINISHED_STATES),
            JournalEntry.instance_uuid.in_([r.uuid for r in rows])))) if rows else set()
    out = []
    for r in rows:
        skip = None
        if r.vm_state != RESIZED:
            skip = f"the server is {r.vm_state}, not VERIFY_RESIZE (left for the operator)"
        elif r.task_state is not None or r.uuid in busy:
            skip = f"another operation is in progress ({r.task_state or 'journaled'})"
        out.append((r.uuid, r.name, r.id, skip))
    return out
