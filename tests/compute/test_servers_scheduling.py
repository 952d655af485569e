"""Create through the scheduler (SQLite and PostgreSQL): a request no host can take records the
server ERROR with the summary ``kumo placement explain`` prints as its fault, and every path --
placed and deleted, rolled back on the host, rolled back by recovery -- leaves the host's
counters (used vCPU/RAM/disk, instance_count) where they were."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kumo.cli.main import main
from kumo.compute import flavors, images, journal, servers
from kumo.db.models import Host, Instance, JournalEntry
from kumo.scheduler.errors import NoValidHost
from tests.support.hosts import add_host
from tests.compute.records import add_instance

#: a libvirt URI nothing listens on (connection refused at once)
UNREACHABLE = "qemu+tcp://127.0.0.1:1/system"
DEAD = f"{socket.gethostname()}:999999999:0"
RAM_SHORT = "insufficient RAM (requested 65536 MiB, largest free 16384 MiB)"


def counters(db) -> dict[str, tuple[int, int, int, int]]:
    with db.session_scope(readonly=True) as s:
        return {h.name: (h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count)
                for h in s.scalars(select(Host))}


@pytest.fixture
def catalog(env, admin, image_file):
    images.create_image(env, admin, "linux", file=image_file, disk_format="qcow2",
                        properties={"os_type": "linux", "hw_disk_bus": "virtio"},
                        visibility="public")
    flavors.create_flavor(env, admin, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
    flavors.create_flavor(env, admin, "huge", vcpus=1, ram_mib=65536, disk_gib=1)
    return env


@pytest.fixture
def fleet(catalog):
    """kvm-1 answers (libvirt's test driver) but has never reported: placing asks it first;
    'off' is disabled; 'down' and 'never' do not answer, one with a stale heartbeat."""
    db = catalog.db
    add_host(db, "kvm-1")
    add_host(db, "off", enabled=False, disabled_reason="maintenance")
    add_host(db, "down", UNREACHABLE,
             last_heartbeat=datetime.now(timezone.utc) - timedelta(seconds=300))
    add_host(db, "never", UNREACHABLE)
    return catalog


@pytest.fixture
def explain_summary(env, capsys, monkeypatch, tmp_path):
    """The summary line ``kumo placement explain`` prints for an image and flavor."""
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path))  # the same scheduler defaults

    def run(image: str, flavor: str, host: str | None = None) -> str:
        capsys.readouterr()
        argv = ["placement", "explain", "--image", image, "--flavor", flavor,
                "--database-url", env.db.url.render_as_string(hide_password=False)]
        code = main(argv + (["--host", host] if host else []))
        out, err = capsys.readouterr()
        assert (code, err) == (0, "")
        return out.splitlines()[-1]

    return run


@pytest.mark.parametrize("flavor, host, summary", [
    ("huge", "kvm-1", f"0/1 hosts: 1 {RAM_SHORT}"),
    ("tiny", "off", "0/1 hosts: 1 host disabled"),
    ("tiny", "down", "0/1 hosts: 1 compute down (no heartbeat for 60 s)"),
    ("tiny", "never", "0/1 hosts: 1 compute down (never reported)"),
    ("huge", None, "0/4 hosts: 1 compute down (never reported), 1 compute down (no heartbeat "
                   f"for 60 s), 1 host disabled, 1 {RAM_SHORT}"),
], ids=["no-room", "disabled", "stale-unreachable", "never-reported-unreachable", "any-host"])
def test_no_valid_host_records_the_server_in_error(fleet, admin, explain_summary, flavor, host,
                                                   summary):
    env = fleet
    before = counters(env.db)
    with pytest.raises(NoValidHost) as e:
        servers.create_server(env, admin, "web", image="linux", flavor=flavor, host=host)
    assert (e.value.summary, str(e.value)) == (summary, f"no valid host: {summary}")
    [server] = servers.list_servers(env, admin)
    assert (server["name"], server["status"], server["vm_state"], server["task_state"],
            server["host"]) == ("web", "ERROR", "error", None, None)
    assert server["fault"] == {"code": 500, "message": summary, "details": None}
    assert explain_summary("linux", flavor, host) == summary  # the fault is what explain says
    with env.db.session_scope(readonly=True) as s:
        entry = s.scalars(select(JournalEntry)).one()
        assert (entry.operation, entry.instance_uuid, entry.step, entry.state, entry.error) == (
            "create", server["id"], "scheduling", "failed", f"no valid host: {summary}")
    assert counters(env.db) == before  # no claim held
    servers.delete_server(env, admin, "web")  # on no host: just marked deleted
    assert servers.list_servers(env, admin) == [] and counters(env.db) == before


def test_placed_then_deleted_gives_the_claim_back(fleet, admin):
    env = fleet
    add_instance(env, admin, "kvm-1", name="old")  # the host already holds a claim
    before = counters(env.db)
    assert before["kvm-1"] == (1, 256, 1, 1)
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny")
    entry_id = servers.schedule_and_record(env, admin, instance, host=host)
    after = counters(env.db)
    assert after == {**before, "kvm-1": (2, 512, 2, 2)}
    with env.db.session_scope() as s:  # the create finished (no boot on the test driver)
        journal.finish(s, entry_id)
        s.scalars(select(Instance).where(Instance.uuid == instance.uuid)).one().task_state = None
    servers.delete_server(env, admin, instance.uuid)
    assert counters(env.db) == before


def test_create_rolled_back_on_the_host_gives_the_claim_back(fleet, admin):
    """The test driver cannot take an upload: the create fails on the host and rolls back."""
    env = fleet
    add_instance(env, admin, "kvm-1", name="old")
    before = counters(env.db)
    with pytest.raises(Exception, match="virStorageVolUpload"):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    [server] = [v for v in servers.list_servers(env, admin) if v["name"] == "web"]
    assert (server["status"], server["host"]) == ("ERROR", None)
    assert server["fault"]["message"].startswith("create failed: cannot upload")
    assert counters(env.db) == before


def test_create_rolled_back_by_recovery_gives_the_claim_back(fleet, admin):
    env = fleet
    before = counters(env.db)
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny")
    entry_id = servers.schedule_and_record(env, admin, instance, host=host)
    assert counters(env.db)["kvm-1"] == (1, 256, 1, 1)
    with env.db.session_scope() as s:  # the controller died before the host-side steps
        s.get_one(JournalEntry, entry_id).owner = DEAD
    [done] = journal.recover(env)
    assert (done.operation, done.state) == ("create", "rolled-back")
    assert servers.show_server(env, admin, instance.uuid)["status"] == "ERROR"
    assert counters(env.db) == before


def test_named_host_is_the_only_one_considered(fleet, admin):
    env = fleet
    add_host(env.db, "kvm-2", ram_mib=65536, last_heartbeat=datetime.now(timezone.utc))
    instance, host = servers.new_instance(env, admin, "any", image="linux", flavor="tiny")
    servers.schedule_and_record(env, admin, instance, host=host)
    assert servers.show_server(env, admin, instance.uuid)["host"] == "kvm-2"  # most free RAM
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny",
                                          host="kvm-1")
    assert host == "kvm-1"
    servers.schedule_and_record(env, admin, instance, host=host)
    assert servers.show_server(env, admin, instance.uuid)["host"] == "kvm-1"
