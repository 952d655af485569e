"""os-hypervisors, os-services, os-aggregates and os-instance-actions against a live kumo serve,
driven by the unmodified clients: `openstack hypervisor list/show`, `nova hypervisor-servers`,
`openstack compute service list/set --down/--disable`, `openstack aggregate create/add
host/set --property/show/remove host/delete`, `openstack server event list/show`; every one
admin-only but the events, as in Nova's default policy."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from kumo.compute import naming
from kumo.compute.states import now
from kumo.db import Database
from kumo.db.models import Host, Instance, JournalEntry, Project
from tests.api.live import ALICE_PASSWORD, start, stop
from tests.support.hosts import add_host

HOSTS = ("rack-34", "rack-340", "rack-341", "edge-1")
SERVER = "22222222-2222-2222-2222-222222222222"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """A kumo serve of its own: these tests force hosts down and group them."""
    live = start(tmp_path_factory.mktemp("hosts-api"))
    try:
        db = Database(f"sqlite:///{live.base / 'data' / 'kumo.db'}")
        for i, name in enumerate(HOSTS):
            add_host(db, name, uri=f"test:///{name}", last_heartbeat=now() + timedelta(days=1))
        with db.session_scope() as s:
            demo = s.scalar(select(Project.id).where(Project.name == "demo"))
            host = s.scalar(select(Host).where(Host.name == "rack-34"))
            host.hypervisor_version = "7.2.0"
            s.add(Instance(uuid=SERVER, name="web-1", project_id=demo, user_id="alice",
                           host_id=host.id, node=host.name, vcpus=1, ram_mib=64, disk_gib=1,
                           flavor_name="tiny", vm_state="active", power_state=1,
                           fault_code=500, fault_reason="reboot failed on rack-34: timeout",
                           fault_details="on rack-34"))
        live.db = db
        yield live
        db.dispose()
    finally:
        stop(live)


def h(live, user="admin", password=None, project="admin") -> dict[str, str]:
    """Headers of a token of ``user`` at the latest microversion, as the clients ask."""
    return {"X-Auth-Token": live.token(user, password or "admin-secret-1", project),
            "OpenStack-API-Version": "compute latest"}


# --- hypervisors ---------------------------------------------------------------------------------

def test_openstack_hypervisor_list_and_show(cloud):
    live = cloud
    listed = live.openstack("hypervisor", "list")
    assert sorted(r["Hypervisor Hostname"] for r in listed) == sorted(HOSTS)
    assert {r["State"] for r in listed} == {"up"}
    shown = live.openstack("hypervisor", "show", "rack-34")
    with live.db.session_scope(readonly=True) as s:
        uuid = s.scalar(select(Host.uuid).where(Host.name == "rack-34"))
    assert (shown["id"], shown["hypervisor_hostname"], shown["service_host"],
            shown["service_id"], shown["hypervisor_version"], shown["status"]) == (
        uuid, "rack-34", "rack-34", uuid, 7002000, "enabled")


def test_hypervisor_show_and_stats_below_2_88(cloud):
    """Below 2.88 `hypervisor show` also asks for the uptime, which kumo does not know: Nova's
    answer for a virt driver without one (501) is the one the client tolerates. The statistics
    are the sums of the detail view's fields; both routes are gone from 2.88."""
    live = cloud
    shown = live.openstack("--os-compute-api-version", "2.87", "hypervisor", "show", "rack-34")
    assert (shown["hypervisor_hostname"], shown["vcpus"]) == ("rack-34", 8)
    assert "uptime" not in shown or shown["uptime"] in (None, "")
    old = {**h(live), "OpenStack-API-Version": "compute 2.87"}
    detail = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors/detail", headers=old).json()
    fields = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
              "local_gb_used", "running_vms")
    want = {k: sum(x[k] for x in detail["hypervisors"]) for k in fields}
    stats = live.openstack("--os-compute-api-version", "2.87", "hypervisor", "stats", "show")
    assert {k: stats[k] for k in fields} == want and stats["count"] == len(HOSTS)
    assert stats["free_ram_mb"] == want["memory_mb"] - want["memory_mb_used"]
    uuid = detail["hypervisors"][0]["id"]
    r = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors/{uuid}/uptime", headers=old)
    assert (r.status_code, r.json()) == (501, {"notImplemented": {
        "message": "Virt driver does not implement uptime function.", "code": 501}})
    new = {**h(live), "OpenStack-API-Version": "compute 2.88"}
    for path in ("statistics", f"{uuid}/uptime"):
        r = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors/{path}", headers=new)
        assert r.status_code == 404, (path, r.text)
    member = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors/statistics",
                       headers={**h(live, "alice", "alice-secret-1", "demo"),
                                "OpenStack-API-Version": "compute 2.87"})
    assert member.status_code == 403


def test_nova_hypervisor_servers_is_a_substring_search(cloud):
    """Nova's search is a substring match, so `nova hypervisor-servers rack-34` prints the
    hypervisors rack-34, rack-340 and rack-341 (seed 002's danger: only the client's --strict,
    or kumo's exact names, tell them apart)."""
    live = cloud
    r = live.client("nova", "hypervisor-servers", "rack-34")
    assert r.returncode == 0, r.stderr + live.tail()
    assert naming.domain_name(SERVER) in r.stdout
    r = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors",
                  params={"hypervisor_hostname_pattern": "rack-34", "with_servers": "True"},
                  headers=h(live))
    body = r.json()["hypervisors"]
    assert [x["hypervisor_hostname"] for x in body] == ["rack-34", "rack-340", "rack-341"]
    assert body[0]["servers"] == [{"uuid": SERVER, "name": naming.domain_name(SERVER)}]
    assert "servers" not in body[1]  # as Nova: no key for a hypervisor without servers
    r = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors",
                  params={"hypervisor_hostname_pattern": "nowhere"}, headers=h(live))
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == \
        "No hypervisor matching 'nowhere' could be found."
    r = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors",
                  params={"hypervisor_hostname_pattern": "rack", "limit": "1"}, headers=h(live))
    assert r.status_code == 400 and "Paging over hypervisors" in r.json()["badRequest"]["message"]


@pytest.mark.parametrize("version, present, absent", [
    ("2.87", {"vcpus", "memory_mb", "running_vms", "local_gb_used"}, {"uptime"}),
    ("2.88", {"uptime", "hypervisor_type", "service"}, {"vcpus", "memory_mb", "running_vms"}),
], ids=["2.87-usage", "2.88-no-usage"])
def test_hypervisor_fields_follow_the_microversion(cloud, version, present, absent):
    live = cloud
    r = httpx.get(f"{live.url}/compute/v2.1/os-hypervisors/detail",
                  headers={**h(live), "OpenStack-API-Version": f"compute {version}"})
    assert r.status_code == 200, r.text
    first = r.json()["hypervisors"][0]
    assert present <= set(first) and not absent & set(first)


def test_legacy_search_route_below_2_53_only(cloud):
    live = cloud
    url = f"{live.url}/compute/v2.1/os-hypervisors/rack-34/servers"
    old = httpx.get(url, headers={**h(live), "OpenStack-API-Version": "compute 2.52"})
    assert [x["hypervisor_hostname"] for x in old.json()["hypervisors"]] == [
        "rack-34", "rack-340", "rack-341"]
    assert httpx.get(url, headers={**h(live), "OpenStack-API-Version": "compute 2.53"}
                     ).status_code == 404


# --- services ------------------------------------------------------------------------------------

def test_openstack_compute_service_list_and_set_down_up(cloud):
    live = cloud
    listed = live.openstack("compute", "service", "list")
    assert sorted((r["Host"], r["Binary"], r["Status"], r["State"]) for r in listed) == sorted(
        (name, "nova-compute", "enabled", "up") for name in HOSTS)
    # rack-34 is a substring of rack-340 and rack-341: the host filter is exact, so OSC finds one
    live.openstack("compute", "service", "set", "--down", "rack-34", "nova-compute",
                   json_out=False)
    with live.db.session_scope(readonly=True) as s:
        assert {n: d for n, d in s.execute(select(Host.name, Host.forced_down))} == {
            "rack-34": True, "rack-340": False, "rack-341": False, "edge-1": False}
        entry = s.scalars(select(JournalEntry).where(JournalEntry.operation == "host-fence")
                          .order_by(JournalEntry.id.desc())).first()
        assert (entry.step, entry.payload["host"], entry.payload["forced_down"]) == (
            "down", "rack-34", True)
    row = next(r for r in live.openstack("compute", "service", "list", "--long")
               if r["Host"] == "rack-34")
    assert (row["State"], row["Forced Down"]) == ("down", True)
    live.openstack("compute", "service", "set", "--up", "rack-34", "nova-compute",
                   json_out=False)
    with live.db.session_scope(readonly=True) as s:
        assert s.scalar(select(Host.forced_down).where(Host.name == "rack-34")) is False


def test_openstack_compute_service_disable_with_reason(cloud):
    live = cloud
    live.openstack("compute", "service", "set", "--disable", "--disable-reason", "bad DIMM",
                   "edge-1", "nova-compute", json_out=False)
    row = next(r for r in live.openstack("compute", "service", "list", "--long")
               if r["Host"] == "edge-1")
    assert (row["Status"], row["Disabled Reason"]) == ("disabled", "bad DIMM")
    live.openstack("compute", "service", "set", "--enable", "edge-1", "nova-compute",
                   json_out=False)
    with live.db.session_scope(readonly=True) as s:
        assert s.execute(select(Host.enabled, Host.disabled_reason).where(
            Host.name == "edge-1")).one() == (True, None)


@pytest.mark.parametrize("body, words", [
    ({"forced_down": "maybe"}, "forced_down"),
    ({"status": "disabled", "bogus": 1}, "bogus"),
    ({"status": "enabled", "disabled_reason": "x"},
     "disabled_reason is allowed only with status disabled"),
    ({}, "nothing to change"),
], ids=["not-bool", "unknown-field", "reason-with-enabled", "empty"])
def test_bad_service_update_is_400(cloud, body, words):
    live = cloud
    with live.db.session_scope(readonly=True) as s:
        uuid = s.scalar(select(Host.uuid).where(Host.name == "rack-341"))
    r = httpx.put(f"{live.url}/compute/v2.1/os-services/{uuid}", json=body, headers=h(live))
    assert r.status_code == 400, r.text
    assert words in r.json()["badRequest"]["message"]


# --- aggregates ----------------------------------------------------------------------------------

def test_openstack_aggregate_create_add_host_set_property(cloud):
    live = cloud
    created = live.openstack("aggregate", "create", "--zone", "az-win", "win-licensed")
    assert (created["name"], created["availability_zone"]) == ("win-licensed", "az-win")
    live.openstack("aggregate", "add", "host", "win-licensed", "edge-1")
    live.openstack("aggregate", "set", "--property", "os_type=windows", "--property",
                   "ram_allocation_ratio=1.5", "win-licensed", json_out=False)
    shown = live.openstack("aggregate", "show", "win-licensed")
    assert shown["hosts"] == ["edge-1"]
    assert shown["properties"] == {"os_type": "windows", "ram_allocation_ratio": "1.5"}
    r = live.client("openstack", "aggregate", "set", "--property", "cpu_allocation_ratio=lots",
                    "win-licensed")
    assert r.returncode != 0
    assert "cpu_allocation_ratio='lots' is invalid: the scheduler reads it as a ratio" in r.stderr
    # `hypervisor show` reads /os-aggregates too
    assert live.openstack("hypervisor", "show", "edge-1")["aggregates"] == ["win-licensed"]
    r = live.client("openstack", "aggregate", "delete", "win-licensed")
    assert r.returncode != 0 and "host aggregate is not empty (edge-1)" in r.stderr
    live.openstack("aggregate", "remove", "host", "win-licensed", "edge-1")
    live.openstack("aggregate", "delete", "win-licensed", json_out=False)
    assert live.openstack("aggregate", "list") == []


# --- instance actions ----------------------------------------------------------------------------

def test_openstack_server_event_list_and_show(cloud):
    live = cloud
    with live.db.session_scope() as s:
        s.add(JournalEntry(instance_uuid=SERVER, operation="reboot-hard", step="started",
                           state="done", request_id="req-11111111-aaaa-bbbb-cccc-000000000001",
                           payload={"host": "rack-34"}))
    listed = live.openstack("server", "event", "list", SERVER)
    assert [(e["Request ID"], e["Action"]) for e in listed] == [
        ("req-11111111-aaaa-bbbb-cccc-000000000001", "reboot-hard")]
    shown = live.openstack("server", "event", "show", SERVER,
                           "req-11111111-aaaa-bbbb-cccc-000000000001")
    assert shown["action"] == "reboot-hard"
    (event,) = shown["events"]
    assert (event["event"], event["result"], event["host"]) == (
        "compute_reboot_hard", "Success", "rack-34")
    # the owner's member sees the event, not the host
    alice = h(live, "alice", ALICE_PASSWORD, "demo")
    r = httpx.get(f"{live.url}/compute/v2.1/servers/{SERVER}/os-instance-actions/"
                  "req-11111111-aaaa-bbbb-cccc-000000000001", headers=alice)
    assert r.status_code == 200, r.text
    (event,) = r.json()["instanceAction"]["events"]
    assert "host" not in event and "rack-34" not in r.text
    assert event["hostId"] != ""


# --- who may ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", [
    ("GET", "/os-hypervisors", None), ("GET", "/os-hypervisors/detail", None),
    ("GET", "/os-services", None), ("GET", "/os-aggregates", None),
    ("POST", "/os-aggregates", {"aggregate": {"name": "sneaky"}}),
], ids=["hypervisors", "hypervisors-detail", "services", "aggregates", "aggregate-create"])
def test_admin_only_for_members(cloud, method, path, body):
    live = cloud
    r = httpx.request(method, f"{live.url}/compute/v2.1{path}", json=body,
                      headers=h(live, "alice", ALICE_PASSWORD, "demo"))
    assert r.status_code == 403, r.text
    assert "needs the 'admin' role" in r.json()["forbidden"]["message"]


def test_member_via_openstack_client_is_refused(cloud):
    r = cloud.client("openstack", "hypervisor", "list", cloud="alice")
    assert r.returncode != 0 and "ForbiddenException: 403" in r.stderr


def test_a_member_never_sees_the_host_name(cloud):
    """The server view is built for the caller: a member gets Nova's hostId (sha224 of project
    and host), none of the OS-EXT-SRV-ATTR fields, and no host name anywhere; the admin sees
    the host."""
    live = cloud
    alice = h(live, "alice", ALICE_PASSWORD, "demo")
    with live.db.session_scope(readonly=True) as s:
        demo = s.scalar(select(Project.id).where(Project.name == "demo"))
    for path in (f"/servers/{SERVER}", "/servers/detail"):
        r = httpx.get(f"{live.url}/compute/v2.1{path}", headers=alice)
        assert r.status_code == 200
        assert "rack-34" not in r.text
        server = r.json()["server"] if "server" in r.json() else r.json()["servers"][0]
        assert not [k for k in server if k.startswith("OS-EXT-SRV-ATTR:")]
        assert server["hostId"] == hashlib.sha224(f"{demo}rack-34".encode()).hexdigest()
        assert server["fault"]["message"] == "reboot failed on a host: timeout"
    shown = live.openstack("server", "show", SERVER, cloud="alice")
    assert "rack-34" not in json.dumps(shown)
    admin = httpx.get(f"{live.url}/compute/v2.1/servers/{SERVER}", headers=h(live)).json()
    assert (admin["server"]["OS-EXT-SRV-ATTR:host"], admin["server"]["hostId"]) == (
        "rack-34", hashlib.sha224(f"{demo}rack-34".encode()).hexdigest())


# --- the kumo extension (/kumo/v1): the kumo command against a remote controller ----------------

@pytest.fixture(scope="module")
def catalog(cloud):
    live = cloud
    # (no --file: the client uploads its empty stdin, which only raw accepts)
    live.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                   "--public", "--property", "os_distro=windows", "ext-win")
    live.openstack("flavor", "create", "--vcpus", "2", "--ram", "4096", "--disk", "40",
                   "ext.medium")
    return live


def test_kumo_placement_explain_os_cloud(catalog):
    live = catalog
    r = live.kumo("placement", "explain", "--os-cloud", "admin", "--image", "ext-win",
                  "--flavor", "ext.medium", "-f", "json", check=False)
    assert r.returncode == 0, r.stderr + live.tail()
    doc = json.loads(r.stdout)
    assert (doc["image"]["name"], doc["flavor"]["name"]) == ("ext-win", "ext.medium")
    assert sorted(h["host"] for h in doc["hosts"]) == sorted(HOSTS)
    assert doc["chosen"] in HOSTS
    table = live.kumo("placement", "explain", "--os-cloud", "admin", "--image", "ext-win",
                      "--flavor", "ext.medium", "--host", "edge-1", check=False)
    assert table.returncode == 0, table.stderr
    assert "edge-1" in table.stdout and "rack-34 " not in table.stdout
    assert doc["summary"] in live.kumo("placement", "explain", "--os-cloud", "admin",
                                       "--image", "ext-win", "--flavor", "ext.medium",
                                       check=False).stdout


def test_kumo_placement_explain_os_cloud_as_a_member_is_refused(catalog):
    r = catalog.kumo("placement", "explain", "--os-cloud", "alice", "--image", "ext-win",
                     "--flavor", "ext.medium", check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("kumo: error: the controller answered 403: placement explain, "
                               "which shows every host's inventory")


def test_lint_through_the_api_as_a_reader(catalog):
    """Linting changes nothing: a reader of the project may lint an image it sees."""
    live = catalog
    token = live.token("rita", "rita-secret-1", "demo")
    r = httpx.post(f"{live.url}/kumo/v1/lint", headers={"X-Auth-Token": token},
                   json={"image": "ext-win", "flavor": "ext.medium"})
    assert r.status_code == 200, r.text
    assert "os-type-missing" in {f["id"] for f in r.json()["findings"]}
    r = httpx.post(f"{live.url}/kumo/v1/lint", headers={"X-Auth-Token": token},
                   json={"image": {"name": "w", "os_type": "windows", "hw_disk_bus": "floppy"}})
    assert r.status_code == 400 and "hw_disk_bus" in r.json()["error"]["message"]


# --- os-services below 2.53: actions naming the service by host and binary ----------------------

def test_nova_legacy_service_actions(cloud):
    """novaclient below 2.53 says `PUT /os-services/disable|disable-log-reason|enable|
    force-down` with host and binary, as Nova served it before service ids."""
    live = cloud

    def nova(*args: str) -> str:
        r = live.client("nova", *args)
        assert r.returncode == 0, r.stderr + live.tail()
        return r.stdout

    def service() -> dict:
        (row,) = live.openstack("compute", "service", "list", "--host", "rack-341", "--long")
        return row

    # (novaclient names the binary itself: nova-compute)
    out = nova("--os-compute-api-version", "2.52", "service-disable", "--reason",
               "new disks", "rack-341")
    assert "new disks" in out
    assert (service()["Status"], service()["Disabled Reason"]) == ("disabled", "new disks")
    nova("--os-compute-api-version", "2.52", "service-enable", "rack-341")
    assert service()["Status"] == "enabled"
    nova("--os-compute-api-version", "2.11", "service-force-down", "rack-341")
    assert (service()["State"], service()["Forced Down"]) == ("down", True)
    nova("--os-compute-api-version", "2.11", "service-force-down", "--unset", "rack-341")
    assert (service()["State"], service()["Forced Down"]) == ("up", False)


@pytest.mark.parametrize("version, path, body, status, words", [
    ("2.52", "/os-services/disable", {"host": "nowhere", "binary": "nova-compute"}, 404,
     "Service nova-compute on host nowhere could not be found."),
    ("2.52", "/os-services/reboot", {"host": "rack-341", "binary": "nova-compute"}, 404,
     "allowed disable, disable-log-reason, enable"),
    ("2.10", "/os-services/force-down", {"host": "rack-341", "binary": "nova-compute",
                                         "forced_down": True}, 404, "force-down from 2.11"),
    ("2.52", "/os-services/disable-log-reason", {"host": "rack-341",
                                                 "binary": "nova-compute"}, 400,
     "disabled_reason goes with disable-log-reason"),
    ("2.52", "/os-services/enable", {"host": "rack-341"}, 400, "needs host and binary"),
    ("2.53", "/os-services/disable", {"host": "rack-341", "binary": "nova-compute"}, 400,
     "host and binary name the service below microversion 2.53 only"),
], ids=["unknown-host", "unknown-action", "force-down-too-early", "no-reason", "no-binary",
        "gone-at-2.53"])
def test_legacy_service_actions_refused(cloud, version, path, body, status, words):
    live = cloud
    r = httpx.put(f"{live.url}/compute/v2.1{path}", json=body,
                  headers={**h(live), "OpenStack-API-Version": f"compute {version}"})
    assert r.status_code == status, r.text
    assert words in next(iter(r.json().values()))["message"]
