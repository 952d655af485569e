"""Host heartbeats. kumo runs no agent on its hosts yet, so the controller is their source.

The scheduler's ComputeUp filter (kumo.scheduler.filters.host) takes a host only if its
``last_heartbeat`` is at most ``service_down_time`` seconds old -- Nova's ComputeFilter and
servicegroup API, default 60 s -- and Nova's nova-compute writes that heartbeat every
``report_interval`` (10 s). Here:

* every time the controller talks to a host successfully (adding it, building, powering,
  deleting, recovering, looking for orphans) it records a heartbeat with ``touch``, in the unit
  of work that records the outcome, or with ``beat``;
* before a placement, ``refresh_stale`` asks each enabled, not forced-down host whose heartbeat is
  stale -- or would be within one report interval -- for its node info. A host that answers gets
  a fresh heartbeat; one that does not keeps its old one, so ComputeUp rejects it and the fault
  and ``kumo placement explain`` say "compute down (no heartbeat for 60 s)". Hosts with a fresh
  heartbeat are not contacted, and disabled or forced-down ones are rejected by their own
  filters first, so they are not contacted either.

``touch`` rewrites a heartbeat only when it is older than REPORT_INTERVAL_S: a host's row
changing makes the shared scheduler rebuild its inventory (kumo.scheduler.service), so a busy
host costs one write per interval, as in Nova, not one per operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from kumo.compute.env import ComputeEnv
from kumo.compute.states import now as utcnow
from kumo.db.models import Host
from kumo.errors import HostError
from kumo.scheduler.config import SchedulerConfig
from kumo.scheduler.plugins import FILTERS

#: Nova's report_interval: a heartbeat younger than this is not rewritten
REPORT_INTERVAL_S = 10.0


def touch(session: Session, host_ids: Iterable[int], at: datetime | None = None, *,
          min_age_s: float = REPORT_INTERVAL_S) -> None:
    """Record a heartbeat at ``at`` (now) for the hosts ``host_ids``, in the caller's unit of
    work; a heartbeat younger than ``min_age_s`` is left as it is."""
    ids = list(dict.fromkeys(host_ids))
    if not ids:
        return
    at = at or utcnow()
    older = at - timedelta(seconds=min_age_s)
    stmt = (update(Host)
            .where(Host.id.in_(ids),
                   or_(Host.last_heartbeat.is_(None), Host.last_heartbeat < older))
            .values(last_heartbeat=at).execution_options(synchronize_session=False))
    session.execute(stmt)


def beat(env: ComputeEnv, host_id: int) -> None:
    """``touch`` in a unit of work of its own: the controller just talked to the host."""
    with env.db.session_scope() as s:
        touch(s, [host_id])


def down_time(config: SchedulerConfig) -> float | None:
    """The ComputeUp window in seconds, or None when the configuration does not run ComputeUp."""
    if "ComputeUp" not in config.filters:
        return None
    compute_up = FILTERS["ComputeUp"](**config.options.get("ComputeUp", {}))
    return float(compute_up.options["service_down_time"])


def refresh_stale(env: ComputeEnv, config: SchedulerConfig, names: Iterable[str] | None = None,
                  at: datetime | None = None) -> dict[str, str]:
    """Contact the enabled, not forced-down hosts (every one, or those named exactly) whose
    heartbeat is missing or older than the ComputeUp window less one report interval; record a
    heartbeat for those that answer. Returns host name -> why, for those that did not (their
    heartbeat stays as it was). Each distinct URI is asked once."""
    window = down_time(config)
    if window is None:
        return {}
    at = at or utcnow()
    cutoff = at - timedelta(seconds=max(0.0, window - REPORT_INTERVAL_S))
    stmt = select(Host.id, Host.name, Host.uri).where(
        Host.enabled.is_(True), Host.forced_down.is_(False),
        or_(Host.last_heartbeat.is_(None), Host.last_heartbeat < cutoff)).order_by(Host.name)
    if names is not None:
        stmt = stmt.where(Host.name.in_(list(names)))
    with env.db.session_scope(readonly=True) as s:
        stale = s.execute(stmt).all()
    by_uri: dict[str, list[tuple[int, str]]] = {}
    for host_id, name, uri in stale:
        by_uri.setdefault(uri, []).append((host_id, name))
    answered: list[int] = []
    silent: dict[str, str] = {}
    for uri, hosts in by_uri.items():
        try:
            env.host(uri).node_info()
        except HostError as e:
            env.forget_host(uri)
            silent.update((name, str(e)) for _id, name in hosts)
        else:
            answered.extend(host_id for host_id, _name in hosts)
    if answered:
        with env.db.session_scope() as s:
            touch(s, answered, at, min_age_s=0.0)
    return silent
