"""The Compute API's consoles (kumo.api.routers.consoles) in process, on a FakeHost: what
os-getConsoleOutput, os-getVNCConsole and remote-consoles answer, and every refusal. The
unmodified openstack client against a live kumo serve on the real libvirtd:
tests/e2e/test_api_reach.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kumo.api.app import create_app
from kumo.compute import naming, servers
from kumo.db.models import Instance
from kumo.identity import service as identity
from kumo.serve.controller import Controller
from tests.compute.conftest import admin, env, fake_hosts, image_file  # noqa: F401
from tests.compute.fakehost import fake_cloud
from tests.db.fixtures import *  # noqa: F401,F403

PASSWORD = "admin-secret-1"


@pytest.fixture
def api(env, admin, image_file, fake_hosts):  # noqa: F811
    host = fake_cloud(env, admin, image_file, fake_hosts)
    identity.bootstrap(env.db, PASSWORD)
    issued = identity.issue_password_token(env.db, "admin", PASSWORD, None, "admin")
    ctx = identity.validate_token(env.db, issued.token).context()
    uuid = servers.create_server(env, ctx, "web", image="linux", flavor="tiny").server["id"]
    client = TestClient(create_app(Controller(env.settings, env)))
    client.headers["X-Auth-Token"] = issued.token
    yield client, env, host, uuid


def _action(client, uuid: str, body: dict, version: str | None = None):
    headers = {"OpenStack-API-Version": f"compute {version}"} if version else {}
    return client.post(f"/compute/v2.1/servers/{uuid}/action", json=body, headers=headers)


def _live_port(host, uuid: str, port: int) -> None:
    """What libvirt's live XML says once the guest runs: the port autoport picked."""
    dom = host.domains[naming.domain_name(uuid)]
    dom.xml = dom.xml.replace('port="-1"', f'port="{port}"')


def _display_password(env, uuid: str) -> str:
    with env.db.session_scope(readonly=True) as s:
        return s.query(Instance).filter_by(uuid=uuid).one().display_password


LOG = b"boot\r\n\x1b[1mbold\x1b[0m\tand\x07bell\r\nline 3\r\nlast\r\n"


@pytest.mark.parametrize("length, output", [
    (None, "boot\n[1mbold[0m\tandbell\nline 3\nlast\n"),  # CR too, as Nova strips it
    (2, "line 3\nlast\n"),
    ("1", "last\n"),
    (-1, "boot\n[1mbold[0m\tandbell\nline 3\nlast\n"),
    (0, ""),
], ids=["all", "two", "string-one", "minus-one-all", "zero"])
def test_console_output(api, length, output):
    client, env, host, uuid = api
    host.write_file(env.pool_name, naming.volume_name(uuid, naming.CONSOLE), LOG)
    body = {} if length is None else {"length": length}
    r = _action(client, uuid, {"os-getConsoleOutput": body})
    assert (r.status_code, r.json()) == (200, {"output": output})


@pytest.mark.parametrize("length, message", [
    (-2, "length -2 is invalid: allowed an integer, -1 (all) or more"),
    ("ten", "length 'ten' is invalid: allowed an integer, -1 (all) or more"),
], ids=["below-minus-one", "not-a-number"])
def test_console_output_bad_length(api, length, message):
    client, env, host, uuid = api
    host.write_file(env.pool_name, naming.volume_name(uuid, naming.CONSOLE), LOG)
    r = _action(client, uuid, {"os-getConsoleOutput": {"length": length}})
    assert (r.status_code, r.json()["badRequest"]["message"]) == (400, message)


def test_console_output_before_the_first_start_is_404(api):
    client, env, host, uuid = api
    r = _action(client, uuid, {"os-getConsoleOutput": {}})
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"].startswith(
        "server '" + uuid + "' has no console output yet")


def test_vnc_console_action_and_remote_consoles(api):
    client, env, host, uuid = api
    _live_port(host, uuid, 5907)
    password = _display_password(env, uuid)
    url = f"vnc://127.0.0.1:5907?VncPassword={password}"
    r = _action(client, uuid, {"os-getVNCConsole": {"type": "novnc"}})
    assert (r.status_code, r.json()) == (200, {"console": {"type": "novnc", "url": url}})
    r = client.post(f"/compute/v2.1/servers/{uuid}/remote-consoles",
                    json={"remote_console": {"protocol": "vnc", "type": "novnc"}},
                    headers={"OpenStack-API-Version": "compute 2.6"})
    assert (r.status_code, r.json()) == (200, {"remote_console": {
        "protocol": "vnc", "type": "novnc", "url": url}})


def test_remote_consoles_needs_2_6(api):
    client, env, host, uuid = api
    r = client.post(f"/compute/v2.1/servers/{uuid}/remote-consoles",
                    json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == (
        "remote-consoles needs microversion 2.6 or later (before it: the os-getVNCConsole "
        "server action)")


@pytest.mark.parametrize("protocol, type", [("spice", "spice-html5"), ("rdp", "rdp-html5"),
                                            ("serial", "serial"), ("vnc", "spice-html5")])
def test_consoles_a_kumo_guest_has_not_are_refused(api, protocol, type):
    client, env, host, uuid = api
    _live_port(host, uuid, 5907)
    r = client.post(f"/compute/v2.1/servers/{uuid}/remote-consoles",
                    json={"remote_console": {"protocol": protocol, "type": type}},
                    headers={"OpenStack-API-Version": "compute 2.6"})
    assert (r.status_code, r.json()["badRequest"]["message"]) == (400, (
        f"console protocol {protocol!r} type {type!r} is not available: a kumo guest has a "
        "VNC display (protocol vnc, type novnc or xvpvnc) and a serial console whose output "
        "os-getConsoleOutput answers"))


def test_vnc_console_of_a_stopped_server_is_409(api):
    client, env, host, uuid = api
    r = _action(client, uuid, {"os-getVNCConsole": {"type": "novnc"}})  # the fake's port -1
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"].startswith(f"server '{uuid}' is not running")

