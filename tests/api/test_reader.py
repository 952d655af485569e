"""The reader role (Keystone's, Nova's and Glance's default "project reader" persona): a reader
of project demo reads what the project may see and changes nothing, on every router."""

from __future__ import annotations

import httpx
import pytest

from tests.api.live import ALICE_PASSWORD, RITA_PASSWORD


@pytest.fixture(scope="module")
def tokens(live):
    return {"rita": live.token("rita", RITA_PASSWORD, "demo"),
            "alice": live.token("alice", ALICE_PASSWORD, "demo")}


READS = [
    ("/identity/v3/auth/tokens", "subject"),
    ("/image/v2/images", None),
    ("/image/v2/schemas/image", None),
    ("/compute/v2.1/flavors/detail", None),
    ("/compute/v2.1/servers/detail", None),
    ("/compute/v2.1/servers", None),
]


@pytest.mark.parametrize("path, subject", READS, ids=[p for p, _ in READS])
def test_a_reader_reads(live, tokens, path, subject):
    headers = {"X-Auth-Token": tokens["rita"]}
    if subject:
        headers["X-Subject-Token"] = tokens["rita"]
    r = httpx.get(f"{live.url}{path}", headers=headers)
    assert r.status_code == 200, r.text


CHANGES = [
    ("POST", "/image/v2/images", {"name": "r", "disk_format": "qcow2",
                                  "container_format": "bare"}),
    ("PATCH", "/image/v2/images/00000000-0000-0000-0000-000000000000", []),
    ("DELETE", "/image/v2/images/00000000-0000-0000-0000-000000000000", None),
    ("PUT", "/image/v2/images/00000000-0000-0000-0000-000000000000/file", None),
    ("POST", "/compute/v2.1/flavors", {"flavor": {"name": "r", "ram": 64, "vcpus": 1}}),
    ("DELETE", "/compute/v2.1/flavors/1", None),
    ("POST", "/compute/v2.1/servers", {"server": {"name": "r", "imageRef": "x",
                                                  "flavorRef": "y"}}),
    ("DELETE", "/compute/v2.1/servers/00000000-0000-0000-0000-000000000000", None),
    ("POST", "/compute/v2.1/servers/00000000-0000-0000-0000-000000000000/action",
     {"os-stop": None}),
    ("POST", "/compute/v2.1/os-aggregates", {"aggregate": {"name": "r"}}),
    ("PUT", "/compute/v2.1/os-services/00000000-0000-0000-0000-000000000000",
     {"forced_down": True}),
]


@pytest.mark.parametrize("method, path, body", CHANGES,
                         ids=[f"{m}-{p.split('/')[1]}-{p.split('/')[-1]}" for m, p, _ in CHANGES])
def test_a_reader_changes_nothing(live, tokens, method, path, body):
    """403 before anything is looked up: even a change of something that does not exist."""
    r = httpx.request(method, f"{live.url}{path}", json=body,
                      headers={"X-Auth-Token": tokens["rita"]})
    assert r.status_code == 403, r.text
    message = next(iter(r.json().values()))["message"]
    assert f"{method} {path} needs the 'member' or 'admin' role" in message
    assert "(a reader may only read)" in message


def test_a_reader_may_revoke_their_own_token(live):
    token = live.token("rita", RITA_PASSWORD, "demo")
    r = httpx.delete(f"{live.url}/identity/v3/auth/tokens",
                     headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert r.status_code == 204
    assert httpx.get(f"{live.url}/compute/v2.1/flavors",
                     headers={"X-Auth-Token": token}).status_code == 401


def test_the_clients_as_a_reader(live, tokens):
    """The reader lists with the unmodified client and is refused a create, naming why."""
    assert isinstance(live.openstack("image", "list", cloud="rita"), list)
    r = live.client("openstack", "flavor", "create", "--vcpus", "1", "--ram", "64", "nope",
                    cloud="rita")
    assert r.returncode != 0
    assert "needs the 'member' or 'admin' role" in r.stderr
    # the same request succeeds for the project's member (nothing else made it fail)
    r = httpx.post(f"{live.url}/compute/v2.1/servers", headers={"X-Auth-Token": tokens["alice"]},
                   json={"server": {"name": "r", "imageRef": "x", "flavorRef": "y"}})
    assert r.status_code == 404  # past the role check: the image does not exist
