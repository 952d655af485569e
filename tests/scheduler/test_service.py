"""The scheduler service against the database (SQLite and PostgreSQL): place, release, explain,
the inventory built from host rows, and the configuration file."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kumo.catalog.flavor import Flavor
from kumo.db.models import Aggregate as AggregateRow
from kumo.db.models import Host, Instance
from kumo.db.models import ServerGroup as ServerGroupRow
from kumo.errors import ConfigConflict, InvalidInput, NotFound, StateError
from kumo.scheduler import NoValidHost, Placement, SchedulerConfig, ServerGroup
from kumo.scheduler import service
from kumo.scheduler.inventory import host_views, server_group_view
from kumo.scheduler.model import resource_limit
from tests.db.fixtures import *  # noqa: F401,F403  (db, on SQLite and PostgreSQL)
from tests.scheduler.helpers import request
from tests.scheduler.test_db_store import HEARTBEAT, NOW, add_aggregate, add_host, rows

SPEC = request(vcpus=1, ram=1024, disk=10)
PACK = SchedulerConfig(weighers={"FreeRAM": -1.0, "FreeVCPU": -1.0, "FreeDisk": -1.0,
                                 "InstanceCount": -1.0})


@pytest.fixture(autouse=True)
def _fresh_schedulers(db):
    """The shared schedulers are per Database object, and the db fixture's object outlives a
    test while its rows do not: start each test with none."""
    service.forget(db)
    yield
    service.forget(db)


def ten_hosts(db) -> None:
    for i in range(10):
        add_host(db, f"h{i}")


def test_200_concurrent_placements_against_capacity_for_100(db):
    """200 threads, each placing through the service (its own sessions), against ten hosts
    with room for ten each: exactly 100 placed, ten per host, no host over its limit in the
    database, and 100 NoValidHost whose summary is the one explain gives afterwards."""
    ten_hosts(db)
    barrier = threading.Barrier(200)
    placed: list[Placement] = []
    failed: list[NoValidHost] = []
    lock = threading.Lock()

    def create() -> None:
        barrier.wait()
        try:
            p = service.place(db, SPEC, SchedulerConfig(), now=NOW)
            with lock:
                placed.append(p)
        except NoValidHost as e:
            with lock:
                failed.append(e)

    threads = [threading.Thread(target=create) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert (len(placed), len(failed)) == (100, 100)
    assert Counter(p.host for p in placed) == {f"h{i}": 10 for i in range(10)}
    # one shared scheduler per process: its claims in flight are reserved, so none collided
    assert sum(p.attempts for p in placed) == 100
    for name, h in rows(db).items():
        vcpu_limit, ram_limit, disk_limit = (resource_limit(h.vcpus, 1.0),
                                             resource_limit(h.ram_mib, 1.0),
                                             resource_limit(h.disk_gib, 1.0))
        assert h.used_vcpus <= vcpu_limit and h.used_ram_mib <= ram_limit
        assert h.used_disk_gib <= disk_limit
        assert (h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count) == (
            10, 10240, 100, 10), name
    summary = service.explain(db, SPEC, SchedulerConfig(), now=NOW).summary
    assert summary == "0/10 hosts: 10 insufficient vCPU (requested 1 vCPU, largest free 0 vCPU)"
    assert {e.summary for e in failed} == {summary}
    assert {str(e) for e in failed} == {f"no valid host: {summary}"}


def test_threads_arriving_during_a_read_share_the_next_one(db):
    """Threads placing at once share inventory reads: two threads that call while a read is
    under way wait for it, then share one read begun after they called (not one each), and
    see a change committed before they called; the thread under way keeps its own read."""
    ten_hosts(db)
    service.place(db, SPEC, SchedulerConfig(), now=NOW)  # loaded: later calls read changes
    placer = service._placer(db, SchedulerConfig())
    real = placer._read_changes
    inside, release, reads = threading.Event(), threading.Event(), []

    def read(inv):
        reads.append(threading.current_thread().name)
        if len(reads) == 1:  # the first read stalls until the others are waiting
            inside.set()
            assert release.wait(30)
        return real(inv)

    placer._read_changes = read
    hosts: dict[str, str] = {}

    def create(name: str) -> None:
        hosts[name] = service.place(db, SPEC, SchedulerConfig(), now=NOW).host

    first = threading.Thread(target=create, args=("first",), name="first")
    first.start()
    assert inside.wait(30)
    with db.session_scope() as s:  # committed before the two others call
        s.scalars(select(Host).where(Host.name == "h0")).one().enabled = False
    others = [threading.Thread(target=create, args=(n,), name=n) for n in ("second", "third")]
    for t in others:
        t.start()
    deadline = time.monotonic() + 30
    while len(placer._read_done._waiters) < 2 and time.monotonic() < deadline:  # type: ignore
        time.sleep(0.01)
    release.set()
    for t in [first, *others]:
        t.join(30)
    assert len(reads) == 2 and reads[0] == "first"  # one read for the two that waited
    assert set(hosts) == {"first", "second", "third"}
    assert "h0" not in (hosts["second"], hosts["third"])  # they saw h0 disabled


def test_identical_requests_spread_ten_per_host(db):
    ten_hosts(db)
    hosts = [service.place(db, SPEC, SchedulerConfig(), now=NOW).host for _ in range(100)]
    assert Counter(hosts) == {f"h{i}": 10 for i in range(10)}
    assert hosts[:10] == [f"h{i}" for i in range(10)]  # each round visits every host once


def test_pack_multipliers_fill_hosts_one_by_one(db):
    ten_hosts(db)
    hosts = [service.place(db, SPEC, PACK, now=NOW).host for _ in range(100)]
    assert hosts == [f"h{i}" for i in range(10) for _ in range(10)]


def test_release_gives_capacity_back(db):
    add_host(db, "h0", vcpus=2)
    first = service.place(db, SPEC, SchedulerConfig(), now=NOW)
    service.place(db, SPEC, SchedulerConfig(), now=NOW)
    with pytest.raises(NoValidHost) as err:
        service.place(db, SPEC, SchedulerConfig(), now=NOW)
    assert err.value.summary == (
        "0/1 hosts: 1 insufficient vCPU (requested 1 vCPU, largest free 0 vCPU)")

    service.release(db, first)
    h = rows(db)["h0"]
    assert (h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count, h.generation) == (
        1, 1024, 10, 1, 3)
    assert service.place(db, SPEC, SchedulerConfig(), now=NOW).host == "h0"

    with pytest.raises(StateError):  # more than the host holds: refused, nothing changed
        service.release(db, replace(first.claims[0], vcpus=3))
    assert rows(db)["h0"].used_vcpus == 2


def test_multi_instance_request_is_all_or_nothing(db):
    add_host(db, "a", vcpus=1)
    add_host(db, "b", vcpus=1)
    with pytest.raises(NoValidHost):
        service.place(db, replace(SPEC, num_instances=3), SchedulerConfig(), now=NOW)
    assert {h.used_vcpus for h in rows(db).values()} == {0}
    p = service.place(db, replace(SPEC, num_instances=2), SchedulerConfig(), now=NOW)
    assert p.hosts == ("a", "b")


def test_inventory_changes_are_seen_by_the_next_placement(db):
    """The shared scheduler re-reads the hosts each call: a host disabled, a host added, an
    aggregate's metadata changed all count at once."""
    add_host(db, "a")
    add_host(db, "b")
    assert service.place(db, SPEC, SchedulerConfig(), now=NOW).host == "a"
    with db.session_scope() as s:
        s.scalars(select(Host).where(Host.name == "b")).one().enabled = False
    assert service.place(db, SPEC, SchedulerConfig(), now=NOW).host == "a"
    add_host(db, "c")
    assert service.place(db, SPEC, SchedulerConfig(), now=NOW).host == "c"
    add_aggregate(db, "tiny", ram_allocation_ratio="0.1")
    with db.session_scope() as s:
        c = s.scalars(select(Host).where(Host.name == "c")).one()
        c.aggregates.append(s.scalars(select(AggregateRow)).one())
    ex = service.explain(db, SPEC, SchedulerConfig(), now=NOW)
    assert ex.summary == ("1/3 hosts: 1 host disabled, 1 insufficient RAM (requested 1024 MiB, "
                          "largest free 0 MiB)")
    assert service.place(db, SPEC, SchedulerConfig(), now=NOW).host == "a"


def test_claims_made_elsewhere_are_seen(db):
    """Another controller (here: the store used directly) fills a host; this process's shared
    scheduler refreshes usage per call and places elsewhere without losing a race."""
    add_host(db, "a")
    add_host(db, "b")
    service.place(db, SPEC, SchedulerConfig(), now=NOW)
    from kumo.scheduler.claims import Claim
    from kumo.scheduler.db_store import DbClaimStore
    DbClaimStore(db).claim(Claim("b", 9, 1024, 10, 10, 10240, 100))
    p = service.place(db, SPEC, SchedulerConfig(), now=NOW)
    assert (p.host, p.attempts) == ("a", 1)


def test_named_hosts_only(db):
    ten_hosts(db)
    assert service.place(db, SPEC, SchedulerConfig(), hosts=["h7"], now=NOW).host == "h7"
    with pytest.raises(NotFound) as err:
        service.place(db, SPEC, SchedulerConfig(), hosts=["h7", "h1*"], now=NOW)
    assert str(err.value) == "host(s) 'h1*' not found (hosts are named exactly)"
    ex = service.explain(db, request(vcpus=11), SchedulerConfig(), hosts=["h2"], now=NOW)
    assert ex.summary == "0/1 hosts: 1 insufficient vCPU (requested 11 vCPU, largest free 10 vCPU)"


def test_no_hosts_at_all(db):
    with pytest.raises(NoValidHost) as err:
        service.place(db, SPEC, SchedulerConfig(), now=NOW)
    assert err.value.summary == "0/0 hosts"


# --- inventory ---------------------------------------------------------------------------------

def test_host_view_from_a_row(db):
    """Capacity is total - reserved; a NULL ratio is the default (4.0 vCPU, 1.0 RAM and disk);
    usage and instance count come from the counters; the zone from the host, else an
    aggregate, else nova; a virt_type override narrows what the host runs."""
    add_aggregate(db, "az-agg")
    with db.session_scope() as s:
        s.scalars(select(AggregateRow)).one().availability_zone = "zone-b"
    add_host(db, "k", vcpus=16, reserved_vcpus=2, ram_mib=32768, reserved_ram_mib=2048,
             disk_gib=500, reserved_disk_gib=50, cpu_allocation_ratio=None, used_vcpus=3,
             used_ram_mib=4096, used_disk_gib=40, instance_count=2, virt_type="qemu",
             aggregates=("az-agg",))
    add_host(db, "z", availability_zone="zone-a", aggregates=("az-agg",))
    add_host(db, "n", hv="hyperv", version=(6, 3, 9600))
    with db.session_scope(readonly=True) as s:
        views = {v.name: v for v in host_views(s)}
    k = views["k"]
    assert (k.vcpus, k.ram_mib, k.disk_gib) == (14, 30720, 450)
    assert (k.cpu_allocation_ratio, k.ram_allocation_ratio, k.disk_allocation_ratio) == (
        4.0, 1.0, 1.0)
    assert (k.vcpus_used, k.ram_mib_used, k.disk_gib_used, k.instances) == (3, 4096, 40, 2)
    assert (k.hypervisor_type, k.hypervisor_types) == ("qemu", ("qemu",))
    assert k.last_heartbeat == HEARTBEAT.timestamp()
    assert [a.name for a in k.aggregates] == ["az-agg"]
    assert (k.availability_zone, views["z"].availability_zone,
            views["n"].availability_zone) == ("zone-b", "zone-a", "nova")
    assert views["n"].machines == ("hyperv-gen1", "hyperv-gen2")
    assert views["n"].hypervisor_version == (6, 3, 9600)


def test_host_without_stored_capabilities(db):
    with db.session_scope() as s:
        s.add(Host(name="old", uri="xen+ssh://old", hypervisor_type="xen",
                   hypervisor_version="4.17.1", vcpus=8, ram_mib=8192, disk_gib=80,
                   last_heartbeat=HEARTBEAT))
    with db.session_scope(readonly=True) as s:
        (view,) = host_views(s)
    assert (view.hypervisor_type, view.hypervisor_version, view.vm_modes) == (
        "xen", (4, 17, 1), ("hvm", "xen"))


def _instance(s, host: str, props: dict, *, deleted: bool = False, group=None) -> Instance:
    h = s.scalars(select(Host).where(Host.name == host)).one()
    inst = Instance(name="vm", project_id="p", user_id="u", vcpus=1, ram_mib=1024, disk_gib=10,
                    image_properties=props, host=h, deleted=deleted, server_group=group)
    s.add(inst)
    return inst


def test_like_images_pack_by_frozen_image_properties(db):
    """Image-property counts come from the instances' frozen properties (aliases and case as
    the catalog reads them; deleted instances do not count)."""
    for name in ("a", "b", "c"):
        add_host(db, name)
    with db.session_scope() as s:
        _instance(s, "b", {"os_type": "Windows"})
        _instance(s, "b", {"os_type": "windows", "os_distro": "windows"})
        _instance(s, "c", {"os_type": "windows"}, deleted=True)
        _instance(s, "c", {"os_type": "linux"})
    config = SchedulerConfig(weighers={"LikeImages": -1.0})
    windows = request(props={"os_type": "windows"})
    assert service.place(db, windows, config, now=NOW).host == "b"
    assert service.place(db, request(props={"os_type": "linux"}), config, now=NOW).host == "c"
    with db.session_scope(readonly=True) as s:
        counts = {v.name: dict(v.image_property_counts.get("os_type", {}))
                  for v in host_views(s, track=("os_type",))}
    assert counts == {"a": {}, "b": {"windows": 2}, "c": {"linux": 1}}


def test_server_group_members_from_instances(db):
    add_host(db, "a")
    add_host(db, "b")
    with db.session_scope() as s:
        g = ServerGroupRow(name="web", project_id="p", user_id="u", policy="anti-affinity")
        soft = ServerGroupRow(name="soft", project_id="p", user_id="u",
                              policy="soft-affinity")
        s.add_all([g, soft])
        moving = _instance(s, "a", {}, group=g)
        _instance(s, "b", {}, group=g)
        _instance(s, "b", {}, group=g, deleted=True)
        s.flush()
        assert server_group_view(s, g) == ServerGroup("web", "anti-affinity", ("a", "b"))
        assert server_group_view(s, g, exclude=[moving.uuid]) == ServerGroup(
            "web", "anti-affinity", ("b",))
        assert server_group_view(s, soft) is None
        group = server_group_view(s, g, exclude=[moving.uuid])
    assert service.place(db, replace(SPEC, group=group), SchedulerConfig(), now=NOW).host == "a"


def test_heartbeat_is_read_from_the_row(db):
    add_host(db, "late", last_heartbeat=HEARTBEAT - timedelta(seconds=300))
    add_host(db, "never", last_heartbeat=None)
    ex = service.explain(db, SPEC, SchedulerConfig(), now=NOW)
    assert ex.summary == ("0/2 hosts: 1 compute down (never reported), "
                          "1 compute down (no heartbeat for 60 s)")


# --- requests ----------------------------------------------------------------------------------

def test_request_spec_for_instance_and_its_claim(db):
    add_host(db, "a")
    with db.session_scope() as s:
        inst = _instance(s, "a", {"os_type": "windows", "hw_machine_type": "q35"})
        inst.flavor_extra_specs = {"hw:disk_bus": "sata"}
        inst.ephemeral_gib = 5
        s.flush()
        spec = service.request_spec_for_instance(inst)
        claim = service.instance_claim(inst, "a")
    assert (spec.vcpus, spec.ram_mib, spec.disk_gib) == (1, 1024, 15)
    assert spec.image.get("hw_disk_bus") == "sata" and spec.image.get("os_type") == "windows"
    assert (claim.host, claim.vcpus, claim.ram_mib, claim.disk_gib, claim.consumer) == (
        "a", 1, 1024, 15, inst.uuid)
    placement = service.place(db, spec, SchedulerConfig(), now=NOW)
    assert rows(db)["a"].used_disk_gib == 15
    service.release(db, claim)
    assert rows(db)["a"].used_disk_gib == 0
    assert placement.claims[0].disk_gib == claim.disk_gib


def test_request_spec_validates_and_applies_the_flavor():
    flavor = Flavor(2, 2048, 20, name="m1", extra_specs={"hw:firmware_type": "uefi"})
    spec = service.request_spec({"os_type": "Windows"}, flavor, availability_zone="az1")
    assert spec.image.get("hw_firmware_type") == "uefi" and spec.availability_zone == "az1"
    with pytest.raises(ConfigConflict):
        service.request_spec({"hw_firmware_type": "bios"}, flavor)


# --- configuration -----------------------------------------------------------------------------

def test_config_defaults_when_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv(service.CONFIG_ENV, raising=False)
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path))
    assert service.config_path() is None
    assert service.load_config() == SchedulerConfig()


def test_config_under_a_scheduler_table(tmp_path, monkeypatch):
    monkeypatch.delenv(service.CONFIG_ENV, raising=False)
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path))
    (tmp_path / "scheduler.toml").write_text(
        '[scheduler.weighers]\nLikeImages = -1.0\n'
        '[scheduler.options.AggregateImageIsolation]\nrequired = { os_type = ["windows"] }\n')
    assert service.load_config() == SchedulerConfig(
        weighers={"LikeImages": -1.0},
        options={"AggregateImageIsolation": {"required": {"os_type": ["windows"]}}})


def test_config_files(tmp_path, monkeypatch):
    monkeypatch.delenv(service.CONFIG_ENV, raising=False)
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path))
    toml = tmp_path / "scheduler.toml"
    toml.write_text('filters = ["HostEnabled", "RAM"]\nmax_claim_attempts = 5\n'
                    '[weighers]\nFreeRAM = -1.0\n'
                    '[options.ComputeUp]\nservice_down_time = 120\n')
    assert service.config_path() == toml
    assert service.load_config() == SchedulerConfig(
        filters=("HostEnabled", "RAM"), weighers={"FreeRAM": -1.0},
        options={"ComputeUp": {"service_down_time": 120}}, max_claim_attempts=5)

    named = tmp_path / "other.json"
    named.write_text('{"scheduler": {"weighers": {"InstanceCount": 2}}}')
    monkeypatch.setenv(service.CONFIG_ENV, str(named))
    assert service.load_config().weighers == {"InstanceCount": 2}

    named.write_text('{"weighers": {"Nope": 1}}')
    time.sleep(0.01)
    named.touch()
    with pytest.raises(InvalidInput) as err:
        service.load_config()
    assert str(err.value).startswith(f"{named}: scheduler configuration: unknown weigher 'Nope'")

    toml.write_text("filters = [")
    with pytest.raises(InvalidInput) as err:
        service.load_config(toml)
    assert str(err.value).startswith(f"scheduler configuration file {str(toml)!r} is not valid "
                                     "TOML")
    with pytest.raises(InvalidInput) as err:
        service.load_config(tmp_path / "missing.toml")
    assert str(err.value).endswith("missing.toml' does not exist")


def _hold_row(db, name: str):
    """Another controller's claim under way on host ``name``: a transaction holding its row
    (PostgreSQL), returned open."""
    conn = db.engine.connect()
    conn.begin()
    conn.execute(update(Host).where(Host.name == name).values(generation=Host.generation))
    return conn


def _key_share_row(db, name: str):
    """A transaction writing a row that names host ``name`` (an instance, a move): the FOR KEY
    SHARE lock its foreign-key check holds on the host's row until it ends, returned open."""
    conn = db.engine.connect()
    conn.begin()
    conn.execute(select(Host.id).where(Host.name == name)
                 .with_for_update(read=True, key_share=True))
    return conn


@pytest.mark.parametrize("hold, chosen", [
    # two controllers that chose the same host do not queue on its row: the claim goes to the
    # next best at once (one attempt, no race lost); the held row is untouched
    (_hold_row, "small"),
    # a foreign-key check's lock is no claim under way: the host is claimed at once, not
    # skipped as busy for the next best
    (_key_share_row, "big"),
], ids=["claim-under-way-skipped", "foreign-key-check-not-busy"])
def test_a_host_whose_row_another_transaction_holds_is_answered_at_once(db, hold, chosen):
    """While another transaction holds the best host's row, the placement answers without
    waiting for it: on the next best when that transaction is another controller's claim, on
    the best when it only holds the row for a foreign-key check."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no row locks to skip")
    add_host(db, "big", vcpus=40, ram_mib=40960, disk_gib=400)  # the weighers prefer it
    add_host(db, "small")
    assert service.explain(db, SPEC, SchedulerConfig(), now=NOW).chosen == "big"
    other = hold(db, "big")
    timer = threading.Timer(3.0, other.rollback)  # (a claim that waited would get big then)
    timer.start()
    try:
        p = service.place(db, SPEC, SchedulerConfig(), now=NOW)
        assert timer.is_alive()  # answered while the other transaction still held the row
    finally:
        timer.cancel()
        timer.join()
        if other.in_transaction():
            other.rollback()
        other.close()
    assert (p.host, p.attempts) == (chosen, 1)
    assert {n: h.instance_count for n, h in rows(db).items()} == {
        "big": int(chosen == "big"), "small": int(chosen == "small")}


def test_a_busy_host_that_alone_fits_is_waited_for(db):
    """When every other host fails the request, the claim waits for the busy host's row (as
    before) and gets it once the other transaction ends."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no row locks to skip")
    add_host(db, "only")
    service.place(db, SPEC, SchedulerConfig(), now=NOW)
    other = _hold_row(db, "only")
    timer = threading.Timer(0.5, other.commit)
    timer.start()
    try:
        p = service.place(db, SPEC, SchedulerConfig(), now=NOW)
    finally:
        timer.join()
        other.close()
    assert (p.host, p.attempts) == ("only", 1)
    assert rows(db)["only"].instance_count == 2


@pytest.mark.parametrize("room", [True, False], ids=["has-room-busy", "full-refused"])
def test_store_answers_busy_only_when_the_held_host_has_room(db, room):
    from kumo.scheduler.claims import Claim
    from kumo.scheduler.db_store import DbClaimStore

    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no row locks to skip")
    add_host(db, "h", used_vcpus=0 if room else 10)
    other = _hold_row(db, "h")
    try:
        got = DbClaimStore(db).claim(Claim("h", 1, 1024, 10, 10, 10240, 100, skip_busy=True))
    finally:
        other.rollback()
        other.close()
    assert (got.ok, got.busy, got.usage.vcpus) == (False, room, 0 if room else 10)
