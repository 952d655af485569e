"""kumo server event list/show: the journal's record of what was done to a server."""

from __future__ import annotations

from kumo.compute.context import admin_context
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json
from tests.cli.test_server_commands import _Env
from tests.compute.records import add_instance


def test_list_and_show(kumo, db, test_host):
    uuid = add_instance(_Env(db), admin_context(), test_host, name="web")
    assert kumo("server", "set-property", "web", "os_type=windows")[0] == 0
    assert kumo("server", "set-property", "web", "--unset", "os_type")[0] == 0
    code, out, _ = kumo("server", "event", "list", "web", "-f", "json")
    events = as_json(out)
    assert [(e["action"], e["state"], e["server_id"]) for e in events] == [
        ("set-property", "done", uuid), ("set-property", "done", uuid)]
    assert events[0]["request_id"] != events[1]["request_id"]
    assert all(e["request_id"].startswith("req-") for e in events)
    code, out, _ = kumo("server", "event", "show", "web", events[1]["request_id"], "-f", "json")
    assert as_json(out)["details"] == {"user_id": "admin", "set": {"os_type": "windows"},
                                       "unset": [], "before": {"os_type": "linux"}}


def test_errors(kumo, db, test_host):
    add_instance(_Env(db), admin_context(), test_host, name="web")
    assert kumo("server", "event", "list", "nope") == (
        2, "", "kumo: error: server 'nope' not found\n")
    assert kumo("server", "event", "show", "web", "req-x") == (
        2, "", "kumo: error: server 'web' has no event with request id 'req-x': "
               "`kumo server event list web` lists them\n")
