"""kumo image upload / download: data for a queued image, once; refusals change nothing; a
progress bar in a terminal (none when piped)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pexpect
import pytest

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json


def qcow2(path, size="1M"):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return path


def test_upload_then_download(kumo, tmp_path):
    disk = qcow2(tmp_path / "disk.qcow2")
    code, out, _ = kumo("image", "create", "cc7", "--disk-format", "qcow2", "-f", "json")
    assert as_json(out)["status"] == "queued"
    code, out, err = kumo("image", "upload", "cc7", "--file", str(disk), "-f", "json")
    assert (code, err) == (0, "")  # no progress bar when stderr is not a terminal
    image = as_json(out)
    data = disk.read_bytes()
    assert (image["status"], image["size"], image["checksum"]) == (
        "active", len(data), hashlib.md5(data).hexdigest())
    assert kumo("image", "download", "cc7", "--file", str(tmp_path / "back"))[:2] == (0, "")
    assert (tmp_path / "back").read_bytes() == data


def test_upload_sets_a_missing_disk_format(kumo, tmp_path):
    disk = qcow2(tmp_path / "disk.qcow2")
    assert kumo("image", "create", "x")[0] == 0
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * 4096)
    assert kumo("image", "upload", "x", "--file", str(raw), "--disk-format", "qcow2")[0] == 2
    assert as_json(kumo("image", "show", "x", "-f", "json")[1])["disk_format"] is None
    assert kumo("image", "upload", "x", "--file", str(disk)) == (
        2, "", "kumo: error: image 'x' has no disk_format: give --disk-format (allowed "
               "ami, ari, aki, vhd, vhdx, vmdk, raw, qcow2, vdi, iso, ploop)\n")
    code, out, _ = kumo("image", "upload", "x", "--file", str(disk), "--disk-format", "qcow2",
                        "-f", "json")
    assert (code, as_json(out)["disk_format"], as_json(out)["status"]) == (0, "qcow2", "active")


def test_refusals_change_nothing(kumo, tmp_path, monkeypatch):
    disk = qcow2(tmp_path / "disk.qcow2")
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * 4096)
    assert kumo("image", "create", "q", "--disk-format", "qcow2")[0] == 0
    assert kumo("image", "upload", "q", "--file", str(raw)) == (
        2, "", f"kumo: error: image file '{raw}' is not qcow2: qemu-img info reads it as raw; "
               "give disk_format=raw or the right file (nothing was stored)\n")
    assert kumo("image", "upload", "q", "--file", str(disk), "--disk-format", "raw") == (
        2, "", "kumo: error: --disk-format raw is invalid: image 'q' has disk_format=qcow2, "
               "which cannot change\n")
    assert kumo("image", "download", "q", "--file", str(tmp_path / "out")) == (
        2, "", "kumo: error: image 'q' is queued: it has no data to download\n")
    assert not (tmp_path / "out").exists()
    assert as_json(kumo("image", "show", "q", "-f", "json")[1])["status"] == "queued"
    monkeypatch.setenv("KUMO_ROLES", "member")
    monkeypatch.setenv("KUMO_PROJECT_ID", "other")
    monkeypatch.setenv("KUMO_USER_ID", "bob")
    code, out, err = kumo("image", "upload", "q", "--file", str(disk))
    assert (code, err) == (2, "kumo: error: image 'q' not found\n")
    monkeypatch.delenv("KUMO_ROLES")
    monkeypatch.delenv("KUMO_PROJECT_ID")
    monkeypatch.delenv("KUMO_USER_ID")
    assert kumo("image", "upload", "q", "--file", str(disk))[0] == 0
    assert kumo("image", "upload", "q", "--file", str(disk)) == (
        2, "", "kumo: error: image 'q' is active: data can be uploaded only to a queued image "
               "(create a new image for new data)\n")


def test_upload_shows_progress_in_a_terminal(kumo, tmp_path):
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as f:
        f.write(os.urandom(1 << 20) * 48)  # 48 MiB
    assert kumo("image", "create", "big", "--disk-format", "raw")[0] == 0
    child = pexpect.spawn(sys.executable, ["-m", "kumo.cli.main", "image", "upload", "big",
                                           "--file", str(disk), "-f", "value", "-c", "status"],
                          env=dict(os.environ), dimensions=(24, 100), encoding="utf-8",
                          timeout=120)
    text = child.read()
    child.close()
    assert child.exitstatus == 0, text
    assert "uploading disk.raw" in text
    assert "50.3/50.3 MB" in text  # rich's DownloadColumn: the whole file, in decimal MB
    assert text.rstrip().endswith("active")
