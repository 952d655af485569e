"""kumo server list/show/set-property and create's validation, without booting anything (the
lifecycle on a real libvirtd is tests/e2e/test_lifecycle.py)."""

from __future__ import annotations

import subprocess

from kumo.compute.context import admin_context
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json
from tests.compute.records import add_instance


class _Env:  # what tests.compute.records.add_instance needs of a ComputeEnv
    def __init__(self, db):
        self.db, self.owner = db, "test"


def test_list_show_and_set_property(kumo, db, test_host):
    uuid = add_instance(_Env(db), admin_context(), test_host, name="win",
                        props={"os_type": "linux"})
    code, out, _ = kumo("server", "list", "-f", "json")
    assert [(s["id"], s["name"], s["status"], s["host"]) for s in as_json(out)] == [
        (uuid, "win", "ACTIVE", "kvm-1")]
    code, out, err = kumo("server", "set-property", "win", "os_type=windows")
    assert code == 0 and "os_type=windows" in out
    assert err == "takes effect at the next hard reboot: kumo server reboot --hard win\n"
    code, out, _ = kumo("server", "show", uuid, "-f", "json")
    assert as_json(out)["image_properties"] == {"os_type": "windows"}


def test_errors(kumo, test_host):
    assert kumo("server", "create", "web", "--image", "nope", "--flavor", "tiny") == (
        2, "", "kumo: error: image 'nope' not found\n")
    assert kumo("server", "show", "nope") == (2, "", "kumo: error: server 'nope' not found\n")
    assert kumo("server", "set-property", "nope", "os_type") == (
        2, "", "kumo: error: KEY=VALUE 'os_type' is invalid: allowed KEY=VALUE\n")
    assert as_json(kumo("server", "list", "-f", "json")[1]) == []


def test_create_no_host_can_take_is_an_error_server(kumo, test_host, tmp_path):
    """exit 2 with the scheduler's summary; the server is there, ERROR, that summary its fault,
    and ``kumo placement explain`` prints the same line."""
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"], check=True)
    assert kumo("image", "create", "linux", "--file", str(disk), "--disk-format", "qcow2",
                "--property", "os_type=linux")[0] == 0
    assert kumo("flavor", "create", "huge", "--vcpus", "1", "--ram", "65536",
                "--disk", "1")[0] == 0
    summary = "0/1 hosts: 1 insufficient RAM (requested 65536 MiB, largest free 16384 MiB)"
    assert kumo("server", "create", "web", "--image", "linux", "--flavor", "huge") == (
        2, "", f"kumo: error: no valid host: {summary}\n")
    code, out, _ = kumo("server", "show", "web", "-f", "json")
    server = as_json(out)
    assert (code, server["status"], server["host"]) == (0, "ERROR", None)
    assert server["fault"]["message"] == summary
    code, out, err = kumo("placement", "explain", "--image", "linux", "--flavor", "huge")
    assert (code, err, out.splitlines()[-1]) == (0, "", summary)
