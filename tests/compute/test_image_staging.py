"""Stage then import (Glance's interoperable import, glance-direct): the import checks and stores
the staged bytes exactly as an upload does; refusals change nothing; a SIGKILL at every step is
finished or undone by the next kumo image command; a live stage or import is never touched by
another command's recovery. Real kills (KUMO_FAILPOINT in a process of its own), SQLite and
PostgreSQL."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    return path


def staging_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "images" / "staging"


def listing(path: Path) -> list[str]:
    return sorted(os.listdir(path)) if path.exists() else []


def show(kumo, ref: str) -> dict:
    code, out, err = kumo("image", "show", ref, "-f", "json")
    assert code == 0, err
    return as_json(out)


def killed(*argv: str, failpoint: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUMO_FAILPOINT": failpoint}
    return subprocess.run([sys.executable, "-m", "kumo.cli.main", *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def test_stage_then_import(kumo, disk, tmp_path):
    assert kumo("image", "create", "st", "--disk-format", "qcow2")[0] == 0
    code, out, err = kumo("image", "stage", "st", "--file", str(disk), "-f", "json")
    assert (code, err) == (0, "")
    image = as_json(out)
    assert (image["status"], image["size"]) == ("uploading", None)
    assert listing(staging_dir(tmp_path)) == [image["id"]]
    assert listing(tmp_path / "data" / "images") == ["staging"]  # nothing in the store yet
    code, out, err = kumo("image", "import", "st", "-f", "json")
    assert (code, err) == (0, "")
    data = disk.read_bytes()
    assert (as_json(out)["status"], as_json(out)["size"], as_json(out)["checksum"]) == (
        "active", len(data), hashlib.md5(data).hexdigest())
    assert listing(staging_dir(tmp_path)) == []
    assert (tmp_path / "data" / "images" / image["id"]).read_bytes() == data


def test_refusals_change_nothing(kumo, disk, tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * 4096)
    assert kumo("image", "create", "q")[0] == 0
    for argv, message in [
        (("image", "import", "q"), "image 'q' is queued: stage its data first (kumo image "
                                   "stage)"),
        (("image", "import", "q", "--method", "web-download"),
         "import method 'web-download' is not offered: allowed glance-direct"),
        (("image", "stage", "q", "--file", str(disk)),
         "image 'q' has no disk_format: give --disk-format (allowed ami, ari, aki, vhd, vhdx, "
         "vmdk, raw, qcow2, vdi, iso, ploop)"),
        (("image", "stage", "q", "--file", "/proc/self/mem", "--disk-format", "qcow2"),
         "image file '/proc/self/mem' cannot be read: Input/output error (nothing was staged)"),
    ]:
        assert kumo(*argv) == (2, "", f"kumo: error: {message}\n"), argv
        assert (show(kumo, "q")["status"], show(kumo, "q")["disk_format"]) == ("queued", None)
        assert listing(staging_dir(tmp_path)) == []
    # data that is not what the disk_format says: dropped at import, the image queued again
    assert kumo("image", "stage", "q", "--file", str(raw), "--disk-format", "qcow2")[0] == 0
    assert kumo("image", "import", "q") == (
        2, "", "kumo: error: the staged data of image 'q' is not qcow2: qemu-img info reads it "
               "as raw; give disk_format=raw or the right file (nothing was stored); the image "
               "is queued again: stage the right data\n")
    assert show(kumo, "q")["status"] == "queued"
    assert listing(staging_dir(tmp_path)) == []
    assert listing(tmp_path / "data" / "images") == ["staging"]
    # ... and the right data then imports
    assert kumo("image", "stage", "q", "--file", str(disk))[0] == 0
    assert kumo("image", "import", "q")[0] == 0
    assert show(kumo, "q")["status"] == "active"
    assert kumo("image", "stage", "q", "--file", str(disk)) == (
        2, "", "kumo: error: image 'q' is active: data can be staged only for a queued image "
               "(create a new image for new data)\n")


def test_delete_removes_staged_data(kumo, disk, tmp_path):
    assert kumo("image", "create", "d", "--disk-format", "qcow2")[0] == 0
    assert kumo("image", "stage", "d", "--file", str(disk))[0] == 0
    assert len(listing(staging_dir(tmp_path))) == 1
    assert kumo("image", "delete", "d")[0] == 0
    assert listing(staging_dir(tmp_path)) == []


@pytest.mark.parametrize("failpoint, status_after, staged_after", [
    ("image-stage:copied", "queued", False),
    ("image-import:written", "uploading", True),
], ids=["stage-killed-before-rename", "import-killed-before-commit"])
def test_killed_stage_or_import_is_undone(kumo, disk, tmp_path, failpoint, status_after,
                                          staged_after):
    assert kumo("image", "create", "k", "--disk-format", "qcow2")[0] == 0
    if failpoint.startswith("image-import"):
        assert kumo("image", "stage", "k", "--file", str(disk))[0] == 0
        argv = ("image", "import", "k")
    else:
        argv = ("image", "stage", "k", "--file", str(disk))
    r = killed(*argv, failpoint=failpoint)
    assert r.returncode == -9, r.stderr
    image_id = show(kumo, "k")["id"]
    # the next image command recovers (show's own recovery ran above already: check its effect)
    assert show(kumo, "k")["status"] == status_after
    assert listing(staging_dir(tmp_path)) == ([image_id] if staged_after else [])
    assert listing(tmp_path / "data" / "images") == ["staging"]  # no .part left in the store
    # and the operation can be done again, to the end
    if not staged_after:
        assert kumo("image", "stage", "k", "--file", str(disk))[0] == 0
    assert kumo("image", "import", "k")[0] == 0
    assert show(kumo, "k")["status"] == "active"
    assert listing(staging_dir(tmp_path)) == []


def test_recovery_leaves_a_live_stage_and_a_live_import_alone(kumo, disk, tmp_path):
    """A stage or import in progress holds its file's lock; another command's recovery must
    not reset the image under it (the lock is taken here as the live process would hold it)."""
    assert kumo("image", "create", "live", "--disk-format", "qcow2")[0] == 0
    assert kumo("image", "stage", "live", "--file", str(disk))[0] == 0
    image_id = show(kumo, "live")["id"]
    staged = staging_dir(tmp_path) / image_id
    fd = os.open(staged, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        from kumo.cli.servers import open_env
        from kumo.db.models import Image
        env, _ = open_env()
        try:
            with env.db.session_scope() as s:  # what a live import has done: claimed it
                s.get(Image, image_id).status = "importing"
        finally:
            env.close()
        assert kumo("image", "list")[0] == 0  # recovery ran
        assert show(kumo, "live")["status"] == "importing"
        assert staged.exists()
        assert kumo("image", "import", "live") == (
            2, "", "kumo: error: image 'live' is importing: only an image with staged data "
                   "(status uploading) can be imported\n")
    finally:
        os.close(fd)
    # the lock released (the import died): the next command puts it back to uploading
    assert show(kumo, "live")["status"] == "uploading"
    assert kumo("image", "import", "live")[0] == 0
    assert show(kumo, "live")["status"] == "active"
