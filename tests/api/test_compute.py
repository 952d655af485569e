"""Compute v2.1 against a live kumo serve: version document, microversion headers, flavors."""

from __future__ import annotations

import httpx
import pytest


def test_version_document_advertises_2_1_to_2_95(live):
    for path in ("/compute/v2.1", "/compute/v2.1/"):
        r = httpx.get(f"{live.url}{path}")
        assert r.status_code == 200
        v = r.json()["version"]
        assert (v["id"], v["min_version"], v["version"]) == ("v2.1", "2.1", "2.95")


@pytest.mark.parametrize("headers, status", [
    ({"OpenStack-API-Version": "compute 2.95"}, 200),
    ({"X-OpenStack-Nova-API-Version": "2.1"}, 200),
    ({"OpenStack-API-Version": "compute latest"}, 200),
    ({"OpenStack-API-Version": "compute 2.96"}, 406),
    ({"X-OpenStack-Nova-API-Version": "3.0"}, 406),
    ({"X-OpenStack-Nova-API-Version": "two"}, 406),
], ids=["new-header", "legacy-header", "latest", "above-max", "legacy-above", "garbage"])
def test_microversion_headers(live, headers, status):
    r = httpx.get(f"{live.url}/compute/v2.1/flavors/detail",
                  headers={"X-Auth-Token": live.token(), **headers})
    assert r.status_code == status, r.text
    if status == 406:
        assert "is not supported by the API. Minimum is 2.1 and maximum is 2.95" in \
            r.json()["notAcceptable"]["message"]


def test_openstack_flavor_lifecycle(live):
    created = live.openstack("flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1",
                             "m1.api")
    assert (created["name"], created["vcpus"], created["ram"], created["disk"]) == \
        ("m1.api", 1, 256, 1)
    assert "m1.api" in [f["Name"] for f in live.openstack("flavor", "list")]
    shown = live.openstack("flavor", "show", "m1.api")
    assert shown["id"] == created["id"] and shown["ram"] == 256
    # members see flavors too
    assert live.openstack("flavor", "show", created["id"], cloud="alice")["name"] == "m1.api"
    live.openstack("flavor", "delete", "m1.api", json_out=False)
    r = live.client("openstack", "flavor", "show", created["id"])
    assert r.returncode != 0
    assert "No Flavor found" in r.stderr


def test_flavor_create_by_a_member_is_403(live):
    r = live.client("openstack", "flavor", "create", "--vcpus", "1", "--ram", "64", "sneaky",
                    cloud="alice")
    assert r.returncode != 0
    assert "creating a flavor needs the 'admin' role" in r.stderr
    assert "ForbiddenException: 403" in r.stderr
    alice = live.token("alice", "alice-secret-1", "demo")
    r = httpx.post(f"{live.url}/compute/v2.1/flavors", headers={"X-Auth-Token": alice},
                   json={"flavor": {"name": "sneaky", "ram": 64, "vcpus": 1}})
    assert r.status_code == 403
    assert r.json()["forbidden"]["code"] == 403


@pytest.mark.parametrize("body, words", [
    ({"flavor": {"name": "x", "ram": 0, "vcpus": 1}}, "flavor.ram"),
    ({"flavor": {"name": "x", "ram": 64}}, "flavor.vcpus: Field required"),
    ({"flavor": {"name": "x", "ram": 64, "vcpus": 1, "bogus": 1}}, "flavor.bogus"),
    ({"flavor": {"name": "x", "ram": 64, "vcpus": 1, "swap": 512}}, "swap=512 is invalid"),
    ({"flavor": "x"}, "flavor"),
], ids=["ram-0", "no-vcpus", "unknown-field", "swap", "not-an-object"])
def test_bad_flavor_is_400_naming_the_field(live, body, words):
    r = httpx.post(f"{live.url}/compute/v2.1/flavors", json=body,
                   headers={"X-Auth-Token": live.token()})
    assert r.status_code == 400, r.text
    assert words in r.json()["badRequest"]["message"]


def test_unknown_flavor_and_unknown_path_are_nova_shaped_404(live):
    h = {"X-Auth-Token": live.token()}
    r = httpx.get(f"{live.url}/compute/v2.1/flavors/nope", headers=h)
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
    r = httpx.get(f"{live.url}/compute/v2.1/nothing-here", headers=h)
    assert r.status_code == 404 and "itemNotFound" in r.json()
