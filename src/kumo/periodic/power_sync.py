"""Power-state sync: the record follows what each host reports (Nova's _sync_power_states).

Every ``sync_power_state_interval`` seconds each host with live instances is asked for all its
domains' states in one listing. For each instance that is idle (no task, no unfinished journal
entry: an operation in flight owns its instance's state):

    record ACTIVE, guest shut off or crashed  -> STOPPED (SHUTOFF) with the power state seen,
                                                 as Nova's sync calls the stop API; with
                                                 ``sync_power_state_restart`` the guest is then
                                                 started again (a journaled start)
    record ACTIVE, domain gone from the host   -> ERROR with that fault: hard-reboot defines it
                                                 again (Nova leaves such an instance; kumo says so)
    record STOPPED, guest running              -> ACTIVE (someone started it outside kumo; Nova
                                                 would stop it, kumo records what runs and
                                                 destroys nothing)
    anything else                              -> only power_state follows the host, no event

Each correction is an instance event (kumo.compute.journal.event) saying what was seen, libvirt's
reason (destroyed from the host, shut down by the guest, crashed...) and when, and a log line.
A host that does not answer changes no instance: it is logged and skipped (host liveness marks
it down). The instance's row is re-read in the unit of work that corrects it, so an operation
begun meanwhile wins.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from kumo import logs
from kumo.compute import heartbeat, journal, naming
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.compute.states import ACTIVE, STOPPED, now, set_fault
from kumo.db.models import UNFINISHED_STATES, Host, Instance, JournalEntry, PowerState
from kumo.errors import HostError, KumoError
from kumo.hosts.protocol import DomainState, DomainStatus
from kumo.periodic import Outcome

NAME = "power-sync"
EVENT = "power-state-sync"

log = logs.get(__name__)

#: libvirt domain state -> Nova power state
POWER = {
    DomainState.NOSTATE: PowerState.NOSTATE, DomainState.RUNNING: PowerState.RUNNING,
    DomainState.BLOCKED: PowerState.RUNNING, DomainState.PAUSED: PowerState.PAUSED,
    DomainState.SHUTDOWN: PowerState.RUNNING,  # still shutting down: running until it is off
    DomainState.SHUTOFF: PowerState.SHUTDOWN, DomainState.CRASHED: PowerState.CRASHED,
    DomainState.PMSUSPENDED: PowerState.SUSPENDED, DomainState.UNKNOWN: PowerState.NOSTATE,
}
_OFF = (PowerState.SHUTDOWN, PowerState.CRASHED)


def run(env: ComputeEnv, at: datetime | None = None) -> Outcome:
    with env.db.session_scope(readonly=True) as s:
        rows = s.execute(select(Instance.uuid, Instance.vm_state, Instance.power_state,
                                Instance.task_state, Host.id, Host.name, Host.uri)
                         .join(Host, Instance.host_id == Host.id)
                         .where(Instance.deleted.is_(False))
                         .order_by(Host.name, Instance.id)).all()
    by_host: dict[tuple[int, str, str], list[tuple[str, str, int, str | None]]] = (
        defaultdict(list))
    for uuid, vm_state, power_state, task_state, host_id, name, uri in rows:
        by_host[(host_id, name, uri)].append((uuid, vm_state, power_state, task_state))
    out = Outcome("")
    silent = 0
    restart: list[str] = []
    for (host_id, name, uri), uuids in by_host.items():
        with logs.log_context(host=name):
            try:
                states = env.host(uri).domain_states()
            except HostError as e:
                env.forget_host(uri)
                silent += 1
                log.warning("host %s did not answer; its %d instance(s) left as recorded: %s",
                            name, len(uuids), e)
                continue
            seen_at = at or now()
            with env.db.session_scope() as s:
                heartbeat.touch(s, [host_id], seen_at)
            for uuid, vm_state, power_state, task_state in uuids:
                seen = states.get(naming.domain_name(uuid))
                if task_state is not None or not _differs(vm_state, power_state, seen):
                    continue  # busy, or the record already says what the host does
                kind = _sync_one(env, uuid, host_id, name, seen, seen_at)
                if kind:
                    out.count(kind)
                    if kind == "shut-off" and env.settings.sync_power_state_restart:
                        restart.append(uuid)
    for uuid in restart:
        _restart(env, uuid)
    fixed = sum(out.corrections.values())
    out.summary = (f"{len(rows)} instance(s) on {len(by_host)} host(s): {fixed} corrected"
                   + (f", {silent} host(s) did not answer" if silent else ""))
    return out


def _differs(vm_state: str, power_state: int, seen: DomainStatus | None) -> bool:
    """True if the record and what the host reported disagree (a look in a unit of work is
    needed); the steady state -- every record right -- costs no write at all."""
    power = POWER[seen.state] if seen else PowerState.NOSTATE
    return power.value != power_state or (vm_state == ACTIVE and (seen is None or power in _OFF))


def _sync_one(env: ComputeEnv, uuid: str, host_id: int, host_name: str,
              seen: DomainStatus | None, at: datetime) -> str | None:
    """Correct one instance's record from what its host reported; the kind of correction."""
    domain = naming.domain_name(uuid)
    power = POWER[seen.state] if seen else PowerState.NOSTATE
    with env.db.session_scope() as s:
        instance = s.scalars(select(Instance).where(Instance.uuid == uuid)).one_or_none()
        if instance is None or instance.deleted or instance.host_id != host_id:
            return None
        busy = s.scalar(select(JournalEntry.id).where(
            JournalEntry.instance_uuid == uuid,
            JournalEntry.state.in_(UNFINISHED_STATES)).limit(1))
        if instance.task_state is not None or busy is not None:
            return None  # an operation owns the state now
        when = at.isoformat(timespec="seconds")
        kind, message = None, None
        if instance.vm_state == ACTIVE and seen is None:
            kind = "vanished"
            message = (f"domain {domain} was not found on host {host_name} at {when} (removed "
                       "outside kumo); recorded ERROR: hard-reboot the server to define it "
                       "again")
            set_fault(instance, message)
        elif instance.vm_state == ACTIVE and power in _OFF:
            kind = "shut-off"
            message = (f"domain {domain} found {seen.state.value} on host {host_name} at "
                       f"{when}: {seen.reason or 'reason unknown'}; recorded SHUTOFF")
            instance.vm_state = STOPPED
        elif instance.vm_state == STOPPED and power == PowerState.RUNNING:
            kind = "running"
            message = (f"domain {domain} found running on host {host_name} at {when} (started "
                       "outside kumo); recorded ACTIVE")
            instance.vm_state = ACTIVE
        if instance.power_state != power.value:
            instance.power_state = power.value
        if kind is None:
            return None
        journal.event(s, env, uuid, EVENT, message, seen=seen.state.value if seen else None,
                      reason=seen.reason if seen else None, seen_at=at.isoformat(),
                      host=host_name, recorded=instance.vm_state)
    return kind


def _restart(env: ComputeEnv, uuid: str) -> None:
    """sync_power_state_restart: start the guest again, journaled like a user's start."""
    from kumo.compute import servers

    try:
        servers.start_server(env, admin_context(), uuid)
        log.warning("restarted server %s as configured (sync_power_state_restart)", uuid,
                    extra={"instance": uuid})
    except KumoError as e:
        log.error("restarting server %s failed: %s", uuid, e, extra={"instance": uuid})

