"""Create on the scheduler's alternates: a host that refuses the guest is not the end of it.

The scheduler keeps, with each placement, the next-best hosts that passed every filter
(``Placement.alternates``; ``SchedulerConfig.alternates``, default 2 -- Nova's
``[scheduler]max_attempts`` of 3, whose scheduler returns alternates with each selection so the
conductor can reschedule a failed build without asking it again). When the chosen host fails at
``define`` or ``start`` (libvirt or QEMU refuses the guest, QEMU dies starting it), the build is
rolled back there as before (domain and volumes removed, claim released, journal entry
ROLLED_BACK with the error), then the next alternate is claimed through the scheduler -- its
filters run again on that host, as things may have changed -- and the build starts over there
under a new create journal entry naming the attempt and the failures before it (committed with
the claim: a controller killed in between leaves a create recovery rolls back, never a claim
nothing holds). Failures at
earlier steps (the image upload, the volumes) and a rollback that could not clean its host end the
create as before: they say more about that host's storage than about the guest.

The server ends ERROR only when every alternate failed or none could take it; its fault then
names each host tried and why it failed ("create failed on 3 hosts: kvm-1: ...; kvm-2: ...").
A create that succeeds on an alternate is ACTIVE; the journal keeps every attempt.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo import logs
from kumo.compute import (domain_config, heartbeat, ipam, journal, pending_delete, records,
                          spawn)
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.states import BUILDING, DELETING, SPAWNING, clear_fault
from kumo.db.models import Host, Instance, JournalState, PowerState
from kumo.errors import KumoError, NotFound
from kumo.scheduler import service as scheduler
from kumo.scheduler.errors import NoValidHost

log = logs.get(__name__)

#: steps at which a failure moves the build to the next alternate
RESCHEDULE_STEPS = ("define", "start")
#: create-entry payload kept by the next attempt (an evacuated stopped server stays stopped;
#: a password the caller was shown stays shown)
CARRIED = (spawn.KEEP_STOPPED, spawn.PASSWORD_SHOWN)


def build(env: ComputeEnv, ctx: RequestContext, entry_id: int, uuid: str) -> str | None:
    """spawn.run_create on the recorded host, then on each alternate in turn while the host
    refuses the guest at define/start; the Windows admin password (or None). Raises the last
    host's error when no attempt succeeds (the server ERROR, its fault naming every host)."""
    try:
        return _build(env, ctx, entry_id, uuid)
    finally:  # a delete queued while it built (kumo.compute.pending_delete), however it ended
        pending_delete.run_queued(env, uuid)


def _build(env: ComputeEnv, ctx: RequestContext, entry_id: int, uuid: str) -> str | None:
    failures: list[str] = []
    while True:
        try:
            return spawn.run_create(env, entry_id, uuid)
        except KumoError as e:
            _, state, payload = journal.snapshot(env, entry_id)
            failures.append(f"{payload.get('host', '?')}: {e}")
            # deleted meanwhile (the attempt was asked to stop): no other host is tried
            retry = (state == JournalState.ROLLED_BACK.value
                     and payload.get("failed_at") in RESCHEDULE_STEPS
                     and not pending_delete.asked(payload))
            alternates = list(payload.get("alternates") or ()) if retry else []
            carried = {k: payload[k] for k in CARRIED if k in payload}
            next_entry = (_next_attempt(env, ctx, uuid, alternates, failures, carried)
                          if retry else None)
            if next_entry is None:
                if len(failures) > 1:
                    fault = (f"create failed on {len(failures)} hosts: " + "; ".join(failures))
                    records.save(env, uuid, fault=fault)
                if state == JournalState.ROLLED_BACK.value:  # off every host: no address kept
                    ipam.release(env, uuid)
                raise
            entry_id = next_entry


def _next_attempt(env: ComputeEnv, ctx: RequestContext, uuid: str, alternates: list[str],
                  failures: list[str], carried: dict[str, Any]) -> int | None:
    """Claim the first alternate that still takes the instance, recording the instance on it
    (BUILDING/spawning, a new create entry at step claimed) in the claim's own transaction (as
    servers.schedule_and_record does: no claim is held by nothing, whenever the controller
    dies); its entry id, or None."""
    instance, _ = records.load(env, uuid)
    spec = scheduler.request_spec_for_instance(instance)
    config = scheduler.load_config(settings=env.settings)
    while alternates:
        name = alternates.pop(0)
        entry_ids: list[int] = []

        def record(s: Session, claim: Any) -> None:
            entry_ids.append(_record_attempt(s, env, ctx, uuid, claim.host, alternates,
                                             failures, carried))
        try:
            scheduler.place(env.db, spec, config, hosts=[name], record=record)
        except (NoValidHost, NotFound) as e:
            failures.append(f"{name}: not tried ({e})")
            continue
        [entry_id] = entry_ids
        try:
            _check_attempt(env, uuid)
        except Exception as e:
            _withdraw_attempt(env, uuid, entry_id, f"create failed: {e}")
            failures.append(f"{name}: {e}")
            continue
        return entry_id
    return None


def _record_attempt(s: Session, env: ComputeEnv, ctx: RequestContext, uuid: str,
                    host_name: str, alternates: list[str], failures: list[str],
                    carried: dict[str, Any]) -> int:
    host = s.scalars(select(Host).where(Host.name == host_name)).one()
    # locked, as a delete locks it (servers.lock_idle): a delete that came between the failed
    # attempt's rollback (the server idle in ERROR) and this claim is seen here, and no other
    # host is tried -- never a deleted server built again, holding a claim
    row = s.scalars(select(Instance).where(Instance.uuid == uuid).with_for_update()).one()
    if row.deleted or row.task_state == DELETING:
        raise journal.Stopped("the server was deleted while it was being built; build stopped "
                              "before trying another host")
    row.host_id, row.node = host.id, host.name
    row.vm_state, row.task_state = BUILDING, SPAWNING
    clear_fault(row)
    return journal.begin(s, env, ctx, "create", uuid, "claimed", host_id=host.id,
                         host=host.name, alternates=list(alternates),
                         attempt=len(failures) + 1, previous_failures=list(failures),
                         **carried).id


def _check_attempt(env: ComputeEnv, uuid: str) -> None:
    """What building it there would refuse, and that the host answers (its heartbeat then)."""
    instance, host = records.load(env, uuid)
    assert host is not None
    domain_config.desired(env, instance, host)
    env.host(host.uri).node_info()  # HostUnreachable before anything is done there
    heartbeat.beat(env, host.id)


def _withdraw_attempt(env: ComputeEnv, uuid: str, entry_id: int, reason: str) -> None:
    """The alternate refused before anything was done on it: claim released, the instance
    ERROR on no host again, the attempt's entry rolled back -- one unit of work."""
    records.save(env, uuid, entry_id=entry_id, entry_state=JournalState.ROLLED_BACK,
                 error=reason, fault=reason, release_claim=True,
                 power_state=PowerState.NOSTATE.value)


def build_in_background(env: ComputeEnv, ctx: RequestContext, entry_id: int, uuid: str) -> None:
    """``build`` on a worker thread, as Nova's conductor builds after the API answered (the
    Compute API's and the EC2 API's create): a failure is recorded on the server (ERROR, its
    fault) by the build itself and logged here."""
    import threading

    def run() -> None:
        try:
            build(env, ctx, entry_id, uuid)
        except KumoError as e:
            log.warning("build of server %s failed: %s", uuid, e)

    threading.Thread(target=run, name=f"build-{uuid[:8]}", daemon=True).start()
