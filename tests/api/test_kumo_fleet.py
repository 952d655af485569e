"""`kumo audit|reconcile|host evacuate --os-cloud NAME`: kumo's fleet-wide commands against a
live kumo serve through /kumo/v1, answering what the same command answers on the controller's
own database; an admin's only, with errors as the local command gives them."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from kumo.compute.states import now
from kumo.db import Database
from kumo.db.models import Host, Instance, Project
from tests.api.live import start, stop
from tests.support.hosts import add_host

UP, DOWN, EMPTY = "fleet-up", "fleet-down", "fleet-empty"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A kumo serve of its own: a host up, one down with two servers, one down and empty."""
    live = start(tmp_path_factory.mktemp("fleet-api"))
    try:
        db = Database(f"sqlite:///{live.base / 'data' / 'kumo.db'}")
        # (libvirt's test driver, in kumo serve's process and in each local command's)
        add_host(db, UP, last_heartbeat=now() + timedelta(days=1))
        for name in (DOWN, EMPTY):
            add_host(db, name, last_heartbeat=now() - timedelta(days=1))
        with db.session_scope() as s:
            demo = s.scalar(select(Project.id).where(Project.name == "demo"))
            for i, host_name in enumerate((UP, DOWN, DOWN)):
                host = s.scalar(select(Host).where(Host.name == host_name))
                s.add(Instance(name=f"app-{i}", project_id=demo, user_id="alice",
                               host_id=host.id, node=host.name, vcpus=1, ram_mib=64,
                               disk_gib=1, flavor_name="tiny", vm_state="stopped",
                               power_state=4, image_properties={"os_type": "linux"}))
        live.db = db
        yield live
        db.dispose()
    finally:
        stop(live)


def _both(live, *args: str) -> tuple:
    """``kumo ARGS`` through the API and on the local database: (remote, local)."""
    return (live.kumo(*args, "--os-cloud", "admin", check=False), live.kumo(*args, check=False))


def test_audit_os_cloud_answers_what_the_local_audit_answers(fleet):
    remote, local = _both(fleet, "audit", "--all-projects", "--no-guest-clock", "-f", "json")
    assert remote.returncode == local.returncode, remote.stderr + fleet.tail()
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    found = json.loads(remote.stdout)
    assert found and {f["name"] for f in found} >= {"app-0", "app-1", "app-2"}
    assert remote.stderr.split(" audited in ")[0] == local.stderr.split(" audited in ")[0] \
        == "3 instances on 3 hosts"


def test_reconcile_os_cloud_plans_applies_shows_and_reverts(fleet):
    live = fleet
    ask = ("reconcile", "--instance", "app-0", "--set-property", "os_type=windows")
    remote, local = _both(live, *ask, "-f", "json")
    assert (remote.returncode, local.returncode) == (0, 0), remote.stderr + live.tail()
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    plan = json.loads(remote.stdout)
    assert [(p["name"], p["error"]) for p in plan] == [("app-0", None)]
    table = live.kumo(*ask, "--os-cloud", "admin", check=False)
    assert "os_type: linux -> windows" in table.stdout
    assert "nothing changed (give --apply)" in table.stderr

    applied = live.kumo(*ask, "--apply", "--os-cloud", "admin", "-f", "json", check=False)
    assert applied.returncode == 0, applied.stderr + live.tail()
    run = json.loads(applied.stdout)
    assert [(i["name"], i["result"]) for i in run["items"]] == [("app-0", "changed")]
    assert _properties(live, "app-0") == {"os_type": "windows"}
    shown, shown_here = _both(live, "reconcile", "--show", run["run_id"], "-f", "json")
    assert json.loads(shown.stdout) == json.loads(shown_here.stdout) == run

    reverted = live.kumo("reconcile", "--revert", run["run_id"], "--os-cloud", "admin",
                         "-f", "json", check=False)
    assert reverted.returncode == 0, reverted.stderr + live.tail()
    assert json.loads(reverted.stdout)["revert_of"] == run["run_id"]
    assert _properties(live, "app-0") == {"os_type": "linux"}


def _properties(live, name: str) -> dict:
    with live.db.session_scope(readonly=True) as s:
        return dict(s.scalar(select(Instance.image_properties).where(Instance.name == name)))


def test_host_evacuate_os_cloud(fleet):
    live = fleet
    up = live.kumo("host", "evacuate", UP, "--os-cloud", "admin", check=False)
    assert up.returncode != 0 and len(up.stderr.strip().splitlines()) == 1, up.stderr
    assert up.stderr.startswith("kumo: error: the controller answered 409: cannot evacuate: ")
    assert live.kumo("host", "set", DOWN, "--down", "--reason", "powered off by hand",
                     check=False).returncode == 0
    remote, local = _both(live, "host", "evacuate", DOWN, "--dry-run")
    assert remote.returncode == 0, remote.stderr + live.tail()
    assert remote.stdout == local.stdout
    assert remote.stdout.startswith(f"plan for {DOWN}: 2 server(s)\n")
    refused = live.kumo("host", "evacuate", DOWN, "--os-cloud", "admin", check=False)
    assert "pass --accept-rebuild to go ahead" in refused.stderr
    assert "answered 400" in refused.stderr
    live.kumo("host", "set", EMPTY, "--down", check=False)
    empty = live.kumo("host", "evacuate", EMPTY, "--accept-rebuild", "--os-cloud", "admin",
                      check=False)
    assert empty.returncode == 0, empty.stderr + live.tail()
    assert empty.stdout == f"evacuation of {EMPTY}: 0 moved, 0 skipped, 0 failed\n"
    pattern = live.kumo("host", "evacuate", "--match", "fleet-*", "--os-cloud", "admin",
                        check=False)
    assert "--match GLOB is for the local database" in pattern.stderr


@pytest.mark.parametrize("user,password,project", [
    ("alice", "alice-secret-1", "demo"), ("rita", "rita-secret-1", "demo"),
], ids=["member", "reader"])
@pytest.mark.parametrize("method,path,body,action", [
    ("GET", "/kumo/v1/audit", None, "kumo audit"),
    ("POST", "/kumo/v1/reconcile", {"instances": ["app-0"],
                                    "set_properties": {"os_type": "windows"}},
     "kumo reconcile"),
    ("GET", "/kumo/v1/reconcile/runs/nope", None, "kumo reconcile"),
    ("POST", f"/kumo/v1/hosts/{DOWN}/evacuate", {"dry_run": True}, "kumo host evacuate"),
], ids=["audit", "reconcile", "reconcile-show", "evacuate"])
def test_only_an_admin(fleet, user, password, project, method, path, body, action):
    token = fleet.token(user, password, project)
    r = httpx.request(method, f"{fleet.url}{path}", headers={"X-Auth-Token": token},
                      json=body)
    assert r.status_code == 403, r.text
    message = r.json()["error"]["message"]
    assert message.startswith(f"{action} needs the 'admin' role" if user == "alice" or
                              method == "GET" else f"{method} {path} needs the 'member'")


def test_a_member_is_told_by_the_command(fleet):
    r = fleet.kumo("audit", "--os-cloud", "alice", check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("kumo: error: the controller answered 403: kumo audit needs "
                               "the 'admin' role; user ")


@pytest.mark.parametrize("path,body,words", [
    (f"/kumo/v1/hosts/{DOWN}/evacuate", {"parallel": 0},
     "parallel: Input should be greater"),
    (f"/kumo/v1/hosts/{DOWN}/evacuate", {"force_unfenced_reason": "  "},
     "force_unfenced_reason is blank"),
    ("/kumo/v1/hosts/nowhere/evacuate", {"dry_run": True}, "host 'nowhere' not found"),
    ("/kumo/v1/reconcile", {"reboot": "later"}, "reboot: Input should be 'now' or"),
    ("/kumo/v1/reconcile", {"instances": ["nope"], "from_image": True},
     "server 'nope' not found"),
], ids=["parallel-0", "blank-reason", "unknown-host", "bad-reboot", "unknown-server"])
def test_bad_requests_are_4xx_naming_the_field(fleet, path, body, words):
    r = httpx.post(f"{fleet.url}{path}", headers={"X-Auth-Token": fleet.token()}, json=body)
    assert r.status_code in (400, 404), r.text
    assert words in r.json()["error"]["message"]
