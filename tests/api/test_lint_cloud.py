"""`kumo lint --os-cloud NAME --image ID|NAME | --all-images`: kumo's checks over the catalog of
an OpenStack cloud, read through its Image API with openstacksdk -- here the live kumo serve,
holding seed 000's CERN Windows image (os_distro=Windows, no os_type)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kumo

SEED = Path(kumo.__file__).parent / "data" / "seed-images" / "cern-windows10.json"
#: what Glance computes or owns itself; the rest are the properties CERN set
_SERVER_SIDE = {"id", "checksum", "created_at", "updated_at", "direct_url", "size", "status",
                "owner", "protected", "tags", "virtual_size", "visibility", "name",
                "disk_format", "container_format", "min_disk", "min_ram"}


@pytest.fixture(scope="module")
def cern(live):
    doc = json.loads(SEED.read_text())
    args = ["image", "create", "--disk-format", doc["disk_format"], "--container-format",
            doc["container_format"], "--min-disk", str(doc["min_disk"]), "--public"]
    for key, value in doc.items():
        if key not in _SERVER_SIDE:
            args += ["--property", f"{key}={value}"]
    created = live.openstack(*args, "cern-win10")
    yield created
    live.openstack("image", "delete", created["id"], json_out=False)


def test_lint_one_image_by_name_flags_the_missing_os_type(live, cern):
    r = live.kumo("lint", "--os-cloud", "admin", "--image", "cern-win10", "-f", "json",
                  check=False)
    assert r.returncode == 0, r.stderr  # warnings only: the guest can be built
    findings = json.loads(r.stdout)
    assert {(f["image_id"], f["image"], f["id"], f["severity"]) for f in findings} >= {
        (cern["id"], "cern-win10", "os-type-missing", "warning")}
    by_id = live.kumo("lint", "--os-cloud", "admin", "--image", cern["id"], "-f", "value",
                      "-c", "id", check=False)
    assert "os-type-missing" in by_id.stdout.split()


def test_lint_all_images_as_a_member(live, cern):
    """A member sees the public CERN image too; every finding names its image."""
    r = live.kumo("lint", "--os-cloud", "alice", "--all-images", "-f", "json", check=False)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert ("cern-win10", "os-type-missing") in {(f["image"], f["id"]) for f in rows}


@pytest.mark.parametrize("args, words", [
    (["--os-cloud", "admin", "--image", "no-such-image"],
     "image 'no-such-image' not found in that cloud (by id or name)"),
    (["--os-cloud", "admin"], "give exactly one of --image ID|NAME and --all-images"),
    (["--all-images"], "--all-images needs --os-cloud NAME"),
    (["--os-cloud", "nowhere", "--all-images"], "--os-cloud 'nowhere'"),
], ids=["unknown-image", "neither", "no-cloud", "unknown-cloud"])
def test_bad_requests_are_one_line(live, cern, args, words):
    r = live.kumo("lint", *args, check=False)
    assert r.returncode in (1, 2), r.stderr
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
