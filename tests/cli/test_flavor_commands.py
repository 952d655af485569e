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
