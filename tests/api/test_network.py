"""The Networking v2.0 subset against a live kumo serve, with the unmodified openstack client:
network and subnet create/list/show/delete, security groups and rules, a server created with
--network NAME getting a port (its address in server show and port list), and the refusals."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from kumo.db import Database
from tests.support.hosts import add_host


@pytest.fixture(scope="module")
def cloud(live, tmp_path_factory):
    db = Database(f"sqlite:///{live.base / 'data' / 'kumo.db'}")
    add_host(db, "net-test-1")
    db.dispose()
    disk = tmp_path_factory.mktemp("net") / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    live.openstack("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                   "--file", str(disk), "--public", "--property", "os_type=linux", "net-linux")
    live.openstack("flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "net.tiny")
    return live


def test_network_subnet_and_server_with_network(cloud):
    live = cloud
    net = live.openstack("network", "create", "api-net")
    assert (net["name"], net["status"], net["subnets"]) == ("api-net", "ACTIVE", [])
    subnet = live.openstack("subnet", "create", "--network", "api-net", "--subnet-range",
                            "10.60.0.0/28", "api-sub")
    assert (subnet["cidr"], subnet["gateway_ip"], subnet["network_id"]) == (
        "10.60.0.0/28", "10.60.0.1", net["id"])
    assert subnet["allocation_pools"] == [{"start": "10.60.0.2", "end": "10.60.0.14"}]
    listed = live.openstack("network", "list")
    assert [(n["Name"], n["Subnets"]) for n in listed if n["Name"] == "api-net"] == [
        ("api-net", [subnet["id"]])]
    shown = live.openstack("network", "show", "api-net")
    assert shown["id"] == net["id"]

    server = live.openstack("server", "create", "--image", "net-linux", "--flavor", "net.tiny",
                            "--network", "api-net", "net-web")
    token = {"X-Auth-Token": live.token()}
    for _ in range(100):  # the test driver cannot upload volumes: the build fails on the host
        body = httpx.get(f"{live.url}/compute/v2.1/servers/{server['id']}",
                         headers=token).json()["server"]
        if body["status"] != "BUILD":
            break
        time.sleep(0.1)
    assert body["status"] == "ERROR"
    # ... and gives its port back (the create gave up)
    assert live.openstack("port", "list", "--network", "api-net") == []
    r = httpx.post(f"{live.url}/compute/v2.1/servers", headers=token, json={"server": {
        "name": "x", "imageRef": "net-linux", "flavorRef": "net.tiny",
        "networks": [{"port": "abc"}]}})
    assert r.status_code == 400 and "networks[0].port is not supported" in r.text
    live.openstack("server", "delete", "--wait", server["id"], json_out=False)

    live.openstack("subnet", "delete", "api-sub", json_out=False)
    live.openstack("network", "delete", "api-net", json_out=False)
    assert [n for n in live.openstack("network", "list") if n["Name"] == "api-net"] == []


def test_security_groups(cloud):
    live = cloud
    group = live.openstack("security", "group", "create", "web")
    assert group["name"] == "web"
    rule = live.openstack("security", "group", "rule", "create", "--protocol", "tcp",
                          "--dst-port", "22", "--remote-ip", "10.0.0.0/8", "web")
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"],
            rule["remote_ip_prefix"], rule["direction"]) == ("tcp", 22, 22, "10.0.0.0/8",
                                                            "ingress")
    rules = live.openstack("security", "group", "rule", "list", "web")
    assert rule["id"] in [r["ID"] for r in rules]
    names = [g["Name"] for g in live.openstack("security", "group", "list")]
    assert "default" in names and "web" in names
    live.openstack("security", "group", "rule", "delete", rule["id"], json_out=False)
    live.openstack("security", "group", "delete", "web", json_out=False)


def test_refusals(cloud):
    live = cloud
    h = {"X-Auth-Token": live.token()}
    r = httpx.get(f"{live.url}/network/v2.0/networks/nope", headers=h)
    assert r.status_code == 404
    live.openstack("network", "create", "api-net3")
    net_id = live.openstack("network", "show", "api-net3")["id"]
    r = httpx.post(f"{live.url}/network/v2.0/subnets", headers=h, json={"subnet": {
        "network_id": net_id, "cidr": "10.62.0.1/24", "ip_version": 4}})
    assert r.status_code == 400 and "host bits are set" in r.text
    r = httpx.post(f"{live.url}/network/v2.0/subnets", headers=h, json={"subnet": {
        "network_id": net_id, "cidr": "fd00::/64", "ip_version": 6}})
    assert r.status_code == 400 and "ip_version 6 is invalid" in r.text
    r = httpx.post(f"{live.url}/network/v2.0/security-group-rules", headers=h, json={
        "security_group_rule": {"security_group_id": "nope", "direction": "ingress"}})
    assert r.status_code == 404
    live.openstack("network", "delete", "api-net3", json_out=False)
