"""``kumo reconcile``: the plan printed (changes and the diff), --apply's run table and run id,
--show and --revert, one-line errors. The host is libvirt's test driver (in-process)."""

from __future__ import annotations

import pytest

from kumo.compute.context import admin_context
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json
from tests.compute.records import add_instance


class _Env:  # what tests.compute.records.add_instance needs of a ComputeEnv
    def __init__(self, db):
        self.db, self.owner = db, "test"

    def keep_leases(self) -> None:
        pass


@pytest.fixture
def win(db, test_host) -> str:
    """A stopped server ``win`` recorded with os_type=linux (no domain on the host yet)."""
    return add_instance(_Env(db), admin_context(), test_host, name="win",
                        props={"os_type": "linux"}, vm_state="stopped")


def test_plan_apply_show_revert(kumo, win):
    name = f"kumo-{win}"
    code, out, err = kumo("reconcile", "--set-property", "note=x")
    assert code == 0
    assert out.startswith(f"server win ({win}) on kvm-1: redefine\n  note: (unset) -> x\n"
                          f"--- {name} (not on host kvm-1)\n+++ {name} (planned)\n")
    assert err == "plan for 1 server(s): 1 redefine; nothing changed (give --apply)\n"
    assert as_json(kumo("server", "show", "win", "-f", "json")[1])["image_properties"] == {
        "os_type": "linux"}

    code, out, err = kumo("reconcile", "--set-property", "note=x", "--apply", "-f", "json")
    first = as_json(out)
    run_id = first["run_id"]
    assert code == 0 and first == {"run_id": run_id, "state": "done", "revert_of": None,
                                   "resumed": False, "items": [
                                       {"id": win, "name": "win", "result": "changed",
                                        "detail": "redefine", "journal": "done"}]}
    assert err == f"run {run_id}: 1 changed; undo with: kumo reconcile --revert {run_id}\n"

    # (the test driver forgets its domains when the command's connection closes: the diff
    # against a defined or live domain is tested on in-memory hosts, tests/compute)
    code, out, err = kumo("reconcile", "--instance", "win", "--set-property",
                          "os_type=windows")
    assert code == 0
    assert out.startswith(f"server win ({win}) on kvm-1: redefine\n"
                          "  os_type: linux -> windows\n")
    assert '\n+  <clock offset="localtime">\n' in out

    assert as_json(kumo("reconcile", "--show", run_id, "-f", "json")[1]) == first
    code, out, err = kumo("reconcile", "--revert", run_id, "-f", "json")
    undo = as_json(out)
    assert (code, undo["revert_of"], undo["items"][0]["result"]) == (0, run_id, "changed")
    assert err == f"run {undo['run_id']}: 1 changed\n"
    assert as_json(kumo("server", "show", "win", "-f", "json")[1])["image_properties"] == {
        "os_type": "linux"}
    assert kumo("reconcile", "--revert", run_id) == (
        2, "", f"kumo: error: reconcile run {run_id} was already reverted by run "
               f"{undo['run_id']}\n")


@pytest.mark.parametrize("argv, message", [
    ((), "nothing to reconcile: give --from-image, --set-property KEY=VALUE, "
         "--unset-property KEY or --sync-time"),
    (("--set-property", "os_type"), "--set-property 'os_type' is invalid: allowed KEY=VALUE"),
    (("--revert", "r1", "--from-image"), "--revert and --show take a run id alone (and "
                                         "--revert --reboot): the run says which servers and "
                                         "what"),
    (("--revert", "nope"), "reconcile run 'nope' not found"),
    (("--from-image", "--host", "kvm"), "host 'kvm' not found (hosts are named exactly); "
                                        "nearest: kvm-1"),
], ids=["nothing", "bad-pair", "revert-with-selection", "unknown-run", "host-prefix"])
def test_errors_are_one_line(kumo, win, argv, message):
    assert kumo("reconcile", *argv) == (2, "", f"kumo: error: {message}\n")


def test_a_member_may_not(kumo, win, monkeypatch):
    monkeypatch.setenv("KUMO_ROLES", "member")
    code, out, err = kumo("reconcile", "--from-image")
    assert (code, out) == (2, "")
    assert err.startswith("kumo: error: reconciling servers' image properties needs the "
                          "'admin' role")
