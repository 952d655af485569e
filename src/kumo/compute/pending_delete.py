"""Deleting a server whose build is still running (EC2's TerminateInstances of a pending
instance, which AWS allows; Nova too deletes a server in BUILD: the build notices at its next
step and stops, nova.compute.manager's _build_and_run_instance on InstanceNotFound /
UnexpectedDeletingTaskStateError).

A delete asked while the server's create runs is queued: a ``delete`` journal entry in state
``pending`` (kumo.compute.journal.queue), committed with the server marked DELETING and the
create's entry asked to stop (journal.ask_to_stop), owned by the create's owner -- the
controller building it, whose lease the queued delete shares (kumo.compute.lease renews every
unfinished entry a controller owns). Then

* the build stops before its next step that changes the host (upload, volumes, define: the
  journal refuses to advance the entry there, journal.STOPPABLE_STEPS -- the check rides on the
  read of its entry each step makes anyway) and rolls back what it made there, as any failed
  create does (domain, volumes, claim); it is not retried on an alternate host. A build past
  its define step finishes, and the delete then removes it;
* the controller that ran the build carries the queued delete out when its build ends, however
  it ended (``run_queued``): the server ends deleted, its ports released -- nothing left;
* whoever sees the create finished first -- the build, or the request that queued the delete
  and looked again after its commit -- takes the delete (one conditional UPDATE: pending ->
  in-progress; exactly one wins), so it is carried out once and never lost between the two;
* a controller killed meanwhile leaves both entries to recovery, oldest first: the create
  rolled back (even from define, which recovery otherwise finishes: the step is refused as
  above), then the delete finished (kumo.compute.teardown.recover_delete).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kumo import logs
from kumo.compute import journal, lease
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import find_server
from kumo.compute.states import DELETING
from kumo.db.models import UNFINISHED_STATES, Instance, JournalEntry, JournalState

log = logs.get(__name__)

PENDING, IN_PROGRESS = JournalState.PENDING.value, JournalState.IN_PROGRESS.value


def request(env: ComputeEnv, ctx: RequestContext, ref: str) -> tuple[int, str, bool] | None:
    """Queue a delete of ``ref`` behind its running create: (the delete's entry id, the
    server's uuid, whether the caller must carry it out now -- the create ended meanwhile and
    this request took the delete). None when no create of it is running (delete it as any
    server); a delete already queued is answered again (deleting twice is one delete)."""
    with env.db.session_scope() as s:
        instance = find_server(s, ctx, ref)
        s.execute(select(Instance.id).where(Instance.id == instance.id).with_for_update())
        s.refresh(instance)
        # locked: the build's steps lock the instance and then its entry, as here, so the stop
        # asked below is seen by the build's next step, never written over by it
        busy = _unfinished(s, instance.uuid, lock=True)
        if not busy or busy[0].operation != "create":
            return None
        create = busy[0]
        queued = next((e for e in busy if e.operation == "delete"), None)
        if queued is None:
            if len(busy) > 1:  # the create and something else: not ours to queue behind
                return None
            queued = journal.queue(s, ctx, "delete", create, "begin", queued=True)
            journal.ask_to_stop(create, f"the server was deleted while it was being built "
                                        f"(delete {queued.id}); build stopped")
            instance.task_state = DELETING
        entry_id, uuid = queued.id, instance.uuid
    # the build may have ended before our commit, and looked for a queued delete before it
    return entry_id, uuid, _create_ended(env, uuid) and take(env, uuid) == entry_id


def request_in_background(env: ComputeEnv, ctx: RequestContext, ref: str) -> bool:
    """``request`` for an API that answers at once (EC2's TerminateInstances, the Compute
    API's DELETE): a delete this request took is carried out on a worker thread. False when no
    create of the server runs (delete it as any server)."""
    queued = request(env, ctx, ref)
    if queued is None:
        return False
    entry_id, _uuid, now = queued
    if now:
        from kumo.compute import background

        background.carry_out_in_thread(env, entry_id)
    return True


def asked(payload: dict[str, Any]) -> bool:
    """True if the create entry whose payload this is was asked to stop by a queued delete
    (it is then not tried again on another host)."""
    return bool(payload.get(journal.STOP_REQUESTED))


def take(env: ComputeEnv, uuid: str) -> int | None:
    """Make this controller the owner of the server's queued delete, now in progress; its
    entry id, or None (none queued, or another controller took it first)."""
    entry_id = _queued(env, uuid)
    if entry_id is None:
        return None
    with env.db.session_scope() as s:
        won = s.execute(update(JournalEntry)
                        .where(JournalEntry.id == entry_id, JournalEntry.state == PENDING)
                        .values(state=IN_PROGRESS, owner=env.owner,
                                lease_expires_at=lease.expiry(env))
                        .execution_options(synchronize_session=False)).rowcount == 1
        if not won:
            return None
        s.execute(update(Instance).where(Instance.uuid == uuid)
                  .values(task_state=DELETING).execution_options(synchronize_session=False))
    env.keep_leases()
    return entry_id


def run_queued(env: ComputeEnv, uuid: str) -> bool:
    """After a build ended (however): carry out the server's queued delete, if any and if this
    controller takes it; True if it did."""
    from kumo.compute import teardown

    entry_id = take(env, uuid)
    if entry_id is None:
        return False
    log.info("carrying out the delete queued during the build", extra={"instance": uuid})
    teardown.run_delete(env, entry_id, uuid)
    return True


def _queued(env: ComputeEnv, uuid: str) -> int | None:
    """The server's queued delete's entry id (a read: most builds have none)."""
    with env.db.session_scope(readonly=True) as s:
        return s.scalar(select(JournalEntry.id).where(
            JournalEntry.instance_uuid == uuid, JournalEntry.operation == "delete",
            JournalEntry.state == PENDING).limit(1))


def _create_ended(env: ComputeEnv, uuid: str) -> bool:
    with env.db.session_scope(readonly=True) as s:
        return not any(e.operation == "create" for e in _unfinished(s, uuid))


def _unfinished(s: Session, uuid: str, lock: bool = False) -> list[Any]:
    stmt = select(JournalEntry).where(
        JournalEntry.instance_uuid == uuid,
        JournalEntry.state.in_(UNFINISHED_STATES)).order_by(JournalEntry.id)
    return list(s.scalars(stmt.with_for_update() if lock else stmt))
