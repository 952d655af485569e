"""Image create and delete survive a SIGKILL at every step (issue 8, item 4): the store's file
names journal the change (.part, .deleting), the next kumo image or server command finishes or
undoes it, and ``kumo image orphans`` reports store files no row accounts for (never deleting
them: the database may be a restored one).

The kills are real: ``kumo`` runs in a process of its own with KUMO_FAILPOINT set
(kumo.compute.failpoints), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kumo.compute.image_store import ImageStore
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    return path


def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "images"


def killed(*argv: str, failpoint: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUMO_FAILPOINT": failpoint}
    return subprocess.run([sys.executable, "-m", "kumo.cli.main", *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def image_rows(kumo) -> list[dict]:
    code, out, _ = kumo("image", "list", "-f", "json")
    assert code == 0
    return as_json(out)


@pytest.mark.parametrize("failpoint, left, row_after, file_after", [
    ("image-create:written", "part", False, False),
    ("image-create:committed", "part", True, True),
], ids=["killed-before-commit", "killed-after-commit"])
def test_killed_create_is_finished_or_undone(kumo, disk, tmp_path, failpoint, left, row_after,
                                             file_after):
    proc = killed("image", "create", "cirros", "--file", str(disk), "--disk-format", "qcow2",
                  failpoint=failpoint)
    assert proc.returncode == -9, proc.stderr
    [name] = os.listdir(store_dir(tmp_path))
    assert name.startswith(".") and name.endswith(f".{left}")
    image_id = name[1:-len(f".{left}")]

    code, out, err = kumo("image", "list", "-f", "json")  # the next image command recovers
    outcome = ("the create was committed: data moved into place" if row_after
               else "the create was never committed: partial data removed")
    assert (code, err) == (0, f"kumo: recovered image store file {name}: {outcome}\n")
    assert [i["id"] for i in as_json(out)] == ([image_id] if row_after else [])
    assert os.listdir(store_dir(tmp_path)) == ([image_id] if file_after else [])
    assert kumo("image", "orphans")[1] == "no orphans in the image store\n"


@pytest.mark.parametrize("failpoint, left, row_after, outcome", [
    ("image-delete:set-aside", "deleting", True,
     "the delete was not committed: data put back"),
    ("image-delete:committed", "deleting", False, "the delete was committed: data removed"),
], ids=["killed-before-commit", "killed-after-commit"])
def test_killed_delete_is_finished_or_undone(kumo, disk, tmp_path, failpoint, left, row_after,
                                             outcome):
    code, out, _ = kumo("image", "create", "cirros", "--file", str(disk), "--disk-format",
                        "qcow2", "-f", "json")
    image_id = as_json(out)["id"]
    proc = killed("image", "delete", "cirros", failpoint=failpoint)
    assert proc.returncode == -9, proc.stderr
    assert os.listdir(store_dir(tmp_path)) == [f".{image_id}.{left}"]

    code, out, err = kumo("server", "list", "-f", "json")  # server commands recover it too
    assert (code, err) == (0, f"kumo: recovered image store file .{image_id}.{left}: "
                              f"{outcome}\n")
    assert [i["id"] for i in image_rows(kumo)] == ([image_id] if row_after else [])
    assert os.listdir(store_dir(tmp_path)) == ([image_id] if row_after else [])
    if row_after:  # the image is whole again: it can be deleted for real
        assert kumo("image", "delete", "cirros")[:2] == (0, f"deleted image {image_id}\n")
        assert os.listdir(store_dir(tmp_path)) == []


def test_recovery_leaves_a_live_upload_alone(tmp_path, disk):
    """A .part whose writer is alive (holds its lock) is not touched, even with no row yet."""
    store = ImageStore(tmp_path / "images")
    image_id = "0b7e2f7e-0000-4000-8000-000000000001"
    pending = store.write(image_id, disk, "qcow2")
    assert store.recover(lambda _id: False) == []
    assert os.listdir(store.directory) == [f".{image_id}.part"]
    pending.publish()
    assert os.listdir(store.directory) == [image_id]


def test_orphans_reports_files_without_rows_and_rows_without_files(kumo, disk, tmp_path):
    code, out, _ = kumo("image", "create", "a", "--file", str(disk), "--disk-format", "qcow2",
                        "-f", "json")
    a = as_json(out)["id"]
    stray = "5f1c6a7e-1111-4111-8111-111111111111"
    (store_dir(tmp_path) / stray).write_bytes(b"x")
    (store_dir(tmp_path) / a).rename(tmp_path / "moved")
    (store_dir(tmp_path) / "README").write_text("not kumo's")  # not named as kumo's: ignored

    code, out, err = kumo("image", "orphans", "-f", "json")
    assert (code, err) == (0, "")
    assert as_json(out) == [
        {"kind": "file", "name": stray, "reason": f"no image {stray} in the database"},
        {"kind": "missing", "name": a,
         "reason": f"image {a} is active but its data file {a} is not in the store"}]
    assert (store_dir(tmp_path) / stray).exists()  # reported, never deleted


def test_orphans_is_admin_only(kumo, monkeypatch):
    monkeypatch.setenv("KUMO_ROLES", "member")
    assert kumo("image", "orphans") == (
        2, "", "kumo: error: looking for orphans in the image store needs the 'admin' role; "
               "user 'admin' in project 'admin' has roles member\n")


def test_killed_upload_into_a_queued_image_never_publishes_partial_data(kumo, disk, tmp_path):
    """An upload (kumo image upload, the Image API's PUT .../file) writes into a row that exists
    already: the row existing must not make recovery take a half-written .part as committed."""
    code, out, _ = kumo("image", "create", "q", "--disk-format", "qcow2", "-f", "json")
    image_id = as_json(out)["id"]
    proc = killed("image", "upload", "q", "--file", str(disk),
                  failpoint="image-upload-data:written")
    assert proc.returncode == -9, proc.stderr
    assert os.listdir(store_dir(tmp_path)) == [f".{image_id}.part"]

    code, out, err = kumo("image", "show", "q", "-f", "json")  # the next command recovers
    assert (code, err) == (0, f"kumo: recovered image store file .{image_id}.part: the create "
                              "was never committed: partial data removed\n")
    assert as_json(out)["status"] == "queued"  # it may be uploaded again
    assert os.listdir(store_dir(tmp_path)) == []
    assert kumo("image", "upload", "q", "--file", str(disk))[0] == 0
    assert os.listdir(store_dir(tmp_path)) == [image_id]


def test_a_half_written_part_of_a_row_without_data_is_removed(kumo, tmp_path):
    """The state a SIGKILL mid-copy leaves (no failpoint needed): the lock died with the writer."""
    code, out, _ = kumo("image", "create", "q", "--disk-format", "qcow2", "-f", "json")
    image_id = as_json(out)["id"]
    store_dir(tmp_path).mkdir(parents=True, exist_ok=True)
    (store_dir(tmp_path) / f".{image_id}.part").write_bytes(b"QFI\xfb half")
    assert kumo("image", "list", "-f", "json")[0] == 0
    assert os.listdir(store_dir(tmp_path)) == []
