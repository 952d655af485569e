"""Host details are an admin's (issue 8, item 15), as in Nova's default policy: a member cannot
choose the host (compute:servers:create:forced_host), see the host inventory through
``placement explain`` (os_compute_api:os-hypervisors) or the host a server runs on
(os_compute_api:os-extended-server-attributes: a member sees Nova's hostId instead).

The CLI acts as KUMO_USER_ID / KUMO_PROJECT_ID / KUMO_ROLES say, by default the local operator
(admin); these tests run as a member by setting them."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from kumo.compute.context import RequestContext
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json
from tests.compute.records import add_instance

MEMBER = {"KUMO_USER_ID": "alice", "KUMO_PROJECT_ID": "p-alice", "KUMO_ROLES": "member"}


@pytest.fixture
def as_member(monkeypatch):
    for k, v in MEMBER.items():
        monkeypatch.setenv(k, v)


def test_the_default_is_the_local_operator(kumo, test_host):
    code, out, _ = kumo("host", "list", "-f", "json")
    assert code == 0 and [h["name"] for h in as_json(out)] == [test_host]


@pytest.mark.parametrize("argv, message", [
    (("server", "create", "web", "--image", "cirros", "--flavor", "tiny", "--host", "kvm-1"),
     "choosing the host a server boots on (--host; Nova policy "
     "compute:servers:create:forced_host)"),
    (("placement", "explain", "--image", "cirros", "--flavor", "tiny"),
     "placement explain, which shows every host's inventory (Nova policy "
     "os_compute_api:os-hypervisors)"),
    (("placement", "explain", "--image", "cirros", "--flavor", "tiny", "--host", "kvm-1"),
     "placement explain, which shows every host's inventory (Nova policy "
     "os_compute_api:os-hypervisors)"),
    (("host", "show", "kvm-1"), "showing a host"),
], ids=["forced-host", "placement-explain", "placement-explain-host", "host-show"])
def test_host_details_are_admin_only(kumo, test_host, as_member, argv, message):
    assert kumo(*argv) == (2, "", f"kumo: error: {message} needs the 'admin' role; user "
                                  "'alice' in project 'p-alice' has roles member\n")
    assert as_json(kumo("server", "list", "-f", "json")[1]) == []


def test_a_member_sees_the_host_id_not_the_host(kumo, db, test_host, monkeypatch):
    alice = RequestContext(user_id="alice", project_id="p-alice", roles=("member",))
    uuid = add_instance(SimpleNamespace(db=db), alice, test_host)
    code, out, _ = kumo("server", "show", uuid, "-f", "json")
    assert (code, as_json(out)["host"]) == (0, test_host)
    for k, v in MEMBER.items():
        monkeypatch.setenv(k, v)
    view = as_json(kumo("server", "show", uuid, "-f", "json")[1])
    assert (view["host"], view["host_id"]) == (
        None, hashlib.sha224(f"p-alice{test_host}".encode()).hexdigest())
    [listed] = as_json(kumo("server", "list", "-f", "json")[1])
    assert listed["host"] is None
