"""A server created through the OpenStack API really runs on the local libvirtd: the
unmodified openstack client against a live kumo serve: server create --wait, list, show,
reboot --hard, stop, start, delete; another project's server is 404."""

from __future__ import annotations

import httpx
import pytest

from kumo.compute import naming
from tests.api.live import start, stop
from tests.e2e.serve_support import clean_up, make_cloud

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(tmp_path_factory, system_libvirt):
    base = tmp_path_factory.mktemp("api-e2e")
    cloud = make_cloud(base, system_libvirt)
    server = None
    try:
        server = start(base, cloud.environ)
        yield server, cloud
    finally:
        if server is not None:
            stop(server)
        clean_up(cloud)


def test_openstack_server_lifecycle_on_the_real_libvirtd(live):
    live, cloud = live
    created = live.openstack("server", "create", "--image", "linux", "--flavor", "tiny",
                             "--wait", "api-web")
    server_id = created["id"]
    assert created["status"] == "ACTIVE"
    assert cloud.conn.domain_state(naming.domain_name(server_id)) == "running"

    listed = live.openstack("server", "list")
    assert [(s["ID"], s["Name"], s["Status"]) for s in listed] == [
        (server_id, "api-web", "ACTIVE")]
    shown = live.openstack("server", "show", "api-web")
    assert shown["id"] == server_id and shown["OS-EXT-SRV-ATTR:host"] == "local"

    live.openstack("server", "reboot", "--hard", "--wait", "api-web", json_out=False)
    live.openstack("server", "stop", "api-web", json_out=False)
    assert live.openstack("server", "show", server_id)["status"] == "SHUTOFF"
    live.openstack("server", "start", "api-web", json_out=False)
    assert live.openstack("server", "show", server_id)["status"] == "ACTIVE"

    # another project's member: 404 by id, an empty list, and no delete
    bob = live.token("bob", "bob-secret-1", "other")
    r = httpx.get(f"{live.url}/compute/v2.1/servers/{server_id}", headers={"X-Auth-Token": bob})
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
    assert live.openstack("server", "list", cloud="bob") == []
    assert live.client("openstack", "server", "delete", server_id, cloud="bob").returncode != 0

    live.openstack("server", "delete", "--wait", "api-web", json_out=False)
    assert live.openstack("server", "list") == []


def test_openstacksdk_create_server_and_wait(live):
    import openstack

    live, cloud = live
    auth = live.clouds["admin"]["auth"]
    conn = openstack.connect(load_yaml_config=False, load_envvars=False, auth=auth,
                             region_name="RegionOne", identity_api_version="3")
    try:
        image = conn.image.find_image("linux", ignore_missing=False)
        flavor = conn.compute.find_flavor("tiny", ignore_missing=False)
        server = conn.compute.create_server(name="sdk-web", image_id=image.id,
                                            flavor_id=flavor.id, networks="none")
        server = conn.compute.wait_for_server(server, status="ACTIVE", wait=300)
        assert (server.name, server.status) == ("sdk-web", "ACTIVE")
        assert cloud.conn.domain_state(naming.domain_name(server.id)) == "running"
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
    finally:
        conn.close()


def test_openstack_server_rebuild_on_the_real_libvirtd(live):
    live, cloud = live
    created = live.openstack("server", "create", "--image", "linux", "--flavor", "tiny",
                             "--wait", "api-rebuild")
    server_id = created["id"]

    refused = live.client("openstack", "server", "rebuild", "--image", "linux", "--name",
                          "other", server_id)
    assert refused.returncode != 0
    assert "rebuild with name is not supported" in refused.stderr, refused.stderr

    live.openstack("server", "rebuild", "--image", "linux", "--wait", server_id, json_out=False)
    shown = live.openstack("server", "show", server_id)
    assert (shown["name"], shown["status"]) == ("api-rebuild", "ACTIVE")
    assert cloud.conn.domain_state(naming.domain_name(server_id)) == "running"
    actions = [e["Action"] for e in live.openstack("server", "event", "list", server_id)]
    assert actions.count("rebuild") == 1 and "create" in actions, actions
    live.openstack("server", "delete", "--wait", server_id, json_out=False)
