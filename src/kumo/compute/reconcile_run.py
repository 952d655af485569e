"""Reconcile runs: ``kumo reconcile --apply`` and ``--revert RUN_ID``, journaled and resumable.

A run (kumo.db.models.ReconcileRun, its id the run id) is made with one item per selected
instance (pending), and its own journal entry (operation ``reconcile``, no instance), whose
owner and lease say which controller works on it (kumo.compute.lease). Then, item by item:

1. one unit of work: the instance's row locked and checked idle (servers.lock_idle: the same
   check and lock every lifecycle operation takes, so no start, stop, reboot, rebuild, delete,
   evacuate or set-property runs on it meanwhile, nor it during them), its frozen properties
   changed through the service layer (servers.change_properties: validated, references
   resolved, planned on its host, the machine type re-pinned when its family moved), a journal
   entry (operation ``reconcile``, step ``begin``) whose payload is the audit record
   set-property writes (who, keys set and unset, values before; when: its created_at) plus the
   run id, and the item (record before and after, the journal entry) -- all or nothing;
2. the domain: a stopped guest is redefined (step ``define``); a running one is hard-rebooted
   (``--reboot now``: kumo.compute.power's hard reboot, the regeneration every hard reboot
   does), or redefined with the instance marked ``pending_restart`` (``--reboot
   on-next-stop``: the next stop, reboot or hard reboot starts the guest from the new
   definition and clears the mark), or -- without --reboot -- left alone, item skipped.

Killed at any moment, nothing is lost or done twice: an instance whose unit of work did not
commit is still pending (the record unchanged); one that committed has its journal entry, which
recovery (kumo.compute.journal.recover, run first by every kumo command) finishes: the domain
defined again from the record (idempotent), a hard reboot finished. The run's own entry, its
controller dead, marks the run interrupted; the same ``kumo reconcile`` command (an equal
request) resumes it -- same run id, only the pending items -- and a re-run of a finished
request changes nothing (each instance already has what it asks: unchanged).

``--revert RUN_ID`` is a run of its own that gives each instance the run changed exactly the
record it had before (properties and pinned machine type), if it still has what the run gave it
(else skipped: someone changed it since), with the same domain handling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo import logs
from kumo.compute import journal, lease, naming, power, records, reconcile, spawn
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.failpoints import failpoint
from kumo.compute.reconcile import (HARD_REBOOT, RESTART_PENDING, SKIP, SKIP_REASON, Request,
                                    action_for, check_reboot)
from kumo.compute.selection import select_instances
from kumo.compute.states import REBOOTING_HARD
from kumo.db.base import new_uuid
from kumo.db.models import (UNFINISHED_STATES, ClockState, Host, Instance, ItemState,
                            JournalEntry, JournalState, ReconcileItem, ReconcileRun,
                            RunState)
from kumo.errors import HostUnreachable, KumoError, NotFound, StateError

log = logs.get(__name__)

OPERATION = "reconcile"


@dataclass(frozen=True)
class ItemReport:
    uuid: str
    name: str
    state: str
    detail: str | None
    #: the state of the journal entry that carried the change to the host (None: no change)
    journal_state: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.uuid, "name": self.name, "result": self.state,
                "detail": self.detail, "journal": self.journal_state}


@dataclass(frozen=True)
class RunReport:
    run_id: str
    state: str
    revert_of: str | None
    resumed: bool
    items: list[ItemReport]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item.state] = out.get(item.state, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """What ``kumo reconcile --apply|--revert|--show -f json`` prints and ``/kumo/v1``
        answers."""
        return {"run_id": self.run_id, "state": self.state, "revert_of": self.revert_of,
                "resumed": self.resumed, "items": [i.as_dict() for i in self.items]}


#: called after each item: (items done so far, items in the run)
Progress = Callable[[int, int], None]


class _Outcome(Exception):
    """An item ends without a change (its unit of work rolled back): state and detail."""

    def __init__(self, state: ItemState, detail: str | None):
        super().__init__(detail)
        self.state, self.detail = state, detail


# --- entry points --------------------------------------------------------------------------------

def apply(env: ComputeEnv, ctx: RequestContext, request: Request,
          progress: Progress | None = None) -> RunReport:
    """Carry ``request`` out as a run (module docstring): a new one, or the interrupted run of
    an equal request resumed. StateError when an equal request's run is in progress in a live
    controller."""
    ctx.require_admin("reconciling servers' image properties")
    request.check()
    spec = request.spec()

    def selected(s: Session) -> list[str]:
        return [i.uuid for i in select_instances(s, ctx, request.selection)]

    run_id, resumed = _open_run(env, ctx, spec, None, selected)
    return _run_items(env, ctx, run_id, request, None, resumed, progress)


def revert(env: ComputeEnv, ctx: RequestContext, run_id: str, reboot: str | None = None,
           progress: Progress | None = None) -> RunReport:
    """Undo run ``run_id``: each instance it changed gets back exactly the record it had before,
    as a run of its own (module docstring). ``reboot``: as --reboot for a running guest."""
    ctx.require_admin("reverting a reconcile run")
    check_reboot(reboot)
    request = Request(reboot=reboot)  # for a revert, only its reboot mode counts
    with env.db.session_scope(readonly=True) as s:
        original = _find_run(s, run_id)
        if original.state != RunState.DONE.value:
            raise StateError(f"reconcile run {run_id} is {original.state}: re-run it to finish "
                             "it before reverting it")
        done = s.scalar(select(ReconcileRun.id).where(
            ReconcileRun.revert_of == run_id, ReconcileRun.state == RunState.DONE.value))
        if done is not None:
            raise StateError(f"reconcile run {run_id} was already reverted by run {done}")

    def changed(s: Session) -> list[str]:
        return list(s.scalars(select(ReconcileItem.instance_uuid).where(
            ReconcileItem.run_id == run_id, ReconcileItem.state == ItemState.CHANGED.value)
            .order_by(ReconcileItem.position)))

    new_id, resumed = _open_run(env, ctx, {"revert_of": run_id, "reboot": reboot}, run_id,
                                changed)
    return _run_items(env, ctx, new_id, request, run_id, resumed, progress)


def show_run(env: ComputeEnv, ctx: RequestContext, run_id: str) -> RunReport:
    ctx.require_admin("reading a reconcile run")
    with env.db.session_scope(readonly=True) as s:
        return _report(s, _find_run(s, run_id), resumed=False)


# --- the run -------------------------------------------------------------------------------------

def _find_run(s: Session, run_id: str) -> ReconcileRun:
    run = s.get(ReconcileRun, run_id) if isinstance(run_id, str) else None
    if run is None:
        raise NotFound(f"reconcile run {run_id!r} not found")
    return run


def _open_run(env: ComputeEnv, ctx: RequestContext, spec: dict[str, Any],
              revert_of: str | None, selected: Callable[[Session], list[str]]
              ) -> tuple[str, bool]:
    """The run to work on and whether it is resumed: an unfinished run of an equal ``spec``
    whose controller is gone (taken over), else a new one with an item per instance
    ``selected`` gives."""
    with env.db.session_scope() as s:
        runs = s.scalars(select(ReconcileRun).where(
            ReconcileRun.state.in_((RunState.IN_PROGRESS.value, RunState.INTERRUPTED.value)),
            (ReconcileRun.revert_of == revert_of) if revert_of else
            ReconcileRun.revert_of.is_(None)).with_for_update())
        for run in runs:
            if dict(run.spec) != spec:
                continue
            entry = s.get(JournalEntry, run.journal_id) if run.journal_id else None
            if entry is not None and entry.state in UNFINISHED_STATES:
                if not lease.orphaned(env, entry):
                    raise StateError(
                        f"reconcile run {run.id} of this request is in progress (controller "
                        f"{entry.owner}, since {entry.created_at:%Y-%m-%d %H:%M:%S} UTC): "
                        "wait for it to finish")
                journal.finish(s, entry.id, JournalState.FAILED,
                               f"its controller ({entry.owner}) is gone: resumed by "
                               f"{env.owner}")
            run.state = RunState.IN_PROGRESS.value
            run.journal_id = journal.begin(s, env, ctx, OPERATION, None, "instances",
                                           run_id=run.id, resumed=True).id
            log.warning("resuming reconcile run %s", run.id,
                        extra={"request_id": ctx.request_id})
            return run.id, True
        run = ReconcileRun(id=new_uuid(), user_id=ctx.user_id, project_id=ctx.project_id,
                           request_id=ctx.request_id, spec=spec, revert_of=revert_of,
                           state=RunState.IN_PROGRESS.value)
        s.add(run)
        s.flush()
        for position, uuid in enumerate(selected(s)):
            s.add(ReconcileItem(run_id=run.id, instance_uuid=uuid, position=position))
        run.journal_id = journal.begin(s, env, ctx, OPERATION, None, "instances",
                                       run_id=run.id).id
        return run.id, False


def _run_items(env: ComputeEnv, ctx: RequestContext, run_id: str, request: Request,
               revert_of: str | None, resumed: bool, progress: Progress | None) -> RunReport:
    todo = ReconcileItem.state == ItemState.PENDING.value
    if request.sync_time:  # and the clocks a killed run did not get to (ClockState)
        todo = todo | ReconcileItem.clock.is_(None)
    with env.db.session_scope(readonly=True) as s:
        total = s.query(ReconcileItem).filter_by(run_id=run_id).count()
        pending = list(s.execute(select(ReconcileItem.id, ReconcileItem.state).where(
            ReconcileItem.run_id == run_id, todo).order_by(ReconcileItem.position)))
    done = total - len(pending)
    for item_id, state in pending:
        if state == ItemState.PENDING.value:
            _apply_item(env, ctx, run_id, item_id, request, revert_of)
        else:  # its record was done when the run was killed; its clock was not
            sync_time(env, ctx, run_id, item_id)
        done += 1
        if progress is not None:
            progress(done, total)
    with env.db.session_scope() as s:
        run = s.get_one(ReconcileRun, run_id)
        run.state = RunState.DONE.value
        if run.journal_id is not None:
            journal.finish(s, run.journal_id, JournalState.DONE)
    with env.db.session_scope(readonly=True) as s:
        return _report(s, s.get_one(ReconcileRun, run_id), resumed)


def _report(s: Session, run: ReconcileRun, resumed: bool) -> RunReport:
    rows = s.execute(
        select(ReconcileItem, Instance.name, JournalEntry.state)
        .outerjoin(Instance, Instance.uuid == ReconcileItem.instance_uuid)
        .outerjoin(JournalEntry, JournalEntry.id == ReconcileItem.journal_id)
        .where(ReconcileItem.run_id == run.id).order_by(ReconcileItem.position)).all()
    items = [ItemReport(item.instance_uuid, name or "", item.state, item.detail, jstate)
             for item, name, jstate in rows]
    return RunReport(run.id, run.state, run.revert_of, resumed, items)


# --- one instance --------------------------------------------------------------------------------

def _apply_item(env: ComputeEnv, ctx: RequestContext, run_id: str, item_id: int,
                request: Request, revert_of: str | None) -> None:
    if request.changes_properties() or revert_of is not None:
        try:
            entry_id, uuid, action = _change_record(env, ctx, run_id, item_id, request,
                                                    revert_of)
        except _Outcome as outcome:  # the unit of work rolled back: record the item's end
            _end_item(env, item_id, outcome.state, outcome.detail)
        else:
            failpoint("reconcile:after-record")
            try:
                carry_out(env, entry_id, uuid, action, run_id, item_id)
            except KumoError as e:  # recorded on the instance and the journal entry; go on
                log.warning("reconcile of server %s: %s", uuid, e,
                            extra={"request_id": ctx.request_id, "instance": uuid})
    else:
        _end_item(env, item_id, ItemState.UNCHANGED, None)
    if request.sync_time:
        sync_time(env, ctx, run_id, item_id)


def _end_item(env: ComputeEnv, item_id: int, state: ItemState, detail: str | None) -> None:
    with env.db.session_scope() as s:
        item = s.get_one(ReconcileItem, item_id)
        item.state, item.detail = state.value, detail


def sync_time(env: ComputeEnv, ctx: RequestContext, run_id: str, item_id: int) -> None:
    """--sync-time for one item: a running guest's clock set from the host's UTC clock through
    its guest agent (as oVirt does after a resume), journaled (operation ``sync-time``, the
    offset it had) under the instance's busy check; what happened is added to the item's
    detail and its ``clock`` (ClockState). A guest whose agent does not answer keeps its clock
    and its state: the entry fails with the agent's error, the instance is not put in ERROR for
    it. Killed at any moment it resumes: an item whose clock was not looked at is done by the
    resumed run; an open entry is finished by recovery (``recover_sync_time``), setting the
    clock again -- from the host's clock, so setting it twice is harmless -- and each item's
    clock is set under exactly one entry."""
    from kumo.compute.servers import lock_idle

    failpoint("sync-time:before")
    with env.db.session_scope() as s:
        item = s.get_one(ReconcileItem, item_id)
        if item.clock is not None:
            return  # done, or its open entry is recovery's
        try:
            instance = lock_idle(s, ctx, item.instance_uuid)
        except (NotFound, StateError) as e:
            _clock_done(item, False, f"clock not set: {e}")
            return
        host = s.get(Host, instance.host_id) if instance.host_id else None
        if host is None or not reconcile.running(instance):
            _clock_done(item, False, "clock not set: the guest is not running")
            return
        entry_id = journal.begin(s, env, ctx, "sync-time", instance.uuid, "read",
                                 run_id=run_id).id
        item.clock = ClockState.IN_PROGRESS.value
        uri, name = host.uri, naming.domain_name(instance.uuid)
    failpoint("sync-time:after-begin")
    try:
        conn = env.host(uri)
        offset = reconcile.guest_offset(conn, name)
        journal.advance(env, entry_id, "set", offset_s=round(offset, 3))
        failpoint("sync-time:before-set")
        conn.set_guest_time(name)
    except KumoError as e:
        _finish_sync(env, entry_id, item_id, None, e)
        return
    failpoint("sync-time:after-set")
    _finish_sync(env, entry_id, item_id, offset, None)


def _finish_sync(env: ComputeEnv, entry_id: int, item_id: int | None, offset: float | None,
                 error: KumoError | None) -> str:
    """End a sync-time entry and its item: the clock set (it was ``offset`` s off), or not
    (``error``). Returns the item's words for it."""
    with env.db.session_scope() as s:
        if error is None:
            assert offset is not None
            outcome = f"clock set from the host's (it was {offset:+.0f} s off)"
            journal.finish(s, entry_id, JournalState.DONE)
        else:
            outcome = f"clock not set: {error}"
            journal.finish(s, entry_id, JournalState.FAILED, str(error))
        if item_id is not None:
            _clock_done(s.get_one(ReconcileItem, item_id), error is None, outcome)
    return outcome


def _clock_done(item: ReconcileItem, set_: bool, text: str) -> None:
    item.clock = (ClockState.SET if set_ else ClockState.NOT_SET).value
    _add_detail(item, text)


def _add_detail(item: ReconcileItem, text: str) -> None:
    item.detail = f"{item.detail}; {text}" if item.detail else text


def recover_sync_time(env: ComputeEnv, entry: JournalEntry) -> str:
    """Journal recovery of ``sync-time`` (kumo.compute.journal.RECOVERERS): whether the clock
    was set before the controller stopped is not known, so it is set again -- from the host's
    clock, so twice is harmless -- if the guest still runs; the offset reported is the one the
    entry recorded before setting it (else read now). HostUnreachable is raised: the journal
    tries again on the next start."""
    with env.db.session_scope(readonly=True) as s:
        instance = s.query(Instance).filter_by(uuid=entry.instance_uuid).one_or_none()
        host = s.get(Host, instance.host_id) if instance and instance.host_id else None
        item_id = s.scalar(select(ReconcileItem.id).where(
            ReconcileItem.run_id == entry.payload.get("run_id", ""),
            ReconcileItem.instance_uuid == entry.instance_uuid))
        uri = host.uri if host is not None else None
        running = instance is not None and not instance.deleted and reconcile.running(instance)
    lead = "setting the guest clock was interrupted (the controller stopped): "
    if uri is None or not running:
        error = StateError("the guest is not running")
        return lead + _finish_sync(env, entry.id, item_id, None, error)
    name = naming.domain_name(entry.instance_uuid or "")
    offset = entry.payload.get("offset_s")
    try:
        conn = env.host(uri)
        if offset is None:
            offset = reconcile.guest_offset(conn, name)
        conn.set_guest_time(name)
    except HostUnreachable:
        raise
    except KumoError as e:
        return lead + _finish_sync(env, entry.id, item_id, None, e)
    with env.db.session_scope() as s:
        journal.record(s, entry.id, offset_s=round(offset, 3))
    return lead + _finish_sync(env, entry.id, item_id, offset, None)


def _change_record(env: ComputeEnv, ctx: RequestContext, run_id: str, item_id: int,
                   request: Request, revert_of: str | None) -> tuple[int, str, str]:
    """Step 1 of the module docstring; (journal entry id, instance uuid, action), or _Outcome
    when nothing changes."""
    from kumo.compute.servers import REPIN, change_properties, lock_idle

    with env.db.session_scope() as s:
        item = s.get_one(ReconcileItem, item_id)
        try:
            instance = lock_idle(s, ctx, item.instance_uuid)
        except NotFound:
            raise _Outcome(ItemState.SKIPPED, "deleted since the run began") from None
        except StateError as e:
            raise _Outcome(ItemState.SKIPPED, str(e)) from None
        if instance.host_id is None:
            raise _Outcome(ItemState.SKIPPED, "on no host (its build failed): delete it")
        before, machine_before = dict(instance.image_properties or {}), instance.machine_type
        machine: object = REPIN
        try:
            if revert_of is not None:
                target, machine = _revert_target(s, revert_of, instance)
            else:
                target = reconcile.target_properties(s, ctx, request, instance)
        except KumoError as e:
            raise _Outcome(ItemState.FAILED, str(e)) from None
        if target == before and machine in (REPIN, machine_before):
            raise _Outcome(ItemState.UNCHANGED, None)
        action = action_for(instance, request.reboot, True)
        if action == SKIP:
            raise _Outcome(ItemState.SKIPPED, SKIP_REASON)
        try:
            change = change_properties(
                s, env, ctx, instance, target, f"server {instance.name!r}",
                repin=before.get("hw_machine_type") != target.get("hw_machine_type"),
                machine=machine)
        except KumoError as e:
            raise _Outcome(ItemState.FAILED, str(e)) from None
        set_keys = [k for k in change.after if before.get(k) != change.after[k]]
        unset_keys = [k for k in before if k not in change.after]
        extra = {"revert_of": revert_of} if revert_of else {}
        entry = journal.begin(s, env, ctx, OPERATION, instance.uuid, "begin", run_id=run_id,
                              action=action, **extra,
                              **change.audit(ctx, set_keys, unset_keys))
        if action == HARD_REBOOT:
            instance.task_state = REBOOTING_HARD
        item.state, item.detail, item.journal_id = ItemState.CHANGED.value, action, entry.id
        item.before, item.after = change.before, change.after
        item.machine_before, item.machine_after = change.machine_before, change.machine_after
        return entry.id, instance.uuid, action


def _revert_target(s: Session, revert_of: str, instance: Instance
                   ) -> tuple[dict[str, str], str | None]:
    """The record run ``revert_of`` found on ``instance`` (properties, pinned machine type),
    if the instance still has what the run gave it; else _Outcome skipped."""
    original = s.scalars(select(ReconcileItem).where(
        ReconcileItem.run_id == revert_of,
        ReconcileItem.instance_uuid == instance.uuid)).one()
    now = dict(instance.image_properties or {})
    if now != dict(original.after or {}) or instance.machine_type != original.machine_after:
        raise _Outcome(ItemState.SKIPPED, f"changed since run {revert_of}: its record is not "
                                          "what that run made it, so it is left as it is")
    return dict(original.before or {}), original.machine_before


def carry_out(env: ComputeEnv, entry_id: int, uuid: str, action: str, run_id: str,
              item_id: int | None) -> None:
    """Step 2 of the module docstring, for a change recorded under journal entry
    ``entry_id``."""
    if action == HARD_REBOOT:
        power.run(env, entry_id, uuid, "reboot-hard")  # a failure: ERROR with the reason
        return
    _redefine(env, entry_id, uuid, run_id if action == RESTART_PENDING else None, item_id)


def _redefine(env: ComputeEnv, entry_id: int, uuid: str, pending: str | None,
              item_id: int | None) -> None:
    """Define the domain again from the (changed) record. A host that refuses the new
    definition gets nothing: the record is given back its values before (journal entry rolled
    back, item failed with the host's answer). A host that does not answer leaves the entry to
    recovery."""
    instance, host = records.load(env, uuid)
    assert host is not None
    conn = env.host(host.uri)
    xml, digest, backend = spawn.render(env, instance, host)
    journal.advance(env, entry_id, "define", digest=digest)
    try:
        conn.define(xml)
    except HostUnreachable:
        raise
    except KumoError as e:
        _give_back(env, entry_id, uuid, item_id, f"host {host.name} refused the new "
                                                 f"definition: {e}; the record is as before")
        raise
    failpoint("reconcile:after-define")
    records.save(env, uuid, entry_id=entry_id, entry_state=JournalState.DONE,
                 contacted=host.id, config_digest=digest, backend=backend,
                 pending_restart=pending, task_state=None)


def _give_back(env: ComputeEnv, entry_id: int, uuid: str, item_id: int | None,
               reason: str) -> None:
    with env.db.session_scope() as s:
        instance = s.query(Instance).filter_by(uuid=uuid).with_for_update().one()
        entry = s.get_one(JournalEntry, entry_id)
        before = dict(entry.payload.get("before", {}))
        props = dict(instance.image_properties or {})
        for key, value in before.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
        instance.image_properties = props
        machine = entry.payload.get("machine_type")
        if machine:
            instance.machine_type = machine["before"]
        instance.task_state = None
        journal.finish(s, entry_id, JournalState.ROLLED_BACK, reason)
        if item_id is not None:
            item = s.get_one(ReconcileItem, item_id)
            item.state, item.detail = ItemState.FAILED.value, reason


# --- recovery ------------------------------------------------------------------------------------

def recover_reconcile(env: ComputeEnv, entry: JournalEntry) -> str:
    """Journal recovery of operation ``reconcile`` (kumo.compute.journal.RECOVERERS): a run's
    own entry marks the run interrupted (the same command resumes it); an instance's entry is
    finished from the record, which already holds the change."""
    payload: Mapping[str, Any] = entry.payload
    run_id = payload.get("run_id", "")
    if entry.instance_uuid is None:
        with env.db.session_scope() as s:
            run = s.get(ReconcileRun, run_id)
            left = s.query(ReconcileItem).filter_by(run_id=run_id,
                                                    state=ItemState.PENDING.value).count()
            reason = (f"reconcile run {run_id} was interrupted with {left} server(s) still to "
                      "do: run the same kumo reconcile command again to resume it")
            if run is not None and run.state == RunState.IN_PROGRESS.value:
                run.state = RunState.INTERRUPTED.value
            journal.finish(s, entry.id, JournalState.FAILED, reason)
        return reason
    uuid, action, step = entry.instance_uuid, payload.get("action"), entry.step
    if action == HARD_REBOOT:
        if step in ("begin", "destroy", "upload"):
            power.run(env, entry.id, uuid, "reboot-hard")
        else:
            _instance, host = records.load(env, uuid)
            assert host is not None
            spawn.define_and_start(env, env.host(host.uri), entry.id, uuid, "reboot-hard")
        return (f"reconcile (run {run_id}) interrupted at step {step}: hard reboot finished, "
                "server ACTIVE")
    with env.db.session_scope(readonly=True) as s:
        item_id = s.scalar(select(ReconcileItem.id).where(ReconcileItem.journal_id == entry.id))
    try:
        _redefine(env, entry.id, uuid, run_id if action == RESTART_PENDING else None, item_id)
    except HostUnreachable:
        raise  # journal.recover tries again on the next start
    except KumoError as e:  # _redefine gave the record back
        return (f"reconcile (run {run_id}) interrupted at step {step}: the host refused the "
                f"new definition ({e}); the record is as before")
    return f"reconcile (run {run_id}) interrupted at step {step}: domain defined again"

