"""``kumo audit`` from the command line: the findings table or JSON, the summary on stderr, exit
1 when a finding is an error, and its refusals (one line each)."""

from __future__ import annotations

import json

import pytest

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.compute.records import add_instance
from tests.support.hosts import add_host


@pytest.fixture
def fleet(kumo, db):
    """Host kvm-1 on libvirt's test driver; server ``web`` recorded there with no domain."""
    from kumo.compute.context import admin_context
    from kumo.compute.env import ComputeEnv
    from kumo.config import Settings

    add_host(db, "kvm-1")
    env = ComputeEnv(db=db, settings=Settings.from_env())
    return add_instance(env, admin_context(), "kvm-1", props={"os_type": "linux"})


def test_no_instances_no_findings(kumo, db):
    add_host(db, "kvm-1")
    code, out, err = kumo("audit", "--all-projects")
    assert (code, out, err) == (0, "no findings\n",
                                "0 instances on 1 host audited in " + err.split(" in ")[1])
    assert err.endswith(" s: no findings\n")


def test_an_error_exits_1(kumo, fleet):
    code, out, err = kumo("audit", "-f", "json")
    assert code == 1
    finding, gone = json.loads(out)
    assert (gone["id"], gone["severity"], gone["message"]) == (
        "image-gone", "info", "image 11111111-2222-4333-8444-555555555555 no longer exists: "
        "this instance keeps the properties frozen at its boot")
    assert finding == {
        "id": "domain-missing", "severity": "error", "kind": "record",
        "message": f"domain kumo-{fleet} is not on host kvm-1 (recorded active): the server "
                   "cannot start",
        "fix": f"kumo server reboot {fleet} --hard (defines it again)", "instance": fleet,
        "name": "web", "host": "kvm-1", "project": "admin"}
    assert err.startswith("1 instance on 1 host audited in ") and err.endswith(" s: 1 error, 1 info\n")
    code, out, _ = kumo("audit", "-f", "value", "-c", "id", "-c", "name")
    assert (code, out) == (1, "domain-missing web\nimage-gone web\n")


@pytest.mark.parametrize("argv, message", [
    (("--host", "nope"), "kumo: error: host 'nope' not found\n"),
    (("--instance", "nope"), "kumo: error: server 'nope' not found\n"),
    (("--parallel", "0"), "kumo: error: Invalid value for '--parallel': 0 is not in the range "
                          "1<=x<=256. (see `kumo audit -h`)\n"),
], ids=["unknown-host", "unknown-instance", "parallel-0"])
def test_refusals(kumo, fleet, argv, message):
    assert kumo("audit", *argv) == (2, "", message)


def test_host_selection_is_an_admins(kumo, fleet, monkeypatch):
    monkeypatch.setenv("KUMO_ROLES", "member")
    code, out, err = kumo("audit", "--host", "kvm-1")
    assert (code, out) == (2, "")
    assert err.startswith("kumo: error: selecting servers by host (--host; Nova policy "
                          "os_compute_api:os-hypervisors) needs the 'admin' role")


def test_selection_is_reconciles(kumo, fleet, db, monkeypatch):
    """audit selects as kumo reconcile does (kumo.compute.selection): --instance and --host
    repeat, and --all-projects is an admin's."""
    from kumo.compute.context import admin_context
    from kumo.compute.env import ComputeEnv
    from kumo.config import Settings

    add_host(db, "kvm-2")
    env = ComputeEnv(db=db, settings=Settings.from_env())
    other = add_instance(env, admin_context(), "kvm-2", name="db")

    def names(*argv: str) -> list[str]:
        code, out, _err = kumo("audit", *argv, "-f", "json")
        assert code == 1
        return sorted({f["name"] for f in json.loads(out)})

    assert names("--instance", "web", "--instance", other) == ["db", "web"]
    assert names("--instance", "web") == ["web"]
    assert names("--host", "kvm-1", "--host", "kvm-2") == ["db", "web"]
    assert names("--host", "kvm-2", "--instance", "web", "--instance", "db") == ["db"]
    monkeypatch.setenv("KUMO_ROLES", "member")
    code, out, err = kumo("audit", "--all-projects")
    assert (code, out) == (2, "")
    assert err.startswith("kumo: error: --all-projects (every project's servers) needs the "
                          "'admin' role")
