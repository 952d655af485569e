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


# --- a killed build leaves no password behind ---------------------------------------------------

#: the child: builds a Windows config drive and SIGKILLs itself after ``kill_at`` Python line
#: events inside the build (kill_at < 0: runs to the end and prints how many there were)
_CHILD = r"""
import os, signal, sys
from kumo.compute import config_drive

kill_at, password = int(sys.argv[1]), sys.argv[2]
md = config_drive.InstanceMetadata(uuid="0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01", name="w",
                                   os_type="windows", admin_pass=password)
seen = 0


def tracer(frame, event, arg):
    global seen
    if event == "line":
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return tracer


def make():
    # the config drive as create makes it: in memory; before that, in a temporary directory
    # (the way this test was first seen to fail)
    if hasattr(config_drive, "iso_bytes"):
        return config_drive.iso_bytes(md)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="kumo-") as tmp:
        return config_drive.build(md, os.path.join(tmp, "config.iso")).read_bytes()


make()  # imports done before counting
sys.settrace(tracer)
make()
sys.settrace(None)
print(seen)
"""


def _run_child(tmp_path, kill_at, password):
    import os
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-c", _CHILD, str(kill_at), password], env=env,
                          capture_output=True, text=True, timeout=60)


def test_killed_build_leaves_no_file_with_the_password(tmp_path):
    password = "Pw-" + "7Gq2xLz9Vb1" * 2
    for d in ("tmp", "home"):
        (tmp_path / d).mkdir()
    full = _run_child(tmp_path, -1, password)
    assert full.returncode == 0, full.stderr
    lines = int(full.stdout.split()[-1])
    killed = 0
    for kill_at in sorted({1, *range(lines // 16, lines, max(1, lines // 16)), lines - 1}):
        run = _run_child(tmp_path, kill_at, password)
        assert run.returncode == -9, (kill_at, run.stderr)
        killed += 1
        left = [p for p in tmp_path.rglob("*") if p.is_file()
                and password.encode() in p.read_bytes()]
        assert left == [], f"killed at line event {kill_at} of {lines}: {left} hold the password"
    assert killed >= 10
