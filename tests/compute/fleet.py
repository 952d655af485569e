"""Seed 002's fleet on in-memory hosts (kumo.hosts.fake), for the fencing and evacuation tests:
XXXX-HOST-YYYY34 and its neighbours XXXX-HOST-YYYY340..349, servers on every host."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from kumo.compute import servers
from kumo.db.models import Host, Instance
from tests.compute.fakehost import fake_cloud
from tests.support.hosts import add_host

FAILED = "XXXX-HOST-YYYY34"
NEIGHBOURS = [f"XXXX-HOST-YYYY34{i}" for i in range(10)]


def uri(name: str) -> str:
    return f"fake:///{name}"


def make_fleet(env, admin, image_file, fake_hosts, neighbours: list[str] = NEIGHBOURS,
               on_failed: int = 2) -> None:
    """``on_failed`` servers on 34, one on each neighbour (named s-<host suffix>-<n>)."""
    fake_cloud(env, admin, image_file, fake_hosts)
    now = datetime.now(timezone.utc)
    with env.db.session_scope() as s:  # the catalog's own host takes no part here
        s.execute(update(Host).where(Host.name == "kvm-1").values(enabled=False))
    for name in [FAILED, *neighbours]:
        add_host(env.db, name, uri(name), last_heartbeat=now)
    for name in [FAILED] * on_failed + list(neighbours):
        n = sum(1 for h in placement(env).values() if h == name)
        servers.create_server(env, admin, f"s-{name[-3:]}-{n}", image="linux", flavor="tiny",
                              host=name)


def placement(env) -> dict[str, str | None]:
    """server name -> host name (None: on no host)."""
    with env.db.session_scope(readonly=True) as s:
        return {i.name: i.node if i.host_id is not None else None
                for i in s.scalars(select(Instance).where(Instance.deleted.is_(False)))}


def fail_host(env, name: str, at: datetime | None = None, probes: int = 1) -> None:
    """What kumo serve's liveness probe records for a host that stopped answering."""
    with env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name == name).values(
            liveness="down", liveness_reason="connection refused", down_probes=probes,
            liveness_checked_at=at or datetime.now(timezone.utc)))
