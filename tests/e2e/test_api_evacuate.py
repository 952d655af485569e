"""The Compute API's server evacuate action, driven by the unmodified clients against a live
kumo serve whose target host is the machine's libvirtd (issue 14): ``openstack server evacuate
--wait`` and ``nova evacuate`` move servers off XXXX-HOST-YYYY34 once it is down and fenced;
a server of a host that is up (its neighbour XXXX-HOST-YYYY340) or of a host not fenced is
refused 409 with the reason and stays where it is.

XXXX-HOST-YYYY34 and 340 are host records whose daemons are gone (never contacted: evacuation
does not ask the failed host); servers are recorded on them as their creates left them. The
running one boots the tiny guest on qemu:///system; the stopped one is defined and left off
(as Nova keeps vm_state).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import pytest
from sqlalchemy import update

from kumo.compute import naming
from kumo.db.models import Host
from tests.api.live import start, stop
from tests.e2e.evacuation_support import make_cloud
from tests.support.hosts import add_host

pytestmark = pytest.mark.e2e

FAILED, NEIGHBOUR = "XXXX-HOST-YYYY34", "XXXX-HOST-YYYY340"
OTHERS = [f"XXXX-HOST-YYYY34{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def world(tmp_path_factory, system_libvirt):
    base = tmp_path_factory.mktemp("api-evacuate")
    cloud = make_cloud(base, system_libvirt)
    server = None
    try:
        for name in (FAILED, NEIGHBOUR, *OTHERS):
            add_host(cloud.env.db, name, f"qemu+unix:///system?socket={base}/{name}.sock")
        ids = {"run": cloud.record_on(FAILED, "api-run", "linux", "active"),
               "off": cloud.record_on(FAILED, "api-off", "linux", "stopped"),
               "near": cloud.record_on(NEIGHBOUR, "api-near", "linux", "active"),
               "third": cloud.record_on(FAILED, "api-third", "linux", "stopped"),
               **{f"on-{h[-3:]}": cloud.record_on(h, f"api-{h[-3:]}", "linux", "stopped")
                  for h in OTHERS}}
        server = start(base, cloud.environ)
        yield server, cloud, ids
    finally:
        if server is not None:
            stop(server)
        cloud.close()


def liveness(cloud, name: str, state: str) -> None:
    with cloud.env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name == name).values(
            liveness=state, liveness_checked_at=datetime.now(timezone.utc)))


def status(live, server_id: str) -> dict:
    r = httpx.get(f"{live.url}/compute/v2.1/servers/{server_id}",
                  headers={"X-Auth-Token": live.token()})
    return r.json()["server"]


def settled(live, server_id: str, timeout_s: float = 120) -> dict:
    """The server once its evacuation's rebuild (a worker thread of kumo serve) is over."""
    deadline = time.monotonic() + timeout_s
    while True:
        server = status(live, server_id)
        if server["status"] not in ("BUILD", "REBUILD") or time.monotonic() > deadline:
            return server
        time.sleep(0.5)


def test_evacuate_through_the_clients(world):
    live, cloud, ids = world
    liveness(cloud, NEIGHBOUR, "up")
    liveness(cloud, FAILED, "down")

    # not fenced yet: refused, nothing moves (nova shows the 409 as ERROR (Conflict))
    # (by id: the servers were recorded by the controller, not in the API admin's project)
    r = live.client("nova", "evacuate", ids["off"])
    assert r.returncode != 0
    assert "ERROR (Conflict)" in r.stderr and "not confirmed fenced" in r.stderr, r.stderr
    assert status(live, ids["off"])["OS-EXT-SRV-ATTR:host"] == FAILED

    assert live.kumo("host", "set", FAILED, "--down", "--reason", "IPMI off").returncode == 0
    # (no --wait: this openstackclient compares the lowered status with 'ACTIVE' and would
    # wait forever, whatever the cloud)
    shown = live.openstack("server", "evacuate", ids["run"])
    assert shown["id"] == ids["run"]
    after = settled(live, ids["run"])
    assert (after["status"], after["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "local")
    assert cloud.conn.domain_state(naming.domain_name(ids["run"])) == "running"

    r = live.client("nova", "evacuate", ids["off"])
    assert r.returncode == 0, r.stderr + live.tail()
    after = settled(live, ids["off"])
    assert (after["status"], after["OS-EXT-SRV-ATTR:host"]) == ("SHUTOFF", "local")
    assert cloud.conn.domain_state(naming.domain_name(ids["off"])) == "shutoff"

    # a server of a host that is up: refused, untouched
    r = live.client("openstack", "server", "evacuate", ids["near"])
    assert r.returncode != 0
    assert f"host '{NEIGHBOUR}' is up" in r.stderr, r.stderr
    near = status(live, ids["near"])
    assert (near["status"], near["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", NEIGHBOUR)

    # Nova's other refusals: a target that is the source (400), an unknown target (404), a
    # member (403); the server stays where it is
    url = f"{live.url}/compute/v2.1/servers/{ids['third']}/action"
    h = {"X-Auth-Token": live.token()}
    r = httpx.post(url, headers=h, json={"evacuate": {"host": FAILED}})
    assert r.status_code == 400 and "that is the host it is on" in r.text, r.text
    r = httpx.post(url, headers=h, json={"evacuate": {"host": "XXXX-HOST-YYYY3"}})
    assert r.status_code == 404 and "nearest: XXXX-HOST-YYYY34" in r.text, r.text
    alice = {"X-Auth-Token": live.token("alice", "alice-secret-1", "demo")}
    assert httpx.post(url, headers=alice, json={"evacuate": {}}).status_code in (403, 404)
    assert status(live, ids["third"])["OS-EXT-SRV-ATTR:host"] == FAILED


def placement(cloud) -> dict[str, str]:
    from kumo.db.models import Instance

    with cloud.env.db.session_scope(readonly=True) as s:
        return {i.uuid: i.node for i in s.query(Instance).filter(Instance.deleted.is_(False))}


def test_nova_host_evacuate_strict_and_plain_touch_only_34(world):
    """Seed 002: `nova host-evacuate XXXX-HOST-YYYY34` finds 34 and 340-349 (Nova's hypervisor
    search is a substring match). With --strict novaclient keeps 34 alone; without it, it asks
    to evacuate every server of all eleven, and kumo refuses those of the hosts that are up."""
    live, cloud, ids = world
    for name in (NEIGHBOUR, *OTHERS):
        liveness(cloud, name, "up")
    liveness(cloud, FAILED, "down")
    if live.kumo("host", "show", FAILED, "-f", "json").stdout.find('"forced_down": true') < 0:
        assert live.kumo("host", "set", FAILED, "--down").returncode == 0
    before = placement(cloud)
    on_34 = [u for u, h in before.items() if h == FAILED]
    assert on_34  # the earlier test left api-third there, or this one runs alone
    r = live.client("nova", "host-evacuate", "--strict", FAILED)
    assert r.returncode == 0, r.stderr + live.tail()
    for uuid in on_34:
        assert settled(live, uuid)["OS-EXT-SRV-ATTR:host"] == "local"
    after = placement(cloud)
    assert {u: h for u, h in after.items() if u not in on_34} == \
        {u: h for u, h in before.items() if u not in on_34}

    # plain host-evacuate: the substring match names 340-349 too; only 34's server moves
    plain = cloud.record_on(FAILED, "api-plain", "linux", "stopped")
    before = placement(cloud)
    r = live.client("nova", "host-evacuate", FAILED)
    assert r.returncode == 0, r.stderr + live.tail()
    assert settled(live, plain)["OS-EXT-SRV-ATTR:host"] == "local"
    after = placement(cloud)
    assert {u: h for u, h in after.items() if u != plain} == \
        {u: h for u, h in before.items() if u != plain}
    # novaclient's table: 34's server accepted, every neighbour's refused with the reason
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("| ") and "Server UUID" not in ln]
    accepted = {ln.split("|")[1].strip(): ln.split("|")[2].strip() for ln in rows}
    assert accepted[plain] == "True"
    neighbours = {u for u, h in before.items() if h in (NEIGHBOUR, *OTHERS)}
    assert {u: accepted[u] for u in neighbours} == {u: "False" for u in neighbours}
    assert r.stdout.count("is up (it answered at") == len(neighbours)
