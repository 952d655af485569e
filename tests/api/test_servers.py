"""Servers through the API against a live kumo serve whose host is libvirt's test:/// driver
(inside the serve process): what is refused, and a failed build's fault. The full lifecycle on
the real libvirtd: tests/e2e/test_api_servers.py."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.live import add_catalog


@pytest.fixture(scope="module")
def cloud(live, tmp_path_factory):
    return add_catalog(live, tmp_path_factory.mktemp("srv"), "test-1",
                       {"srv-linux": "linux"}, "srv.tiny")


def test_a_failed_build_is_error_with_its_fault(cloud):
    """libvirt's test driver cannot upload volumes: the build fails on the host after the
    202, and the API shows the server ERROR with the host's reason (the real boot is the e2e
    test, tests/e2e/test_api_servers.py)."""
    live = cloud
    created = live.openstack("server", "create", "--image", "srv-linux", "--flavor", "srv.tiny",
                             "doomed")
    server_id = created["id"]
    admin = {"X-Auth-Token": live.token()}
    for _ in range(100):
        server = httpx.get(f"{live.url}/compute/v2.1/servers/{server_id}",
                           headers=admin).json()["server"]
        if server["status"] != "BUILD":
            break
        time.sleep(0.1)
    assert server["status"] == "ERROR"
    assert "virStorageVolUpload" in server["fault"]["message"]
    live.openstack("server", "delete", "--wait", server_id, json_out=False)
    assert live.openstack("server", "list") == []


@pytest.mark.parametrize("server, status, words", [
    ({"name": "x", "imageRef": "nope", "flavorRef": "srv.tiny"}, 404, "image"),
    ({"name": "x", "imageRef": "srv-linux", "flavorRef": "nope"}, 404, "flavor"),
    ({"name": "", "imageRef": "srv-linux", "flavorRef": "srv.tiny"}, 400, "server.name"),
    ({"name": "x", "flavorRef": "srv.tiny"}, 400, "server.imageRef is required"),
    ({"name": "x", "imageRef": "srv-linux", "flavorRef": "srv.tiny", "max_count": 5}, 400,
     "server.max_count"),
    ({"name": "x", "flavorRef": "srv.tiny", "block_device_mapping_v2": [
        {"uuid": "srv-linux", "source_type": "image", "destination_type": "volume",
         "boot_index": 0, "volume_size": 1}]}, 400,
     "server.block_device_mapping_v2[0] (source_type 'image', destination_type 'volume') is "
     "not supported: kumo boots a server from its image on the host's local disk and has no "
     "volumes"),
    ({"name": "x", "imageRef": "srv-linux", "flavorRef": "srv.tiny", "block_device_mapping_v2": [
        {"source_type": "blank", "destination_type": "local", "volume_size": 1}]}, 400,
     "server.block_device_mapping_v2[0] (source_type 'blank', destination_type 'local') is "
     "not supported"),
], ids=["unknown-image", "unknown-flavor", "empty-name", "no-image", "many", "bdm-volume",
        "bdm-blank"])
def test_bad_server_create_is_4xx_and_records_nothing(cloud, server, status, words):
    live = cloud
    alice = live.token("alice", "alice-secret-1", "demo")
    h = {"X-Auth-Token": alice}
    r = httpx.post(f"{live.url}/compute/v2.1/servers", headers=h, json={"server": server})
    assert r.status_code == status, r.text
    message = next(iter(r.json().values()))["message"]
    assert words in message
    assert httpx.get(f"{live.url}/compute/v2.1/servers", headers=h).json()["servers"] == []


def test_boot_from_volume_is_refused_not_dropped(cloud):
    """`openstack server create --boot-from-volume` asks for a volume kumo cannot make: refused
    with the reason, nothing recorded (it used to boot a local disk, the volume dropped)."""
    live = cloud
    r = live.client("openstack", "server", "create", "--image", "srv-linux", "--flavor",
                    "srv.tiny", "--boot-from-volume", "1", "bfv")
    assert r.returncode != 0
    assert "destination_type 'volume') is not supported" in r.stderr, r.stderr
    assert live.openstack("server", "list") == []


def test_unknown_action_is_400(cloud):
    live = cloud
    h = {"X-Auth-Token": live.token()}
    r = httpx.post(f"{live.url}/compute/v2.1/servers/whatever/action", headers=h,
                   json={"shelve": None})  # (migrate was here until kumo served it)
    assert r.status_code == 400
    assert "shelve" in r.json()["badRequest"]["message"]


def test_nova_boot_list_show_delete(cloud):
    """novaclient (2.latest = 2.95 here, the legacy header below 2.27 too): boot, list, show,
    delete. The build itself fails on test:/// (see above); nova boot does not wait."""
    live = cloud
    r = live.client("nova", "boot", "--image", "srv-linux", "--flavor", "srv.tiny", "nova-vm")
    assert r.returncode == 0, r.stderr + live.tail()
    assert "nova-vm" in r.stdout
    r = live.client("nova", "list")
    assert r.returncode == 0 and "nova-vm" in r.stdout, r.stderr
    r = live.client("nova", "show", "nova-vm")
    assert r.returncode == 0 and "srv.tiny" in r.stdout, r.stderr
    r = live.client("nova", "--os-compute-api-version", "2.1", "flavor-list")
    assert r.returncode == 0 and "srv.tiny" in r.stdout, r.stderr
    r = live.client("nova", "delete", "nova-vm")
    assert r.returncode == 0, r.stderr
    assert live.openstack("server", "list") == []


def test_an_action_records_who_asked(cloud):
    """os-instance-actions' user_id and project_id are the requester's, as the journal records
    them: alice's create (it fails on test:///, an action all the same), shown by `openstack
    server event show` to her and to an admin."""
    from sqlalchemy import select

    from kumo.db import Database
    from kumo.db.models import JournalEntry, Project, User

    live = cloud
    created = live.openstack("server", "create", "--image", "srv-linux", "--flavor",
                             "srv.tiny", "asked-by-alice", cloud="alice")
    db = Database(f"sqlite:///{live.base / 'data' / 'kumo.db'}")
    try:
        with db.session_scope(readonly=True) as s:
            alice = s.scalar(select(User.id).where(User.name == "alice"))
            demo = s.scalar(select(Project.id).where(Project.name == "demo"))
            entry = s.scalar(select(JournalEntry).where(
                JournalEntry.instance_uuid == created["id"], JournalEntry.operation == "create"))
        assert (entry.user_id, entry.project_id) == (alice, demo)
        for who in ("alice", "admin"):
            (listed,) = live.openstack("server", "event", "list", "--long", created["id"],
                                       cloud=who)
            assert (listed["Request ID"], listed["Action"], listed["User ID"],
                    listed["Project ID"]) == (entry.request_id, "create", alice, demo)
            shown = live.openstack("server", "event", "show", created["id"], entry.request_id,
                                   cloud=who)
            assert (shown["user_id"], shown["project_id"]) == (alice, demo)
    finally:
        db.dispose()
        live.openstack("server", "delete", "--wait", created["id"], json_out=False)
