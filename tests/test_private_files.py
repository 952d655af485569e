"""Secrets at rest: kumo's data directory is 0700 and every file kumo writes there 0600, under
the common umask 022 (which used to make them 0644, readable by every local user) and under a
permissive umask 0."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from kumo.compute import images
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.private_files import open_private, private_dir


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def modes(root: Path) -> dict[str, str]:
    """Every path under ``root`` (itself included) -> its mode in octal."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            found[str(p.relative_to(root))] = oct(stat.S_IMODE(p.stat().st_mode))
    return found


def test_database_and_image_store_are_private(tmp_path, umask):
    data = tmp_path / "data"
    env = ComputeEnv.from_env({"KUMO_DATA_DIR": str(data)})
    try:
        upgrade(env.settings.database_url)
        disk = tmp_path / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"], check=True)
        image = images.create_image(env, admin_context(), "img", file=disk, disk_format="qcow2")
        with env.db.engine.connect() as conn:  # the WAL and shared-memory files exist now
            conn.exec_driver_sql("SELECT 1")
            found = modes(data)
    finally:
        env.close()
    assert {"kumo.db", "kumo.db-wal", "kumo.db-shm", f"images/{image['id']}"} <= set(found)
    assert found == {p: ("0o700" if (data / p).is_dir() else "0o600") for p in found}


def test_an_older_loose_data_directory_is_narrowed(tmp_path, umask):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)
    os.chmod(data / "images", 0o755)
    (data / "kumo.db").touch(mode=0o644)
    os.chmod(data / "kumo.db", 0o644)
    env = ComputeEnv.from_env({"KUMO_DATA_DIR": str(data)})
    try:
        upgrade(env.settings.database_url)
        disk = tmp_path / "disk.raw"
        disk.write_bytes(b"\0" * 4096)
        images.create_image(env, admin_context(), "img", file=disk, disk_format="raw")
    finally:
        env.close()
    found = modes(data)
    assert found == {p: ("0o700" if (data / p).is_dir() else "0o600") for p in found}


@pytest.mark.parametrize("mode, existing", [("wb", False), ("wb", True), ("xb", False)],
                         ids=["new", "truncated", "exclusive"])
def test_open_private_creates_0600(tmp_path, umask, mode, existing):
    path = tmp_path / "f"
    if existing:
        path.write_bytes(b"old contents")
        os.chmod(path, 0o644)
    with open_private(path, mode) as f:
        f.write(b"new")
    assert (path.read_bytes(), oct(stat.S_IMODE(path.stat().st_mode))) == (b"new", "0o600")


def test_private_dir_makes_missing_parents_private_and_narrows_up_to_root(tmp_path, umask):
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    os.chmod(tmp_path, 0o755)
    private_dir(root / "a" / "b", root=root)
    assert modes(root) == {".": "0o700", "a": "0o700", "a/b": "0o700"}
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # above root: not kumo's


def test_a_shared_sticky_directory_is_never_narrowed(tmp_path, umask):
    """A database or key file put in /tmp must not take /tmp from everyone else (a SQLite file
    at /tmp/kumo.db once left /tmp 0700, and swtpm_setup, running as tss, failed every vTPM
    guest's start). A sticky directory stands in for /tmp here."""
    from kumo.db.engine import make_engine

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    engine = make_engine(f"sqlite:///{shared / 'kumo.db'}")
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "kumo.db").stat().st_mode) == 0o600
