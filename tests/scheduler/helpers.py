"""Builders for scheduler tests: small hosts and requests with readable defaults."""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.scheduler import Aggregate, HostView, NoValidHost, RequestSpec, ServerGroup
from kumo.scheduler.fleet import Fleet
from kumo.scheduler.plugins import DecisionContext, Filter, FilterResult

NOW = 1_000_000.0
CTX = DecisionContext(NOW)


def host(name: str = "h1", hv: str = "kvm", version: tuple[int, ...] | None = (7, 2),
         **kw: Any) -> HostView:
    values: dict[str, Any] = dict(vcpus=16, ram_mib=32768, disk_gib=500, last_heartbeat=NOW - 5)
    values.update(kw)
    return HostView(name, hv, version, **values)


def agg(name: str, **metadata: str) -> Aggregate:
    return Aggregate(name, metadata)


def request(vcpus: int = 1, ram: int = 1024, disk: int = 10, ephemeral: int = 0,
            props: dict[str, Any] | None = None, **kw: Any) -> RequestSpec:
    return RequestSpec(Flavor(vcpus, ram, disk, ephemeral_gib=ephemeral),
                       ImageProperties.parse(props or {}), **kw)


def group(policy: str, *members: str, max_per_host: int = 1) -> ServerGroup:
    return ServerGroup("web", policy, tuple(members), max_per_host)


def check(f: Filter, h: HostView, req: RequestSpec) -> FilterResult:
    """The reference verdict, after checking the columnar path agrees on a one-host fleet."""
    result = f.evaluate(h, req, CTX)
    mask = f.mask(Fleet([h]), req, CTX)
    vector_pass = True if mask is None else bool(mask[0])
    assert vector_pass == result.passed, "columnar and per-host verdicts differ"
    assert result.plugin == f.NAME
    return result


def race(schedulers: Sequence[Any], n: int = 200, *, vcpus: int = 1, ram: int = 1024,
         disk: int = 10, now: float | None = None) -> tuple[list[str], list[NoValidHost]]:
    """``n`` threads released together, thread k placing one request through
    ``schedulers[k % len(schedulers)]`` (as several controllers would): hosts placed on, and the
    NoValidHost errors of the rest."""
    barrier = threading.Barrier(n)
    placed: list[str] = []
    failed: list[NoValidHost] = []
    lock = threading.Lock()

    def create(k: int) -> None:
        barrier.wait()
        try:
            p = schedulers[k % len(schedulers)].select(request(vcpus=vcpus, ram=ram, disk=disk),
                                                       now=now)
            with lock:
                placed.append(p.host)
        except NoValidHost as e:
            with lock:
                failed.append(e)

    threads = [threading.Thread(target=create, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return placed, failed
