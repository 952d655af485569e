"""Audit of one host, on its one connection: checks ``config`` and ``record``.

config  for each instance whose domain is there, the configuration kumo's rules give it
        (kumo.audit.expected) vs the domain XML the host has, parsed with the renderer's mapping
        (kumo.compute.domain_config.live): for a running guest both its running configuration
        and its defined one (what its next start gets; a ``virsh edit`` changes only that), a
        difference in both reported once.
clock   for a running guest with the guest agent, its own clock vs the host's UTC clock
        (kumo.audit.clock).
record  the record vs the host: the domain gone (error: the server cannot start), the power
        state not the recorded one; on a whole-host audit, domains marked as this installation's
        (<kumo:instance>, kumo.backends.libvirt_xml.metadata) that no live record places here:
        no record at all (orphan) or a record on another host (a stale copy, e.g. left by an
        evacuation). A domain marked by another installation, or not marked, is not ours and is
        never reported.

An instance an operation is working on is skipped (info): its state is the operation's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kumo.audit import clock
from kumo.audit.domain_diff import Difference
from kumo.audit.expected import Expected
from kumo.audit.findings import Finding
from kumo.backends.libvirt_xml import Domain
from kumo.compute import naming
from kumo.compute.states import ACTIVE, STOPPED
from kumo.db.models import Host, Instance
from kumo.errors import DomainNotFound, HostError, KumoError
from kumo.hosts.protocol import DomainState, DomainStatus, HostConnection

_RUNNING = (DomainState.RUNNING, DomainState.BLOCKED, DomainState.PAUSED, DomainState.SHUTDOWN,
            DomainState.PMSUSPENDED)
_OFF = (DomainState.SHUTOFF, DomainState.CRASHED)


@dataclass
class HostJob:
    """One host's share of an audit."""

    host: Host
    instances: list[Instance]
    busy: dict[str, str]
    installation: str
    #: every live instance uuid -> its host id; None: no orphan check (not a whole-host audit)
    placed: dict[str, int | None] | None
    #: read the clock of running guests that have the guest agent (kumo.audit.clock)
    guest_clock: bool = True


def audit_host(env_host: Callable[[str], HostConnection], forget: Callable[[str], None],
               exp: Expected, job: HostJob,
               advance: Callable[[int], None] = lambda n: None) -> list[Finding]:
    host = job.host
    try:
        conn = env_host(host.uri)
        states = conn.domain_states()
    except HostError as e:
        forget(host.uri)
        advance(len(job.instances))
        n = len(job.instances)
        return [Finding("host-unreachable", "error", "record",
                        f"host {host.name} did not answer: its {n} instance"
                        f"{' was' if n == 1 else 's were'} not audited ({e})",
                        f"kumo host show {host.name}; audit again when it answers",
                        host=host.name)]
    out: list[Finding] = []
    for instance in job.instances:
        try:
            out += _instance(conn, exp, host, instance, states, job.busy.get(instance.uuid))
            seen = states.get(naming.domain_name(instance.uuid))
            if (job.guest_clock and instance.uuid not in job.busy and seen is not None
                    and seen.state == DomainState.RUNNING and clock.wants_agent(instance)):
                out += clock.check(conn, instance, host, naming.domain_name(instance.uuid))
        except HostError as e:
            out.append(_finding(instance, host, "host-error", "error", "config",
                                f"reading domain {naming.domain_name(instance.uuid)} failed: "
                                f"{e}", "audit again; kumo host show " + host.name))
        advance(1)
    if job.placed is not None:
        out += _not_ours(conn, host, job, states)
    return out


def _finding(instance: Instance, host: Host, id: str, severity: str, kind: str, message: str,
             fix: str) -> Finding:
    return Finding(id, severity, kind, message, fix, instance.uuid, instance.name, host.name,
                   instance.project_id)


def _instance(conn: HostConnection, exp: Expected, host: Host, instance: Instance,
              states: dict[str, DomainStatus], busy: str | None) -> list[Finding]:
    name = naming.domain_name(instance.uuid)
    if busy is not None:
        return [_finding(instance, host, "busy", "info", "record",
                         f"operation {busy} is in progress on it: not audited",
                         "audit again when it is done")]
    seen = states.get(name)
    out = _record(instance, host, name, seen)
    if seen is None:
        return out
    try:
        want = exp.facets(instance, host)
    except KumoError as e:
        return out + [_finding(instance, host, "rules-refuse", "error", "config",
                               f"today's rules cannot build this guest on host {host.name}: "
                               f"{e}: its next hard reboot would fail",
                               f"kumo server set-property {instance.uuid} ... (see kumo lint "
                               f"--host {host.name})")]
    if want is None:  # not a libvirt guest (Hyper-V): no domain XML to compare
        return out
    return out + _config(conn, exp, host, instance, name, want,
                         running=seen.state in _RUNNING)


def _record(instance: Instance, host: Host, name: str,
            seen: DomainStatus | None) -> list[Finding]:
    recorded = instance.vm_state
    if recorded not in (ACTIVE, STOPPED):
        return []  # building, error, ...: the record already says it is not a working guest
    if seen is None:
        return [_finding(instance, host, "domain-missing", "error", "record",
                         f"domain {name} is not on host {host.name} (recorded {recorded}): "
                         "the server cannot start",
                         f"kumo server reboot {instance.uuid} --hard (defines it again)")]
    state = seen.state
    for vm_state, states, shown, consequence, command, corrected in _POWER:
        if recorded == vm_state and state in states:
            why = f" ({seen.reason})" if seen.reason else ""
            return [_finding(instance, host, "power-state", "warning", "record",
                             f"recorded {shown}, but the guest is {state.value}{why}: "
                             f"{consequence}",
                             f"kumo server {command} {instance.uuid} (kumo serve's power sync "
                             f"records it {corrected})")]
    return []


#: (recorded vm_state, host states that contradict it, the record in words, consequence, the
#: command that makes the guest what the record says, what power sync records instead)
_POWER = (
    (ACTIVE, _OFF, "ACTIVE", "the server is down while kumo reports it running", "start",
     "SHUTOFF"),
    (STOPPED, _RUNNING, "SHUTOFF", "it uses the host's CPU and memory while kumo reports it "
     "stopped", "stop", "ACTIVE"),
)


def _config(conn: HostConnection, exp: Expected, host: Host, instance: Instance, name: str,
            want, *, running: bool) -> list[Finding]:
    try:
        defined = exp.live_facets(host, instance.uuid, conn.domain_xml(name, inactive=True))
        live = (exp.live_facets(host, instance.uuid, conn.domain_xml(name)) if running
                else None)
    except DomainNotFound:
        return []  # undefined since the listing: the next audit says it is gone
    except KumoError as e:
        if isinstance(e, HostError):
            raise
        return [_finding(instance, host, "unreadable-xml", "error", "config",
                         f"the domain XML of {name} cannot be read: {e}",
                         f"kumo server reboot {instance.uuid} --hard")]
    in_defined = exp.compare(want, defined)
    in_live = exp.compare(want, live, running=True) if live is not None else []
    fix = (f"kumo reconcile --instance {instance.uuid} --apply --reboot now (or kumo server "
           f"reboot {instance.uuid} --hard): the domain is defined again from its record")
    out = []
    both = [d for d in in_defined if d in in_live]
    for d, where in ([(d, "") for d in both]
                     + [(d, "defined configuration (the guest's next start): ")
                        for d in in_defined if d not in both and live is not None]
                     + [(d, "") for d in in_defined if live is None]
                     + [(d, "running guest (its defined configuration is right: a restart "
                            "fixes it): ") for d in in_live if d not in both]):
        out.append(_finding(instance, host, d.id, d.severity, "config", where + d.describe(),
                            fix))
    return out


def _not_ours(conn: HostConnection, host: Host, job: HostJob,
              states: dict[str, DomainStatus]) -> list[Finding]:
    """Domains marked as this installation's that no live record places on this host."""
    assert job.placed is not None
    out = []
    for name in sorted(states):
        uuid = naming.instance_of_domain(name)
        if uuid is None or job.placed.get(uuid) == host.id:
            continue
        try:
            mark = Domain.from_xml(conn.domain_xml(name, inactive=True)).kumo
        except DomainNotFound:
            continue  # undefined since the listing (another controller, a test)
        except KumoError:
            continue  # not XML kumo can read: not a domain kumo wrote
        if mark is None or mark.installation != job.installation:
            continue  # another installation's, or not kumo's at all: not ours to report
        state = states[name].state.value
        if uuid in job.placed:
            out.append(Finding(
                "stale-domain", "error" if states[name].state in _RUNNING else "warning",
                "record",
                f"domain {name} ({state}) is a stale copy: instance {uuid} is recorded on "
                "another host" + (" and this copy runs: two guests may write one disk"
                                  if states[name].state in _RUNNING else ""),
                f"virsh -c {host.uri} destroy/undefine {name} after checking",
                instance=uuid, host=host.name, project=mark.project))
        else:
            out.append(Finding(
                "orphan-domain", "warning", "record",
                f"domain {name} ({state}) was made by this installation (project "
                f"{mark.project}) but no record owns it: no one manages it, and it holds host "
                "resources the scheduler does not count",
                f"kumo host orphans {host.name}; remove it with virsh after checking",
                instance=uuid, host=host.name, project=mark.project))
    return out


__all__ = ["Difference", "HostJob", "audit_host"]
