"""kumo flavor create/list."""

from __future__ import annotations

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json


def test_create_and_list(kumo):
    code, out, _ = kumo("flavor", "create", "m1.tiny", "--vcpus", "1", "--ram", "512",
                        "--disk", "1", "--id", "1", "--property", "hw:disk_bus=virtio",
                        "-f", "json")
    assert code == 0
    assert as_json(out) == {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1,
                            "ephemeral": 0, "is_public": True, "description": None,
                            "extra_specs": {"hw:disk_bus": "virtio"}}
    code, out, _ = kumo("flavor", "list")
    assert code == 0 and "m1.tiny" in out and "hw:disk_bus=virtio" in out


def test_non_admin_is_refused(kumo, monkeypatch):
    monkeypatch.setenv("KUMO_ROLES", "member")
    monkeypatch.setenv("KUMO_USER_ID", "alice")
    assert kumo("flavor", "create", "x", "--vcpus", "1", "--ram", "512") == (
        2, "", "kumo: error: creating a flavor needs the 'admin' role; user 'alice' in project "
               "'admin' has roles member\n")


def test_show_set_unset(kumo):
    assert kumo("flavor", "create", "m1.tiny", "--vcpus", "1", "--ram", "512", "--id", "1")[0] == 0
    code, out, _ = kumo("flavor", "set", "m1.tiny", "--property", "hw:disk_bus=scsi",
                        "--property", "hw:scsi_model=virtio-scsi", "--description", "small",
                        "-f", "json")
    assert code == 0
    assert (as_json(out)["extra_specs"], as_json(out)["description"]) == (
        {"hw:disk_bus": "scsi", "hw:scsi_model": "virtio-scsi"}, "small")
    code, out, _ = kumo("flavor", "unset", "1", "--property", "hw:scsi_model", "-f", "json")
    assert as_json(out)["extra_specs"] == {"hw:disk_bus": "scsi"}
    code, out, _ = kumo("flavor", "set", "1", "--no-property", "-f", "json")
    assert as_json(out)["extra_specs"] == {}
    code, out, _ = kumo("flavor", "show", "m1.tiny", "-f", "json")
    assert (code, as_json(out)["id"], as_json(out)["description"]) == (0, "1", "small")


def test_set_refusals_change_nothing(kumo):
    assert kumo("flavor", "create", "m1.tiny", "--vcpus", "1", "--ram", "512",
                "--property", "hw:disk_bus=virtio")[0] == 0
    assert kumo("flavor", "set", "m1.tiny", "--property", "hw:disk_bus=floppy") == (
        2, "", "kumo: error: hw:disk_bus='floppy' is invalid: allowed one of fdc, ide, sata, "
               "scsi, usb, virtio, xen, lxc, uml\n")
    assert kumo("flavor", "unset", "m1.tiny", "--property", "hw:nope") == (
        2, "", "kumo: error: flavor 'm1.tiny' has no extra spec hw:nope\n")
    assert kumo("flavor", "set", "m1.tiny") == (
        2, "", "kumo: error: nothing to change: give --property KEY=VALUE, --no-property or "
               "--description\n")
    assert kumo("flavor", "set", "nope", "--description", "x") == (
        2, "", "kumo: error: flavor 'nope' not found\n")
    code, out, _ = kumo("flavor", "show", "m1.tiny", "-f", "json")
    assert as_json(out)["extra_specs"] == {"hw:disk_bus": "virtio"}


def test_delete_in_use_keeps_the_servers_copy(kumo, db, test_host):
    """Servers store their own copy of the flavor (size and extra specs), so -- as in Nova --
    deleting a flavor in use is allowed, says so, and leaves the server as it was."""
    from kumo.compute.context import admin_context
    from kumo.db.models import Instance
    from tests.cli.test_server_commands import _Env
    from tests.compute.records import add_instance

    assert kumo("flavor", "create", "tiny", "--vcpus", "1", "--ram", "256", "--id", "t1")[0] == 0
    uuid = add_instance(_Env(db), admin_context(), test_host, name="web")
    with db.session_scope() as s:
        s.query(Instance).filter_by(uuid=uuid).one().flavor_id = "t1"
    assert kumo("flavor", "delete", "tiny") == (
        0, "deleted flavor t1 (1 server keep their copy)\n", "")
    code, out, _ = kumo("server", "show", "web", "-f", "json")
    assert (as_json(out)["flavor"], as_json(out)["vcpus"], as_json(out)["ram"]) == (
        "tiny", 1, 256)
    assert kumo("flavor", "show", "tiny") == (2, "", "kumo: error: flavor 'tiny' not found\n")


def test_delete_needs_admin(kumo, monkeypatch):
    assert kumo("flavor", "create", "tiny", "--vcpus", "1", "--ram", "256")[0] == 0
    monkeypatch.setenv("KUMO_ROLES", "member")
    assert kumo("flavor", "delete", "tiny") == (
        2, "", "kumo: error: deleting a flavor needs the 'admin' role; user 'admin' in project "
               "'admin' has roles member\n")
