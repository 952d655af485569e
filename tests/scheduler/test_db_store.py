"""DbClaimStore: the ClaimStore protocol over the hosts table, on SQLite and PostgreSQL.

Claims check the limits they carry (aggregate ratios resolved by the scheduler), return the
counters from the same UPDATE, and stay atomic when many threads and schedulers race.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select

from kumo.db.claims import Resources, claim as legacy_claim
from kumo.db.models import Aggregate as AggregateRow
from kumo.db.models import Host
from kumo.errors import NotFound, StateError
from kumo.hosts.capabilities import HostCapabilities
from kumo.scheduler import (Claim, ClaimStore, HostUsage, NoValidHost, Scheduler,
                            SchedulerConfig)
from kumo.scheduler.db_store import DbClaimStore
from kumo.scheduler.inventory import host_views
from kumo.scheduler.model import resource_limit
from tests.db.fixtures import *  # noqa: F401,F403  (db, on SQLite and PostgreSQL)
from tests.scheduler.helpers import race, request

#: the hosts' last heartbeat, and the clock the tests decide at (5 s later: compute up)
HEARTBEAT = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)
NOW = HEARTBEAT.timestamp() + 5


def add_host(db, name: str, *, hv: str = "kvm", version: tuple[int, ...] = (7, 2),
             aggregates: tuple[str, ...] = (), **kw: Any) -> None:
    """A host row with stored capabilities, capacity for ten 1 vCPU / 1 GiB / 10 GiB requests
    (ratios 1.0) unless told otherwise, and a fresh heartbeat."""
    values: dict[str, Any] = dict(vcpus=10, ram_mib=10240, disk_gib=100,
                                  cpu_allocation_ratio=1.0, last_heartbeat=HEARTBEAT)
    values.update(kw)
    with db.session_scope() as s:
        host = Host(name=name, uri=f"test:///{name}", **values)
        host.set_capabilities(HostCapabilities(hypervisor=hv, hypervisor_version=version))
        for agg in aggregates:
            host.aggregates.append(s.scalars(select(AggregateRow)
                                             .where(AggregateRow.name == agg)).one())
        s.add(host)


def add_aggregate(db, name: str, **metadata: str) -> None:
    with db.session_scope() as s:
        agg = AggregateRow(name=name)
        agg.meta.update(metadata)
        s.add(agg)


def rows(db) -> dict[str, Host]:
    with db.session_scope(readonly=True) as s:
        return {h.name: h for h in s.scalars(select(Host))}


def limits(host: Host, ratios: tuple[float, float, float]) -> tuple[int, int, int]:
    return (resource_limit(host.vcpus - host.reserved_vcpus, ratios[0]),
            resource_limit(host.ram_mib - host.reserved_ram_mib, ratios[1]),
            resource_limit(host.disk_gib - host.reserved_disk_gib, ratios[2]))


LIMITS = dict(vcpus_limit=4, ram_mib_limit=4096, disk_gib_limit=40)
CASES = [
    ("fits", (0, 0, 0), Claim("h", 2, 2048, 20, **LIMITS), True, HostUsage(2, 2048, 20, 1, 1)),
    ("fills-exactly", (2, 2048, 20), Claim("h", 2, 2048, 20, **LIMITS), True,
     HostUsage(4, 4096, 40, 1, 1)),
    ("vcpu-over", (3, 0, 0), Claim("h", 2, 1, 1, **LIMITS), False, HostUsage(3, 0, 0, 0, 0)),
    ("ram-over", (0, 4000, 0), Claim("h", 1, 97, 1, **LIMITS), False,
     HostUsage(0, 4000, 0, 0, 0)),
    ("disk-over", (0, 0, 39), Claim("h", 1, 1, 2, **LIMITS), False, HostUsage(0, 0, 39, 0, 0)),
    ("two-instances", (0, 0, 0), Claim("h", 2, 2, 2, instances=2, **LIMITS), True,
     HostUsage(2, 2, 2, 2, 1)),
]


@pytest.mark.parametrize("used,claim,ok,after", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_claim_is_all_or_nothing_and_returns_the_row(db, used, claim, ok, after):
    add_host(db, "h", used_vcpus=used[0], used_ram_mib=used[1], used_disk_gib=used[2])
    store = DbClaimStore(db)
    assert isinstance(store, ClaimStore)
    result = store.claim(claim)
    assert (result.ok, result.usage) == (ok, after)
    assert store.usage() == {"h": after}
    assert store.usage(["h", "nope"]) == {"h": after}


def test_release_gives_back_bumps_generation_and_refuses_twice(db):
    add_host(db, "h")
    store = DbClaimStore(db)
    c = Claim("h", 2, 2048, 20, **LIMITS)
    store.claim(c)
    assert store.release(c) == HostUsage(0, 0, 0, 0, 2)
    with pytest.raises(StateError) as err:
        store.release(c)
    assert str(err.value) == (
        "host 'h' holds 0 vCPU, 0 MiB RAM, 0 GiB disk in 0 instance(s): cannot release 2 vCPU, "
        "2048 MiB, 20 GiB in 1 (released twice?); nothing changed")
    assert store.usage() == {"h": HostUsage(0, 0, 0, 0, 2)}


def test_unknown_host_is_not_found(db):
    store = DbClaimStore(db)
    for call in (store.claim, store.release):
        with pytest.raises(NotFound) as err:
            call(Claim("nope", 1, 1, 1, **LIMITS))
        assert str(err.value) == "host 'nope' is not known to the claim store"


@pytest.mark.parametrize("ratio, expected", [("2.0", 8), ("0.5", 2)], ids=["raised", "lowered"])
def test_aggregate_ratio_override_is_honoured_by_the_store(db, ratio, expected):
    """The host's own cpu ratio is 1.0 (4 vCPUs usable); its aggregate sets another. The claims
    carry the scheduler's limit, so the database takes exactly what the aggregate allows."""
    add_aggregate(db, "dense", cpu_allocation_ratio=ratio)
    add_host(db, "h", vcpus=4, aggregates=("dense",))
    with db.session_scope(readonly=True) as s:
        views = host_views(s)
    scheduler = Scheduler(SchedulerConfig(), views, DbClaimStore(db))
    placed = 0
    with pytest.raises(NoValidHost) as err:
        for _ in range(20):
            scheduler.select(request(vcpus=1, ram=16, disk=0), now=NOW)
            placed += 1
    assert placed == expected
    assert err.value.summary == (
        "0/1 hosts: 1 insufficient vCPU (requested 1 vCPU, largest free 0 vCPU)")
    h = rows(db)["h"]
    assert (h.used_vcpus, h.instance_count, h.generation) == (expected, expected, expected)
    if ratio == "2.0":  # the claim SQL that reads the host's own ratio would have stopped at 4
        with db.session_scope() as s:
            assert legacy_claim(s, h.id, Resources(vcpus=1)) is False


@pytest.mark.parametrize("subset", [1, 3], ids=["best", "subset-3"])
def test_200_creates_four_schedulers_one_database(db, subset):
    """Four schedulers (as four controller processes would have) share only the database:
    200 threads race for capacity for 100. Exactly 100 are placed, no host goes over its limit,
    the other 100 fail with the summary -- whether each takes its best host or one of its three
    best at random (host_subset_size)."""
    for i in range(10):
        add_host(db, f"h{i}")
    with db.session_scope(readonly=True) as s:
        views = host_views(s)
    store = DbClaimStore(db)
    config = SchedulerConfig(host_subset_size=subset)
    schedulers = [Scheduler(config, views, store) for _ in range(4)]
    placed, failed = race(schedulers, 200, now=NOW)
    assert (len(placed), len(failed)) == (100, 100)
    assert Counter(placed) == {f"h{i}": 10 for i in range(10)}
    for name, h in rows(db).items():
        assert (h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count) == (
            10, 10240, 100, 10), name
    assert {e.summary for e in failed} == {
        "0/10 hosts: 10 insufficient vCPU (requested 1 vCPU, largest free 0 vCPU)"}


def test_migration_0002_counts_live_instances_and_keeps_rows(empty_db_url):
    """0002 adds instance_count (the live instances recorded on the host: each holds a claim)
    and generation; on SQLite the table is rebuilt, which must keep rows, links and CHECKs."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from kumo.db import make_engine, upgrade
    from kumo.db.migrate import downgrade

    upgrade(empty_db_url, "0001")
    engine = make_engine(empty_db_url)
    ts = "'2026-11-21 12:00:00'"
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO hosts (id, uuid, name, uri, hypervisor_type, vcpus, ram_mib, "
                "disk_gib, reserved_vcpus, reserved_ram_mib, reserved_disk_gib, used_vcpus, "
                "used_ram_mib, used_disk_gib, enabled, forced_down, created_at, updated_at) "
                f"VALUES (1, 'u1', 'h', 'test:///h', 'kvm', 8, 8192, 80, 0, 0, 0, 2, 2048, 20, "
                f"true, false, {ts}, {ts})"))
            conn.execute(text("INSERT INTO aggregates (id, uuid, name, created_at, updated_at) "
                              f"VALUES (1, 'a1', 'agg', {ts}, {ts})"))
            conn.execute(text("INSERT INTO aggregate_hosts VALUES (1, 1)"))
            for i, deleted in enumerate((False, False, True)):
                conn.execute(text(
                    "INSERT INTO instances (uuid, name, project_id, user_id, image_properties, "
                    "vcpus, ram_mib, disk_gib, ephemeral_gib, flavor_extra_specs, vm_state, "
                    "power_state, deleted, host_id, version, created_at, updated_at) VALUES "
                    f"('i{i}', 'vm', 'p', 'u', '{{}}', 1, 1024, 10, 0, '{{}}', 'active', 1, "
                    f":deleted, 1, 1, {ts}, {ts})"), {"deleted": deleted})
        upgrade(empty_db_url)
        with engine.begin() as conn:
            assert conn.execute(text(
                "SELECT instance_count, generation, used_vcpus FROM hosts")).one() == (2, 0, 2)
            assert conn.execute(text("SELECT * FROM aggregate_hosts")).all() == [(1, 1)]
        with pytest.raises(IntegrityError) as err, engine.begin() as conn:
            conn.execute(text("UPDATE hosts SET used_vcpus = -1"))  # ck_hosts_used survived
        assert "ck_hosts_used" in str(err.value)
        with pytest.raises(IntegrityError) as err, engine.begin() as conn:
            conn.execute(text("UPDATE hosts SET instance_count = -1"))
        assert "ck_hosts_counters" in str(err.value)
        downgrade(empty_db_url, "0001")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT name, used_vcpus FROM hosts")).all() == [("h", 2)]
            assert conn.execute(text("SELECT * FROM aggregate_hosts")).all() == [(1, 1)]
    finally:
        engine.dispose()
