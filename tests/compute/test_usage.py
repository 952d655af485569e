"""Host usage equals the sum of the instances recorded on the host (SQLite and PostgreSQL):

* a controller killed right after placement -- the claim made -- leaves no claim that no record
  holds: the claim and the record commit together, and recovery rolls the create back;
* counters that drifted anyway (an older kumo killed between claim and record, a hand-edited
  row) are set back to the sums by recovery, which says what it fixed; ``kumo host
  audit-usage`` shows every host and fixes it (``--dry-run`` only reports);
* the fix is safe while other controllers create: it locks the host row first."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import update

from kumo.compute import journal, servers, usage
from kumo.db.models import Host, JournalEntry
from kumo.scheduler import service as scheduler
from tests.cli.compute_fixtures import as_json
from tests.cli.compute_fixtures import kumo  # noqa: F401
from tests.compute.crash import Killed
from tests.compute.fakehost import FAKE_URI, counters, entries, fake_cloud, live_instances

EMPTY = (0, 0, 0, 0)
HELD = (1, 256, 2, 1)


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    yield env, host
    assert host.watch.violations == []


def kill_after_placement(monkeypatch) -> None:
    real = scheduler.place

    def place(*args, **kwargs):
        real(*args, **kwargs)
        raise Killed  # the claim is committed; the next line of the create never runs
    monkeypatch.setattr(scheduler, "place", place)


def mark_dead(env) -> None:
    with env.db.session_scope() as s:
        s.execute(update(JournalEntry).values(owner=f"{socket.gethostname()}:999999999:0"))


def test_killed_after_placement_leaks_no_claim(cloud, admin, monkeypatch):
    env, host = cloud
    kill_after_placement(monkeypatch)
    with pytest.raises(Killed):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    monkeypatch.undo()
    # whatever the claim left, a record stands for it
    [instance] = live_instances(env)
    assert (instance.name, instance.node, instance.vm_state) == ("web", "kvm-1", "building")
    assert counters(env) == {"kvm-1": HELD}
    assert entries(env) == [("create", "in-progress", "claimed")]
    mark_dead(env)
    [done] = journal.recover(env)
    assert (done.operation, done.step, done.state) == ("create", "claimed", "rolled-back")
    assert counters(env) == {"kvm-1": EMPTY}
    assert host.domains == {} and host.volumes(env.pool_name) == set()


def test_a_refused_record_rolls_the_claim_back(cloud, admin, monkeypatch):
    """The record fails inside the claim's transaction: no claim, no instance."""
    env, _host = cloud

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(servers.journal, "begin", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    assert counters(env) == {"kvm-1": EMPTY} and live_instances(env) == []


def drift(env, **values) -> None:
    with env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name == "kvm-1").values(**values))


def test_recovery_sets_drifted_counters_to_the_recorded_instances(cloud, admin):
    env, _host = cloud
    servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    drift(env, used_vcpus=5, used_ram_mib=4096, instance_count=3)  # a claim nothing holds
    [done] = journal.recover(env)
    assert (done.entry_id, done.operation, done.instance_uuid, done.state) == (
        None, "audit-usage", None, "fixed")
    assert done.outcome == ("host kvm-1: usage fixed (vcpus_used 5 -> 1, ram_used 4096 -> 256, "
                            "instances 3 -> 1)")
    assert counters(env) == {"kvm-1": HELD}
    assert journal.recover(env) == []  # nothing more to fix


def test_audit_reports_every_host_and_dry_run_fixes_nothing(cloud, admin):
    env, _host = cloud
    servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    drift(env, used_disk_gib=0)
    [audit] = usage.audit(env, admin, fix=False)
    assert audit.view() == {
        "host": "kvm-1", "vcpus_used": 1, "vcpus_used_recorded": 1, "ram_used": 256,
        "ram_used_recorded": 256, "disk_used": 0, "disk_used_recorded": 2, "instances": 1,
        "instances_recorded": 1, "status": "differs"}
    assert audit.describe() == ("host kvm-1: usage differs from its recorded instances "
                                "(disk_used 0 -> 2)")
    assert counters(env) == {"kvm-1": (1, 256, 0, 1)}
    [audit] = usage.audit(env, admin)
    assert (audit.fixed, audit.view()["status"]) == (True, "fixed")
    assert counters(env) == {"kvm-1": HELD}
    [audit] = usage.audit(env, admin)
    assert (audit.fixed, audit.view()["status"]) == (False, "ok")


def test_audit_while_creates_run_keeps_every_claim(cloud, admin):
    """Twelve creates race a loop of audits: when all is done, the counters equal the sums
    (an audit that read the instances before a claim committed and wrote after would lose it)."""
    env, _host = cloud
    done = threading.Event()
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            instance, host = servers.new_instance(env, admin, f"s{i}", image="linux",
                                                  flavor="tiny")
            servers.schedule_and_record(env, admin, instance, host=host)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def audits() -> None:
        while not done.is_set():
            usage.audit(env)

    auditor = threading.Thread(target=audits)
    auditor.start()
    workers = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    auditor.join()
    assert errors == []
    assert counters(env) == {"kvm-1": (12, 12 * 256, 24, 12)}
    assert [a.consistent for a in usage.audit(env, fix=False)] == [True]


def test_audit_usage_command(kumo, db, admin, image_file, tmp_path):  # noqa: F811
    from tests.support.hosts import add_host

    add_host(db, "kvm-1", FAKE_URI, used_vcpus=2, used_ram_mib=512, instance_count=1)
    add_host(db, "kvm-2", FAKE_URI + "2")
    code, out, err = kumo("host", "audit-usage", "--dry-run", "-f", "json")
    assert (code, err) == (0, "")
    assert [(r["host"], r["vcpus_used"], r["vcpus_used_recorded"], r["status"])
            for r in as_json(out)] == [("kvm-1", 2, 0, "differs"), ("kvm-2", 0, 0, "ok")]
    code, out, err = kumo("host", "audit-usage")
    assert code == 0
    assert err == ("host kvm-1: usage fixed (vcpus_used 2 -> 0, ram_used 512 -> 0, "
                   "instances 1 -> 0)\n")
    assert "fixed" in out and "kvm-2" in out
    code, out, err = kumo("server", "list")  # recovery finds nothing left to fix
    assert (code, err) == (0, "")
    code, out, err = kumo("host", "audit-usage", "-f", "json")
    assert [r["status"] for r in as_json(out)] == ["ok", "ok"]
