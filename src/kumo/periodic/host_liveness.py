"""Host liveness: every ``host_probe_interval`` seconds each host is asked for its node info.

A host that answers is ``up`` and gets a heartbeat (the time of its last good contact,
kumo.compute.heartbeat); one that does not is ``down`` with libvirt's reason, its cached
connection dropped so the next use reconnects. Between probes, libvirt keepalive on every
connection (kumo.hosts.events) reports a connection that died, and ``connection_lost`` marks
its hosts down at once. A host no controller has probed for three intervals is ``unknown``
(kumo.compute.hosts.host_state): nobody is watching it. Every change of state is logged.
A host that comes back up after an evacuation has its stale domains of the evacuated instances
destroyed and undefined (kumo.compute.evacuated_cleanup). kumo.periodic.host_failure fences and
evacuates on these states.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from kumo import logs
from kumo.compute import heartbeat
from kumo.compute.env import ComputeEnv
from kumo.compute.states import now
from kumo.db.models import Host
from kumo.errors import HostError, KumoError
from kumo.periodic import Outcome

NAME = "host-liveness"
UP, DOWN = "up", "down"

log = logs.get(__name__)


def run(env: ComputeEnv, at: datetime | None = None) -> Outcome:
    with env.db.session_scope(readonly=True) as s:
        hosts = s.execute(select(Host.id, Host.name, Host.uri, Host.liveness, Host.forced_down)
                          .order_by(Host.name)).all()
    answers: dict[str, str | None] = {}  # uri -> None (answered) or why not; each asked once
    out = Outcome("")
    for host_id, name, uri, before, fenced in hosts:
        if uri not in answers:
            try:
                env.host(uri).node_info()
                answers[uri] = None
            except HostError as e:
                env.forget_host(uri)
                answers[uri] = str(e)
        _record(env, host_id, name, before, answers[uri], at or now(), out)
        if answers[uri] is None and (before != UP or fenced):
            _clean_evacuated(env, host_id, name, out)
    up = sum(1 for _i, _n, uri, *_r in hosts if answers.get(uri) is None)
    out.summary = f"{len(hosts)} host(s): {up} up, {len(hosts) - up} down"
    return out


def _record(env: ComputeEnv, host_id: int, name: str, before: str | None, why: str | None,
            at: datetime, out: Outcome) -> None:
    state = UP if why is None else DOWN
    with env.db.session_scope() as s:
        # down_probes: probes in a row that found it down (the automatic mode's "down for N
        # intervals", kumo.periodic.host_failure)
        s.execute(update(Host).where(Host.id == host_id).values(
            liveness=state, liveness_reason=why, liveness_checked_at=at,
            down_probes=0 if why is None else Host.down_probes + 1)
            .execution_options(synchronize_session=False))
        if why is None:
            heartbeat.touch(s, [host_id], at, min_age_s=0.0)
    if state != before:
        out.count(f"host-{state}")
        with logs.log_context(host=name):
            if why is None:
                log.info("host %s is up (was %s)", name, before or "unknown")
            else:
                log.warning("host %s is down (was %s): %s", name, before or "unknown", why)


def _clean_evacuated(env: ComputeEnv, host_id: int, name: str, out: Outcome) -> None:
    """A host back (or still fenced): its stale domains of evacuated instances go."""
    from kumo.compute import evacuated_cleanup
    from kumo.compute.context import service_context

    try:
        if not evacuated_cleanup.evacuated_away(env, host_id):
            return
        cleaned = evacuated_cleanup.clean(env, service_context(), host_id)
    except KumoError as e:
        out.count("evacuated-cleanup-failed")
        log.error("host %s: stale domains of evacuated instances not cleaned: %s", name, e,
                  extra={"host": name})
        return
    for _ in cleaned:
        out.count("evacuated-domain-destroyed")


def connection_lost(env: ComputeEnv, uri: str, why: str) -> None:
    """A kept-alive connection to ``uri`` closed: its hosts are down now, not at the next
    probe."""
    env.forget_host(uri)
    with env.db.session_scope() as s:
        names = list(s.scalars(select(Host.name).where(Host.uri == uri, Host.liveness != DOWN)))
        s.execute(update(Host).where(Host.uri == uri).values(
            liveness=DOWN, liveness_reason=f"connection lost: {why}", liveness_checked_at=now())
            .execution_options(synchronize_session=False))
    for name in names:
        log.warning("host %s is down: connection lost (%s)", name, why,
                    extra={"host": name})
