"""The resident inventory (kumo.scheduler.resident) behind service.place, on SQLite and PostgreSQL:
refreshed from the rows that changed -- including rows changed by other writers between two
placements -- it decides exactly as the per-host reference does on a fresh full read; liveness is
dynamic (no rebuild, no cache emptied); a deleted host or an aggregate change reloads."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from kumo.db import claims as db_claims
from kumo.db.models import Aggregate as AggregateRow
from kumo.db.models import Host
from kumo.hosts.capabilities import HostCapabilities
from kumo.scheduler import (InMemoryClaimStore, NoValidHost, ReferenceScheduler, SchedulerConfig,
                            service)
from kumo.scheduler.inventory import host_views
from tests.db.fixtures import *  # noqa: F401,F403  (db, on SQLite and PostgreSQL)
from tests.scheduler.helpers import request
from tests.scheduler.test_db_store import HEARTBEAT, NOW, add_aggregate, add_host

CONFIG = SchedulerConfig(weighers={"FreeRAM": 1.0, "FreeVCPU": 0.5, "InstanceCount": -0.25},
                         options={"ComputeUp": {"service_down_time": 60}})
KINDS = [("kvm", (7, 2)), ("kvm", (6, 2)), ("qemu", (8, 2)), ("xen", (4, 17)),
         ("hyperv", (6, 3)), ("hyperv", (6, 2))]
IMAGES = [{}, {"os_type": "linux"}, {"hypervisor_type": "hyperv",
                                     "hypervisor_version_requires": ">=6.3"},
          {"vm_mode": "xen"}, {"hypervisor_type": "qemu"}]


@pytest.fixture(autouse=True)
def _fresh_schedulers(db):
    service.forget(db)
    yield
    service.forget(db)


def placer(db):
    return service._placer(db, CONFIG)


def outcome_reference(db, spec):
    with db.session_scope(readonly=True) as s:
        views = host_views(s)
    ref = ReferenceScheduler(CONFIG, views, InMemoryClaimStore.from_hosts(views))
    try:
        p = ref.select(spec, now=NOW)
    except NoValidHost as e:
        return ("NoValidHost", str(e))
    return (p.hosts, p.weights)


def outcome_service(db, spec):
    try:
        p = service.place(db, spec, CONFIG, now=NOW)
    except NoValidHost as e:
        return ("NoValidHost", str(e))
    return (p.hosts, p.weights)


def random_host(db, rng: random.Random, name: str) -> None:
    hv, version = rng.choice(KINDS)
    add_host(db, name, hv=hv, version=version, vcpus=rng.choice([2, 4, 8]),
             ram_mib=rng.choice([4096, 8192]), disk_gib=rng.choice([40, 100]),
             availability_zone=rng.choice([None, "az1"]),
             aggregates=tuple(rng.sample(["dense", "highmem"], rng.choice([0, 0, 1]))),
             last_heartbeat=rng.choice([HEARTBEAT, HEARTBEAT, HEARTBEAT - timedelta(60)]))


def mutate(db, rng: random.Random, names: list[str], serial: list[int]) -> str:
    """One change another writer might make between two placements; returns what it was."""
    what = rng.choice(["heartbeat", "stale", "forced", "disable", "enable", "capacity",
                       "claim-elsewhere", "release-elsewhere", "aggregate-meta",
                       "aggregate-member", "add", "delete"])
    name = rng.choice(names)
    with db.session_scope() as s:
        h = s.scalars(select(Host).where(Host.name == name)).one()
        if what == "heartbeat":
            h.last_heartbeat = HEARTBEAT
        elif what == "stale":
            h.last_heartbeat = HEARTBEAT - timedelta(seconds=120)
        elif what == "forced":
            h.forced_down = not h.forced_down
        elif what == "disable":
            h.enabled, h.disabled_reason = False, "maintenance"
        elif what == "enable":
            h.enabled, h.disabled_reason = True, None
        elif what == "capacity":
            h.vcpus = rng.choice([2, 4, 8, 16])
            h.ram_mib = rng.choice([2048, 8192, 16384])
        elif what == "claim-elsewhere":  # another controller's claim
            db_claims.claim_within(s, name, db_claims.Resources(1, 1024, 10),
                                   db_claims.Resources(10**6, 10**9, 10**9))
        elif what == "release-elsewhere" and h.instance_count:
            db_claims.release_from(s, name, db_claims.Resources(0, 0, 0))
        elif what == "aggregate-meta":
            agg = s.scalars(select(AggregateRow).where(AggregateRow.name == "highmem")).one()
            agg.meta["ram_allocation_ratio"] = rng.choice(["1.5", "2.0", "0.5"])
        elif what == "aggregate-member":
            agg = s.scalars(select(AggregateRow).where(AggregateRow.name == "dense")).one()
            if agg in h.aggregates:
                h.aggregates.remove(agg)
            else:
                h.aggregates.append(agg)
        elif what == "delete" and len(names) > 5:
            s.execute(delete(Host).where(Host.name == name))
            names.remove(name)
    if what == "add":
        serial[0] += 1
        new = f"new{serial[0]:03d}"
        random_host(db, rng, new)
        names.append(new)
    return what


@pytest.mark.parametrize("seed", range(3))
def test_incremental_refresh_decides_as_the_reference_on_a_full_read(db, seed):
    """Random row changes by other writers between placements (heartbeats, forced down,
    disabled, capacity, claims and releases elsewhere, aggregate metadata and membership, hosts
    added and deleted): every placement through the resident inventory equals the per-host
    reference on a fresh full read -- the same hosts, bit-identical weights, the same
    NoValidHost summary."""
    rng = random.Random(seed)
    add_aggregate(db, "dense", cpu_allocation_ratio="4")
    add_aggregate(db, "highmem", ram_allocation_ratio="1.5")
    names = [f"h{k:02d}" for k in range(14)]
    for name in names:
        random_host(db, rng, name)
    serial = [0]
    seen_nvh = seen_ok = False
    changes = []
    for step in range(40):
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            changes.append(mutate(db, rng, names, serial))
        spec = request(vcpus=rng.choice([1, 2, 4]), ram=rng.choice([1024, 4096, 12288]),
                       disk=rng.choice([10, 40]), props=rng.choice(IMAGES),
                       availability_zone=rng.choice([None, None, "az1"]),
                       num_instances=rng.choice([1, 1, 2]))
        expected = outcome_reference(db, spec)
        got = outcome_service(db, spec)
        assert got == expected, f"step {step} after {changes[-3:]}"
        seen_nvh |= got[0] == "NoValidHost"
        seen_ok |= got[0] != "NoValidHost"
    assert seen_nvh and seen_ok, "the run should both place and reject"


def test_heartbeats_are_dynamic_no_rebuild_no_cache_emptied(db):
    """A heartbeat is liveness, not inventory: after every host's heartbeat changes the next
    placement reads only those rows, keeps the fleet and its static-mask cache, and a host whose
    heartbeat went stale is no longer chosen."""
    for name in ("a", "b", "c"):
        add_host(db, name)
    service.place(db, request(), CONFIG, now=NOW)
    inv, sched = placer(db)._inventory, placer(db)._scheduler
    fleet = sched.fleet
    cached = len(fleet._cache)
    assert cached > 0
    with db.session_scope() as s:
        s.execute(update(Host).values(last_heartbeat=HEARTBEAT + timedelta(seconds=1)))
        s.execute(update(Host).where(Host.name.in_(["a", "b"]))
                  .values(last_heartbeat=HEARTBEAT - timedelta(seconds=600)))
    p = service.place(db, request(), CONFIG, now=NOW)
    assert p.host == "c"
    assert placer(db)._inventory is inv and sched.fleet is fleet
    assert len(fleet._cache) >= cached
    assert fleet.heartbeat[fleet.index["a"]] == (HEARTBEAT - timedelta(seconds=600)).timestamp()


def test_static_change_read_from_the_changed_row_only(db):
    """Disabling a host is seen at the next placement without reading the inventory whole:
    the same Inventory object, the fleet rebuilt from the resident views."""
    for name in ("a", "b"):
        add_host(db, name)
    assert service.place(db, request(), CONFIG, now=NOW).host == "a"  # equal: smallest name
    inv = placer(db)._inventory
    with db.session_scope() as s:
        s.execute(update(Host).where(Host.name == "a")
                  .values(enabled=False, disabled_reason="maintenance"))
    with pytest.raises(NoValidHost) as err:
        service.place(db, request(vcpus=11), CONFIG, now=NOW)
    assert err.value.summary == ("0/2 hosts: 1 host disabled, 1 insufficient vCPU (requested "
                                 "11 vCPU, largest free 10 vCPU)")
    assert service.place(db, request(), CONFIG, now=NOW).host == "b"
    assert placer(db)._inventory is inv


@pytest.mark.parametrize("change", ["delete-host", "aggregate-metadata", "aggregate-member"])
def test_changes_no_row_number_shows_reload_the_inventory(db, change):
    """A deleted host, an aggregate's metadata or membership changed: the epoch token changes
    and the next placement reads everything again (and decides on it)."""
    add_aggregate(db, "dense", cpu_allocation_ratio="1")
    add_host(db, "a", aggregates=("dense",))
    add_host(db, "b")
    service.place(db, request(), CONFIG, now=NOW)
    inv = placer(db)._inventory
    with db.session_scope() as s:
        agg = s.scalars(select(AggregateRow).where(AggregateRow.name == "dense")).one()
        if change == "delete-host":
            s.execute(delete(Host).where(Host.name == "b"))
        elif change == "aggregate-metadata":
            agg.meta["cpu_allocation_ratio"] = "16"
        else:
            b = s.scalars(select(Host).where(Host.name == "b")).one()
            b.aggregates.append(agg)
    expected = outcome_reference(db, request(vcpus=9))
    assert outcome_service(db, request(vcpus=9)) == expected
    assert placer(db)._inventory is not inv
    assert sorted(placer(db)._inventory.rows) == (["a"] if change == "delete-host"
                                                   else ["a", "b"])


def test_no_valid_host_summary_is_built_when_read(db, monkeypatch):
    """NoValidHost's summary is computed only when read, and describes the decision even when
    read after other placements changed usage."""
    add_host(db, "a", vcpus=2)
    calls = []
    service.place(db, request(vcpus=2), CONFIG, now=NOW)
    engine = placer(db)._scheduler
    real = engine._summary
    monkeypatch.setattr(engine, "_summary",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.raises(NoValidHost) as err:
        service.place(db, request(vcpus=1), CONFIG, now=NOW)
    assert calls == []
    with db.session_scope() as s:  # the host grows afterwards: the summary is of the decision
        s.execute(update(Host).values(vcpus=8))
    assert err.value.summary == ("0/1 hosts: 1 insufficient vCPU (requested 1 vCPU, "
                                 "largest free 0 vCPU)")
    assert calls == [1]
    assert str(err.value).startswith("no valid host: 0/1 hosts")


@pytest.mark.parametrize("enabled_before", [True, False], ids=["gc-on", "gc-off"])
def test_gc_paused_nests_and_restores_the_collector_as_it_was(enabled_before):
    import gc

    from kumo.scheduler.resident import gc_paused

    was = gc.isenabled()
    (gc.enable if enabled_before else gc.disable)()
    try:
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer pause still holds
        assert gc.isenabled() is enabled_before
        with pytest.raises(RuntimeError), gc_paused():
            raise RuntimeError("a failed build")
        assert gc.isenabled() is enabled_before
    finally:
        (gc.enable if was else gc.disable)()


def test_the_first_inventory_build_freezes_the_heap_once_per_process(db, monkeypatch):
    """The first full read in a process moves what the process holds (imports, the fleet just
    built) to the collector's permanent generation, so resuming the collector does not traverse
    it inside the placement; later reads -- another scheduler, a reload -- freeze nothing."""
    import gc

    from kumo.scheduler import resident

    frozen = []
    monkeypatch.setattr(resident, "_gc_froze", False)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(gc.isenabled()))
    add_host(db, "a")
    was = gc.isenabled()
    service.place(db, request(), CONFIG, now=NOW)
    assert frozen == [False]  # while the collector was still paused
    assert gc.isenabled() is was
    service.forget(db)
    service.place(db, request(), CONFIG, now=NOW)  # read whole again
    assert frozen == [False]


@pytest.mark.parametrize("how", ["set-capabilities", "orm-attribute", "core-update"])
def test_capabilities_changed_by_any_writer_are_what_the_next_placement_reads(db, how):
    """The resident inventory knows capabilities by their key (migration 0022) and reads one
    JSON per key: a host's capabilities changed between placements -- by set_capabilities, by
    the JSON assigned alone (SQLite: key unknown, the JSON itself read), by a Core UPDATE --
    are read from that row alone, and the placement equals the reference on a full read."""
    add_host(db, "a", hv="hyperv", version=(6, 2))
    add_host(db, "b", hv="hyperv", version=(6, 2))
    gen2 = request(props={"hypervisor_type": "hyperv", "hypervisor_version_requires": ">=6.3"})
    assert outcome_service(db, gen2)[0] == "NoValidHost"
    inv = placer(db)._inventory
    newer = HostCapabilities(hypervisor="hyperv", hypervisor_version=(6, 3))
    if how == "core-update":
        with db.engine.begin() as conn:
            conn.execute(update(Host).where(Host.name == "b")
                         .values(capabilities=newer.to_json()))
    else:
        with db.session_scope() as s:
            b = s.scalars(select(Host).where(Host.name == "b")).one()
            if how == "set-capabilities":
                b.set_capabilities(newer)
            else:
                b.capabilities_json = newer.to_json()
    expected = outcome_reference(db, gen2)
    assert expected[0] == ("b",)
    assert outcome_service(db, gen2) == expected
    assert placer(db)._inventory is inv  # from the changed row, not a reload


def test_change_read_keeps_one_plan_that_uses_the_index(db):
    """PostgreSQL: the change read runs on a held connection that keeps the generic plan of
    each statement (kumo.db.prepared.HeldConnections). For ``change_seq >= $1`` that plan
    scanned the whole table (it estimates a third of the rows); the bounded range is read
    through the index."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's generic plans")
    from kumo.scheduler import resident

    # 10,000 hosts with capabilities (~1 KiB a row), changed in no particular order (change_seq
    # uncorrelated with where the row lies: the trigger that numbers changes is paused for it)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE hosts DISABLE TRIGGER hosts_change_seq")
        conn.exec_driver_sql(
            "INSERT INTO hosts (uuid, name, uri, hypervisor_type, enabled, forced_down, "
            "created_at, updated_at, change_seq, capabilities) SELECT md5(i::text), 'h' || i, "
            "'test:///default', 'kvm', true, false, now(), now(), mod(i * 7919, 10007), "
            "json_build_object('pad', repeat('x', 800)) FROM generate_series(1, 10000) AS i")
        conn.exec_driver_sql("ALTER TABLE hosts ENABLE TRIGGER hosts_change_seq")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE hosts")
        sql = resident._CHANGES_PG._compiled(conn).sql.replace("%(watermark)s", "$1")
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        try:
            conn.exec_driver_sql(f"PREPARE changes (bigint) AS {sql}")
            plan = "\n".join(conn.exec_driver_sql("EXPLAIN EXECUTE changes (0)").scalars())
            conn.exec_driver_sql("DEALLOCATE changes")
        finally:
            conn.exec_driver_sql("RESET plan_cache_mode")
    assert "Seq Scan on hosts" not in plan, plan
    assert ("Index Scan on ix_hosts_change_seq" in plan  # a bitmap scan of the index
            or "Index Scan using ix_hosts_change_seq" in plan), plan
