"""The operation journal: journal before acting, and recover what a dead controller left.

Every lifecycle operation writes a journal row (kumo.db.models.JournalEntry) in the same unit of
work that marks the instance busy, then, before each step that touches a host, records the step
it is about to take (``advance``) and what recovery needs to finish or undo it (volume names,
whether it was mid-upload). Only then does it act. The row ends DONE, FAILED or ROLLED_BACK.

``recover(env)`` runs when a controller starts (every ``kumo server ...`` command and
``kumo demo`` call it first) and, in ``kumo serve``, every ``recovery_interval`` seconds. It
takes over each unfinished row whose owner is gone -- a dead process of this machine, or any
owner whose lease expired (kumo.compute.lease); a live owner is left alone -- and hands it to
the operation's
recovery function, which finishes or rolls back the work from the recorded step so that the
instance ends ACTIVE/STOPPED, deleted, or ERROR with a reason -- never a domain or volume without
its instance, nor an instance silently without its domain. A host that does not answer
(HostUnreachable) leaves the row unfinished, to be retried on the next start; a host that answers
and refuses ends it FAILED with the instance ERROR and the host's answer as its fault. Then it
removes the partial image volumes dead uploaders left on hosts (kumo.compute.image_cache.recover).

Every step is logged (kumo.logs) with the entry's request id and instance, and ``event``
records what the controller saw happen to an instance without being asked (a guest that shut
itself down, found by the power-state sync) as a finished entry of its own: the journal is the
instance's one history, user actions and observations alike.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from kumo import logs, metrics
from kumo.compute import image_cache, lease
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.db.models import UNFINISHED_STATES, JournalEntry, JournalState
from kumo.db.queries import unfinished_operations
from kumo.errors import HostUnreachable, KumoError, LeaseLost, StateError

log = logs.get(__name__)

#: operation -> "module:function(env, entry) -> str" that finishes or rolls it back
RECOVERERS: dict[str, str] = {
    "create": "kumo.compute.spawn:recover_create",
    "rebuild": "kumo.compute.spawn:recover_rebuild",
    "start": "kumo.compute.power:recover_power",
    "stop": "kumo.compute.power:recover_power",
    "reboot": "kumo.compute.power:recover_power",
    "reboot-hard": "kumo.compute.power:recover_power",
    "delete": "kumo.compute.teardown:recover_delete",
    "set-password": "kumo.compute.passwords:recover_set_password",
    "evacuate": "kumo.compute.evacuate:recover_evacuate",
    "migrate": "kumo.compute.moves:recover_move",
    "resize": "kumo.compute.moves:recover_move",
    "migrate-confirm": "kumo.compute.moves:recover_decision",
    "migrate-revert": "kumo.compute.moves:recover_decision",
    "drain": "kumo.compute.drain:recover_drain",
    "host-fence": "kumo.compute.fencing:recover_fence",
    "evacuated-cleanup": "kumo.compute.evacuated_cleanup:recover_cleanup",
    "reconcile": "kumo.compute.reconcile_run:recover_reconcile",
    "sync-time": "kumo.compute.reconcile_run:recover_sync_time",
    "ec2-run": "kumo.ec2.idempotency:recover_launch",
}


#: payload key of an unfinished entry asked to stop (its value says why): its next advance to
#: one of its operation's STOPPABLE_STEPS raises Stopped instead -- the check made by the read
#: each step already makes of its entry, so it costs the operation no read of its own
STOP_REQUESTED = "stop_requested"
#: operation -> the steps it stops before when asked: those that start changing the host (a
#: create's upload, volumes, define; not its rollback, nor the end of a build already done)
STOPPABLE_STEPS: dict[str, frozenset[str]] = {
    "create": frozenset({"upload", "volumes", "define"}),
}


class Stopped(StateError):
    """The operation was asked to stop (STOP_REQUESTED) and did, before its next step."""


@dataclass(frozen=True)
class Recovered:
    #: None: not a journal entry (a partial image upload; the host usage reconciliation,
    #: operation ``audit-usage``)
    entry_id: int | None
    operation: str
    instance_uuid: str | None
    step: str | None
    outcome: str  # what recovery did, one sentence
    state: str  # the entry's state afterwards


def begin(session: Session, env: ComputeEnv, ctx: RequestContext, operation: str,
          instance_uuid: str | None, step: str, **payload: Any) -> JournalEntry:
    """A new in-progress entry, added to ``session`` (commit it with the state change it
    journals)."""
    entry = _add(session, instance_uuid=instance_uuid, operation=operation, step=step,
                 state=JournalState.IN_PROGRESS.value, payload=dict(payload), owner=env.owner,
                 request_id=ctx.request_id, user_id=ctx.user_id, project_id=ctx.project_id,
                 lease_expires_at=lease.expiry(env))
    env.keep_leases()
    metrics.step_started(entry.id, operation, step)
    log.info("%s begun (step %s)", operation, step,
             extra={"request_id": ctx.request_id, "instance": instance_uuid})
    return entry


def queue(session: Session, ctx: RequestContext, operation: str, behind: JournalEntry,
          step: str, **payload: Any) -> JournalEntry:
    """A pending entry of ``operation`` on ``behind``'s instance, queued behind that unfinished
    entry (add it in the unit of work that locked ``behind``): owned by ``behind``'s owner,
    which carries it out once ``behind`` ends, and sharing its lease (kumo.compute.lease renews
    every unfinished entry an owner has; recovery takes both over, oldest first)."""
    entry = _add(session, instance_uuid=behind.instance_uuid, operation=operation, step=step,
                 state=JournalState.PENDING.value, payload=dict(payload), owner=behind.owner,
                 request_id=ctx.request_id, user_id=ctx.user_id, project_id=ctx.project_id,
                 lease_expires_at=behind.lease_expires_at)
    log.info("%s queued behind %s (owner %s)", operation, behind.operation, behind.owner,
             extra={"request_id": ctx.request_id, "instance": behind.instance_uuid})
    return entry


def ask_to_stop(entry: JournalEntry, reason: str) -> None:
    """Ask the unfinished ``entry`` (loaded locked, in the caller's unit of work) to stop
    before its next stoppable step (STOP_REQUESTED); the first reason given is kept."""
    entry.payload.setdefault(STOP_REQUESTED, reason)


def _add(session: Session, **columns: Any) -> JournalEntry:
    """The one way an entry is written: added to ``session`` and flushed (its id known)."""
    entry = JournalEntry(**columns)
    session.add(entry)
    session.flush()
    return entry


def context_of(entry: JournalEntry) -> RequestContext:
    """The request an entry was written for (its user, project and request id), to journal
    the work that carries it on in another process or thread as that same request. No roles:
    it authorises nothing, the request was checked when the entry was written."""
    kept = {"request_id": entry.request_id} if entry.request_id else {}
    return RequestContext(entry.user_id or "", entry.project_id or "", (), **kept)


def event(session: Session, env: ComputeEnv, instance_uuid: str, kind: str, message: str,
          request_id: str | None = None, **payload: Any) -> JournalEntry:
    """Record (in the caller's unit of work) something seen happen to an instance: a finished
    entry whose operation is ``kind`` and whose payload's ``message`` says what and when."""
    entry = _add(session, instance_uuid=instance_uuid, operation=kind, step="observed",
                 state=JournalState.DONE.value, payload={"message": message, **payload},
                 owner=env.owner, request_id=request_id)
    log.warning("%s: %s", kind, message,
                extra={"request_id": request_id, "instance": instance_uuid})
    return entry


def advance(env: ComputeEnv, entry_id: int, step: str, **payload: Any) -> None:
    """Record that ``step`` is about to be taken (and payload updates), renewing the lease;
    commits at once. LeaseLost if another controller took the entry over meanwhile: the
    caller must stop, the work is the other controller's now."""
    with env.db.session_scope() as s:
        advance_in(s, env, entry_id, step, **payload)


def advance_in(s: Session, env: ComputeEnv, entry_id: int, step: str, **payload: Any) -> None:
    """``advance`` inside the caller's unit of work: the step commits with the record change it
    goes with (kumo.compute.records.save's ``advance_to``), one commit instead of two.
    Stopped, changing nothing, if the entry was asked to stop before this step."""
    entry = s.get_one(JournalEntry, entry_id, with_for_update=True)
    if entry.owner != env.owner:
        log.error("%s: lost to %s before step %s; stopping", entry.operation, entry.owner,
                  step, extra={"request_id": entry.request_id,
                               "instance": entry.instance_uuid})
        raise LeaseLost(f"{entry.operation} of server {entry.instance_uuid} was taken over "
                        f"by controller {entry.owner} (this controller's lease expired); "
                        "it finishes the work")
    stop = entry.payload.get(STOP_REQUESTED)
    if stop and step in STOPPABLE_STEPS.get(entry.operation, ()):
        log.warning("%s: stopped before step %s: %s", entry.operation, step, stop,
                    extra={"request_id": entry.request_id, "instance": entry.instance_uuid})
        raise Stopped(stop)
    entry.step = step
    entry.payload.update(payload)
    entry.lease_expires_at = lease.expiry(env)
    metrics.step_started(entry_id, entry.operation, step)
    log.info("%s: step %s", entry.operation, step,
             extra={"request_id": entry.request_id, "instance": entry.instance_uuid})


def record(session: Session, entry_id: int, step: str | None = None, **payload: Any) -> None:
    """Update an entry inside the caller's unit of work (with the instance change it goes with)."""
    entry = session.get_one(JournalEntry, entry_id)
    if step is not None:
        entry.step = step
    entry.payload.update(payload)


def finish(session: Session, entry_id: int, state: JournalState = JournalState.DONE,
           error: str | None = None) -> None:
    entry = session.get_one(JournalEntry, entry_id)
    entry.state = state.value
    entry.error = error
    metrics.operation_ended(entry_id)
    (log.info if state == JournalState.DONE else log.warning)(
        "%s %s at step %s%s", entry.operation, state.value, entry.step,
        f": {error}" if error else "",
        extra={"request_id": entry.request_id, "instance": entry.instance_uuid})


def snapshot(env: ComputeEnv, entry_id: int) -> tuple[str | None, str, dict[str, Any]]:
    """(step, state, payload) of an entry as committed now."""
    with env.db.session_scope(readonly=True) as s:
        e = s.get_one(JournalEntry, entry_id)
        return e.step, e.state, dict(e.payload)


def payload(env: ComputeEnv, entry_id: int) -> dict[str, Any]:
    with env.db.session_scope(readonly=True) as s:
        return dict(s.get_one(JournalEntry, entry_id).payload)


def recover(env: ComputeEnv, at: datetime | None = None) -> list[Recovered]:
    """Finish or roll back every operation a gone controller left unfinished (oldest first;
    ``at``: the time leases are judged at, now), then set every host's usage counters to the
    sums of the instances recorded on it (kumo.compute.usage), reporting each host fixed
    (operation ``audit-usage``)."""
    done = _recover_entries(env, at)
    from kumo.compute import usage  # usage -> records -> this module

    for fixed in usage.reconcile(env):
        done.append(Recovered(None, "audit-usage", None, None, fixed.describe(), "fixed"))
    return done


def _recover_entries(env: ComputeEnv, at: datetime | None) -> list[Recovered]:
    done = []
    with env.db.session_scope(readonly=True) as s:
        orphaned = [(e.id, e.owner) for e in unfinished_operations(s)
                    if lease.orphaned(env, e, at)]
    for entry_id, old_owner in orphaned:
        recovered = recover_one(env, entry_id, old_owner)
        if recovered is not None:
            done.append(recovered)
    for outcome in image_cache.recover(env):  # partial image volumes of dead uploaders
        done.append(Recovered(None, "image-upload", None, None, outcome,
                              JournalState.ROLLED_BACK.value))
    return done


def recover_one(env: ComputeEnv, entry_id: int, old_owner: str | None) -> Recovered | None:
    """Take the orphaned entry over from ``old_owner`` and finish or roll it back through its
    operation's recovery; what was done, or None when another controller took it over first
    (or took it back). The one recovery of an entry: the periodic pass above, and a request
    that finds the entry it waits for orphaned (kumo.ec2.idempotency) use it."""
    if not _take_over(env, entry_id, old_owner):
        log.info("journal entry %s was taken over by another controller first", entry_id)
        return None
    with env.db.session_scope(readonly=True) as s:
        entry = s.get_one(JournalEntry, entry_id)
        s.expunge(entry)
    handler = _handler(entry.operation)
    log.warning("taking over %s (journal entry %s) at step %s from %s", entry.operation,
                entry_id, entry.step, old_owner or "no owner",
                extra={"request_id": entry.request_id, "instance": entry.instance_uuid})
    try:
        outcome = handler(env, entry) if handler else (
            f"no recovery for operation {entry.operation!r}; marked failed")
        state = None if handler else JournalState.FAILED
    except LeaseLost:
        return None
    except HostUnreachable as e:  # the host does not answer: try again on the next start
        with env.db.session_scope() as s:
            s.get_one(JournalEntry, entry_id).owner = None
            s.get_one(JournalEntry, entry_id).error = f"recovery deferred: {e}"
        log.warning("recovery of %s deferred: %s", entry.operation, e,
                    extra={"request_id": entry.request_id, "instance": entry.instance_uuid})
        return Recovered(entry_id, entry.operation, entry.instance_uuid, entry.step,
                         f"deferred: {e}", entry.state)
    except KumoError as e:  # the host answered and refused: retrying would refuse again
        outcome = (f"{entry.operation} was interrupted at step {entry.step} and finishing "
                   f"it failed: {e}")
        _fail(env, entry_id, entry.instance_uuid, outcome)
        state = JournalState.FAILED
    with env.db.session_scope() as s:
        row = s.get_one(JournalEntry, entry_id)
        if state is not None:
            row.state = state.value
        row.error = (row.error + "; " if row.error else "") + f"recovered: {outcome}"
        final = row.state
    log.warning("recovered %s: %s", entry.operation, outcome,
                extra={"request_id": entry.request_id, "instance": entry.instance_uuid})
    return Recovered(entry_id, entry.operation, entry.instance_uuid, entry.step, outcome, final)


def _fail(env: ComputeEnv, entry_id: int, uuid: str | None, reason: str) -> None:
    """A recovery that failed: the instance ERROR with the reason and the power state its host
    reports, idle (its host, domain and claim kept, for the operator's next command), the entry
    FAILED."""
    from kumo.compute import records  # records imports this module

    if uuid is not None:
        records.fail(env, uuid, entry_id=entry_id, error=reason, fault=reason)
    else:
        with env.db.session_scope() as s:
            finish(s, entry_id, JournalState.FAILED, reason)


def take_over(env: ComputeEnv, entry_id: int, old_owner: str | None) -> bool:
    """Make this process the entry's owner if ``old_owner`` still is (one conditional UPDATE:
    of several processes trying, exactly one wins). Recovery and --no-wait's finisher use it."""
    return _take_over(env, entry_id, old_owner)


def _take_over(env: ComputeEnv, entry_id: int, old_owner: str | None) -> bool:
    """Make this controller the entry's owner unless another did first (one conditional
    UPDATE, so of two controllers racing exactly one wins)."""
    with env.db.session_scope() as s:
        owner_now = (JournalEntry.owner.is_(None) if old_owner is None
                     else JournalEntry.owner == old_owner)
        stmt = (update(JournalEntry)
                .where(JournalEntry.id == entry_id, owner_now,
                       JournalEntry.state.in_(UNFINISHED_STATES))
                .values(owner=env.owner, lease_expires_at=lease.expiry(env))
                .execution_options(synchronize_session=False))
        won = s.execute(stmt).rowcount == 1
    if won:
        env.keep_leases()
    return won


def _handler(operation: str) -> Callable[[ComputeEnv, JournalEntry], str] | None:
    target = RECOVERERS.get(operation)
    if target is None:
        return None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)
