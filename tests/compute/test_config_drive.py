"""The config drive: config-2 ISO in the OpenStack layout; SSH keys for Linux only, the admin
password for Windows only (seed 003)."""

from __future__ import annotations

import json
import subprocess

import pytest

from kumo.compute import config_drive
from kumo.compute.config_drive import InstanceMetadata

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKumoKumoKumoKumoKumoKumoKumoKumoKumoKumoKumo op@x"


def _extract(iso, member):
    dest = iso.parent / "out" / member.lstrip("/")
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", member,
                    str(dest)], capture_output=True, check=True)
    return dest.read_bytes()


@pytest.mark.parametrize("os_type, has_keys, has_pass", [
    ("linux", True, False), ("windows", False, True)], ids=["linux", "windows"])
def test_layout_and_credentials(tmp_path, os_type, has_keys, has_pass):
    md = InstanceMetadata(uuid="0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01", name="Web Server 1",
                          os_type=os_type, project_id="p1", public_keys={"op": KEY},
                          admin_pass="s3cret-pass")
    iso = config_drive.build(md, tmp_path / "cd.iso")
    label = subprocess.run(["xorriso", "-indev", str(iso), "-pvd_info"], capture_output=True,
                           text=True).stdout
    assert "Volume Id    : config-2" in label
    meta = json.loads(_extract(iso, "/openstack/latest/meta_data.json"))
    assert (meta["uuid"], meta["name"], meta["hostname"]) == (md.uuid, "Web Server 1",
                                                              "web-server-1")
    assert ("public_keys" in meta) is has_keys and ("admin_pass" in meta) is has_pass
    if has_keys:
        assert meta["public_keys"] == {"op": KEY}
        assert meta["keys"] == [{"name": "op", "type": "ssh", "data": KEY}]
    else:
        assert meta["admin_pass"] == "s3cret-pass"
    assert json.loads(_extract(iso, "/openstack/latest/network_data.json")) == {
        "links": [], "networks": [], "services": []}
