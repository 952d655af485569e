"""Hosts for the periodic tasks' tests: the in-tree fake host (kumo.hosts.fake.FakeHost) set up
with domains in given states and volumes in kumo's pool."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kumo.compute.env import ComputeEnv
from kumo.hosts.fake import FakeDomain, FakeHost
from kumo.hosts.protocol import DomainStatus


def fake_host(env: ComputeEnv, domains: Mapping[str, DomainStatus] | None = None,
              volumes: Iterable[str] = (), uri: str = "test:///default") -> FakeHost:
    """A FakeHost with these domains (name -> state and reason) and these volumes in the env's
    pool, its call record empty; made the env's only host (``env.connect``)."""
    host = FakeHost(uri)
    for name, status in (domains or {}).items():
        host.domains[name] = FakeDomain(name, f"<domain><name>{name}</name></domain>",
                                        status.state, status.reason)
    host.ensure_pool(env.pool_name, env.pool_path)
    for volume in volumes:
        host.create_volume(env.pool_name, volume, 1)
    host.calls.clear()
    env.connect = lambda _uri: host
    return host


def deleted(host: FakeHost) -> list[str]:
    return [c.args["name"] for c in host.ops("delete_volume")]
