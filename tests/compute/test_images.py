"""Images: data checked by qemu-img and stored with its hashes; properties validated, custom ones
kept; filtering and sorting on any property; tenancy. Nothing half-created on bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from kumo.compute import images
from kumo.db.models import Image, ImageProperty
from kumo.errors import Forbidden, InvalidInput, InvalidProperty, NotFound
from tests.compute.conftest import count, make_disk


def test_create_stores_data_with_hashes(env, admin, image_file):
    view = images.create_image(env, admin, "cirros", file=image_file, disk_format="qcow2",
                               properties={"os_type": "linux", "release_date": "2024-01-02"})
    data = image_file.read_bytes()
    assert view["status"] == "active"
    assert view["size"] == len(data)
    assert view["checksum"] == hashlib.md5(data).hexdigest()
    assert (view["os_hash_algo"], view["os_hash_value"]) == ("sha512",
                                                             hashlib.sha512(data).hexdigest())
    assert view["virtual_size"] == 1 << 20
    assert view["properties"] == {"os_type": "linux", "release_date": "2024-01-02"}
    assert (env.settings.image_dir / view["id"]).read_bytes() == data


def test_metadata_only_image_is_queued(env, admin):
    view = images.create_image(env, admin, "meta", properties={"os_type": "windows"})
    assert (view["status"], view["size"], view["disk_format"]) == ("queued", None, None)


def test_core_attributes_given_as_properties_go_to_columns(env, admin):
    view = images.create_image(env, admin, "c7", properties={
        "disk_format": "qcow2", "min_ram": "512", "min_disk": "8", "os_distro": "centos"})
    assert (view["disk_format"], view["min_ram"], view["min_disk"]) == ("qcow2", 512, 8)
    assert view["properties"] == {"os_distro": "centos"}


BAD = [
    pytest.param({"file": "raw", "disk_format": "qcow2"}, InvalidInput,
                 "image file '{raw}' is not qcow2: qemu-img info reads it as raw; give "
                 "disk_format=raw or the right file (nothing was stored)", id="raw-as-qcow2"),
    pytest.param({"file": "qcow2", "disk_format": "raw"}, InvalidInput,
                 "image file '{qcow2}' is not raw: qemu-img info reads it as qcow2; give "
                 "disk_format=qcow2 or the right file (nothing was stored)", id="qcow2-as-raw"),
    pytest.param({"file": "raw", "disk_format": "iso"}, InvalidInput,
                 "image file '{raw}' is not iso: it has no ISO 9660 volume descriptor; give "
                 "disk_format=raw or the right file (nothing was stored)", id="raw-as-iso"),
    pytest.param({"file": "qcow2"}, InvalidInput,
                 "an image with data needs a disk_format: allowed ami, ari, aki, vhd, vhdx, vmdk, "
                 "raw, qcow2, vdi, iso, ploop", id="no-disk-format"),
    pytest.param({"file": "missing", "disk_format": "raw"}, InvalidInput,
                 "image file '{missing}' does not exist", id="missing-file"),
    pytest.param({"disk_format": "floppy"}, InvalidInput,
                 "disk_format='floppy' is invalid: allowed ami, ari, aki, vhd, vhdx, vmdk, raw, "
                 "qcow2, vdi, iso, ploop", id="unknown-disk-format"),
    pytest.param({"properties": {"os_type": "dos", "hw_disk_bus": "nvme0"}}, InvalidProperty,
                 "os_type='dos' is invalid: allowed one of linux, windows; hw_disk_bus='nvme0' "
                 "is invalid: allowed one of fdc, ide, sata, scsi, usb, virtio, xen, lxc, uml",
                 id="invalid-properties"),
    pytest.param({"properties": {"size": "12"}}, InvalidInput,
                 "size cannot be set as a property: it is an image attribute",
                 id="reserved-property"),
    pytest.param({"properties": {"note": "x" * 256}}, InvalidInput,
                 "property note is 256 characters long: allowed at most 255", id="too-long"),
    pytest.param({"visibility": "galactic"}, InvalidInput,
                 "visibility='galactic' is invalid: allowed public, private, shared, community",
                 id="visibility"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD)
def test_bad_input_stores_nothing(env, admin, tmp_path, raw_file, image_file, kwargs, error,
                                  message):
    files = {"raw": raw_file, "qcow2": image_file, "missing": tmp_path / "missing.img"}
    if "file" in kwargs:
        kwargs = {**kwargs, "file": files[kwargs["file"]]}
    with pytest.raises(error) as e:
        images.create_image(env, admin, "bad", **kwargs)
    assert str(e.value) == message.format(**{k: str(v) for k, v in files.items()})
    assert count(env.db, Image) == 0 and count(env.db, ImageProperty) == 0
    assert not env.settings.image_dir.exists() or not any(env.settings.image_dir.iterdir())


def _refers(tmp_path, image_file, kind):
    """A qcow2 that reads another file: a backing file, or an external data file."""
    child = tmp_path / f"{kind}.qcow2"
    if kind == "backing":
        args = ["-F", "qcow2", "-b", str(image_file), str(child)]
    else:
        args = ["-o", f"data_file={tmp_path / 'data.raw'}", str(child), "1M"]
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *args], check=True)
    return child


@pytest.mark.parametrize("kind, refers", [("backing", "backing file {image_file}"),
                                          ("data", "data file {tmp_path}/data.raw")],
                         ids=["backing-file", "external-data-file"])
def test_image_reading_another_file_is_refused(env, admin, tmp_path, image_file, kind, refers):
    child = _refers(tmp_path, image_file, kind)
    with pytest.raises(InvalidInput) as e:
        images.create_image(env, admin, "child", file=child, disk_format="qcow2")
    assert str(e.value) == (
        f"image file {str(child)!r} refers to another file "
        f"({refers.format(image_file=image_file, tmp_path=tmp_path)}); upload a self-contained "
        "image (nothing was stored)")
    assert count(env.db, Image) == 0 and list(env.settings.image_dir.iterdir()) == []


def test_file_swapped_after_the_check_is_not_what_gets_stored(env, admin, tmp_path, image_file,
                                                             monkeypatch):
    """The source is replaced, right after qemu-img has looked at a file, by a qcow2 whose
    backing file is /etc/shadow. What is stored must be what was checked: either the swap
    comes too late to matter, or the image is refused -- never a stored image that reads
    /etc/shadow."""
    from kumo.compute import image_store

    source = tmp_path / "upload.qcow2"
    good = image_file.read_bytes()
    source.write_bytes(good)
    evil = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/shadow",
                    str(evil), "1M"], check=True)
    real_run, swaps = subprocess.run, []

    def run_then_swap(cmd, *args, **kwargs):
        out = real_run(cmd, *args, **kwargs)
        if cmd[:2] == ["qemu-img", "info"] and not swaps:
            os.replace(evil, source)
            swaps.append(cmd)
        return out

    monkeypatch.setattr(image_store.subprocess, "run", run_then_swap)
    view = images.create_image(env, admin, "swapped", file=source, disk_format="qcow2")
    assert swaps  # the swap happened
    stored = env.settings.image_dir / view["id"]
    info = json.loads(real_run(["qemu-img", "info", "--output=json", str(stored)],
                               capture_output=True, text=True, check=True).stdout)
    assert "backing-filename" not in info
    assert stored.read_bytes() == good
    assert view["os_hash_value"] == hashlib.sha512(good).hexdigest()


# CERN's catalogue (seed 000): custom properties filtered and sorted like Glance's own
CATALOGUE = [
    ("win7", {"os_type": "windows", "release_date": "2019-03-01", "recommended": "false"}),
    ("win2019", {"os_type": "windows", "release_date": "2021-06-15", "recommended": "true"}),
    ("win10", {"os_type": "windows", "release_date": "2020-11-30", "recommended": "true"}),
    ("cc7", {"os_type": "linux", "release_date": "2020-01-10", "recommended": "true"}),
]


@pytest.mark.parametrize("filters, sort_key, sort_dir, expected", [
    ({"recommended": "true"}, "release_date", "desc", ["win2019", "win10", "cc7"]),
    ({"recommended": "true", "os_type": "windows"}, "release_date", "asc",
     ["win10", "win2019"]),
    ({}, "name", "asc", ["cc7", "win10", "win2019", "win7"]),
    ({"os_type": "linux"}, "created_at", "desc", ["cc7"]),
], ids=["recommended-newest", "windows-oldest", "by-name", "linux"])
def test_list_filters_and_sorts_on_custom_properties(env, admin, filters, sort_key, sort_dir,
                                                     expected):
    for name, props in CATALOGUE:
        images.create_image(env, admin, name, properties=props, visibility="public")
    got = images.list_images(env, admin, filters, sort_key, sort_dir)
    assert [i["name"] for i in got] == expected


def test_tenancy(env, admin, alice, bob):
    images.create_image(env, admin, "public", visibility="public")
    images.create_image(env, alice, "alices", visibility="private")
    assert [i["name"] for i in images.list_images(env, bob, sort_key="name", sort_dir="asc")
            ] == ["public"]
    assert [i["name"] for i in images.list_images(env, alice, sort_key="name", sort_dir="asc")
            ] == ["alices", "public"]
    with pytest.raises(NotFound, match="^image 'alices' not found$"):
        images.show_image(env, bob, "alices")
    with pytest.raises(Forbidden, match="^image 'public' belongs to project 'admin': only its "
                                        "owner or an admin may change it$"):
        images.update_image(env, alice, "public", set_properties={"os_type": "linux"})
    with pytest.raises(Forbidden, match="publishing an image"):
        images.create_image(env, alice, "mine", visibility="public")


def test_set_and_unset_revalidate(env, admin):
    images.create_image(env, admin, "img", properties={"os_type": "linux", "owner_team": "x"})
    view = images.update_image(env, admin, "img", set_properties={"os_type": "windows",
                                                                   "recommended": "true"},
                               unset=["owner_team"])
    assert view["properties"] == {"os_type": "windows", "recommended": "true"}
    with pytest.raises(InvalidProperty, match="^hw_firmware_type='efi' is invalid"):
        images.update_image(env, admin, "img", set_properties={"hw_firmware_type": "efi"})
    with pytest.raises(InvalidInput, match="^image 'img' has no property nope to unset$"):
        images.update_image(env, admin, "img", unset=["nope"])
    assert images.show_image(env, admin, "img")["properties"] == view["properties"]


def test_delete_removes_data_and_respects_protected(env, admin, image_file):
    view = images.create_image(env, admin, "img", file=image_file, disk_format="qcow2",
                               protected=True)
    with pytest.raises(Forbidden, match="is protected"):
        images.delete_image(env, admin, "img")
    images.update_image(env, admin, "img", protected=False)
    assert images.delete_image(env, admin, "img") == view["id"]
    assert count(env.db, Image) == 0
    assert not (env.settings.image_dir / view["id"]).exists()


def test_ambiguous_name_is_refused(env, admin):
    a = images.create_image(env, admin, "twin")["id"]
    b = images.create_image(env, admin, "twin")["id"]
    with pytest.raises(InvalidInput) as e:
        images.show_image(env, admin, "twin")
    assert str(e.value) == (f"image name 'twin' is ambiguous: 2 images have it "
                            f"({', '.join(sorted([a, b]))}); give the id")
    assert images.show_image(env, admin, a)["id"] == a


def test_vhd_is_checked_as_vpc(env, admin, tmp_path):
    vhd = make_disk(tmp_path / "d.vhd", "vpc")
    assert images.create_image(env, admin, "vhd", file=vhd, disk_format="vhd")["status"] == \
        "active"


def test_image_deleted_during_its_upload_is_not_found_and_keeps_no_data(env, admin, image_file):
    """The one upload path (CLI and Image API) re-reads the row after the data is written: an
    image deleted meanwhile is a clear NotFound, and its written data is discarded."""
    from kumo.compute import image_data
    images.create_image(env, admin, "gone", disk_format="qcow2")

    def delete_midway(_chunk: int) -> None:
        with env.db.session_scope() as s:
            s.query(Image).filter_by(name="gone").delete()

    with pytest.raises(NotFound, match="^image 'gone' was deleted during the upload$"):
        image_data.upload_image(env, admin, "gone", image_file, progress=delete_midway)
    assert sorted(p.name for p in env.settings.image_dir.iterdir()
                  if not p.name.startswith(".")) == []


def test_upload_without_disk_format_says_how_the_caller_sets_it(env, admin, image_file):
    from kumo.compute import image_data
    images.create_image(env, admin, "nofmt")
    with pytest.raises(InvalidInput, match=r"^image 'nofmt' has no disk_format: set it on the "
                                           r"image first \(allowed ami, "):
        image_data.upload_image(env, admin, "nofmt", image_file,
                                set_format_hint="set it on the image first")
