"""Image property parsing: normalisation, aliases, exact error messages, custom properties."""

import pytest

from kumo.catalog.properties import ImageDocument, ImageProperties
from kumo.errors import InvalidInput, InvalidProperty


@pytest.mark.parametrize("raw, name, expected", [
    ({"os_type": "Windows"}, "os_type", "windows"),
    ({"os_type": "WINDOWS"}, "os_type", "windows"),
    ({"os_distro": "Windows"}, "os_distro", "windows"),
    ({"hw_qemu_guest_agent": "yes"}, "hw_qemu_guest_agent", True),
    ({"hw_qemu_guest_agent": "True"}, "hw_qemu_guest_agent", True),
    ({"hw_qemu_guest_agent": "1"}, "hw_qemu_guest_agent", True),
    ({"hw_qemu_guest_agent": "off"}, "hw_qemu_guest_agent", False),
    ({"hw_qemu_guest_agent": True}, "hw_qemu_guest_agent", True),
    ({"architecture": "amd64"}, "architecture", "x86_64"),
    ({"hw_architecture": "x86_64"}, "architecture", "x86_64"),
    ({"img_hv_type": "HyperV"}, "hypervisor_type", "hyperv"),
    ({"hw_vm_mode": "pv"}, "vm_mode", "xen"),
    ({"vm_mode": "HVM"}, "vm_mode", "hvm"),
    ({"img_hv_requested_version": ">=6.3"}, "hypervisor_version_requires", ">=6.3"),
    ({"hypervisor_version_requires": ">= 6.3, <10.0"}, "hypervisor_version_requires",
     ">=6.3,<10.0"),
    ({"hw_scsi_model": "virtio-scsi"}, "hw_scsi_model", "virtio-scsi"),
    ({"hw_machine_type": "Q35"}, "hw_machine_type", "q35"),
    ({"hw_machine_type": "pc-q35-7.2"}, "hw_machine_type", "pc-q35-7.2"),
    ({"hw_machine_type": "hyperv-gen2"}, "hw_machine_type", "hyperv-gen2"),
    ({"min_ram": 512}, "min_ram", 512),
    ({"hw_video_ram": "64"}, "hw_video_ram", 64),
    ({"kumo_guest_drivers": "virtio-blk, virtio-net"}, "kumo_guest_drivers",
     ("virtio-blk", "virtio-net")),
    ({"kumo_guest_timezone": "Asia/Shanghai"}, "kumo_guest_timezone", "Asia/Shanghai"),
], ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(f"{k}={v[k]}" for k in v))
def test_normalised(raw, name, expected):
    assert ImageProperties.parse(raw).get(name) == expected


@pytest.mark.parametrize("raw, message", [
    ({"hw_disk_bus": "scsii"}, "hw_disk_bus='scsii' is invalid: allowed one of fdc, ide, sata, "
                               "scsi, usb, virtio, xen, lxc, uml"),
    ({"os_type": "win"}, "os_type='win' is invalid: allowed one of linux, windows"),
    ({"hw_qemu_guest_agent": "maybe"}, "hw_qemu_guest_agent='maybe' is invalid: allowed a "
                                       "boolean (yes/no, true/false, 1/0, on/off)"),
    ({"min_ram": "-1"}, "min_ram='-1' is invalid: allowed an integer >= 0"),
    ({"hypervisor_version_requires": "6.3+"},
     "hypervisor_version_requires='6.3+' is invalid: allowed version constraints like '>=6.3' "
     "or '>=6.3,<10.0' (operators >=, >, <=, <, ==)"),
    ({"kumo_guest_timezone": "Mars/Olympus"},
     "kumo_guest_timezone='Mars/Olympus' is invalid: allowed an IANA time zone name such as "
     "Asia/Shanghai or Europe/Zurich"),
    ({"hw_machine_type": "pentium"}, "hw_machine_type='pentium' is invalid: allowed a value "
                                     "matching"),
    ({"architecture": "x86_64", "hw_architecture": "aarch64"},
     "hw_architecture='aarch64' is invalid: allowed the same value as its alias "
     "architecture='x86_64' (both name architecture)"),
], ids=["enum", "os_type", "bool", "int-min", "version-spec", "timezone", "pattern", "alias-clash"])
def test_invalid_value_names_property_value_and_allowed(raw, message):
    with pytest.raises(InvalidProperty) as e:
        ImageProperties.parse(raw)
    assert str(e.value).startswith(message)


def test_every_problem_reported_at_once():
    with pytest.raises(InvalidProperty) as e:
        ImageProperties.parse({"hw_disk_bus": "x", "os_type": "y", "hw_vif_model": "z"})
    assert [p.name for p in e.value.problems] == ["hw_disk_bus", "os_type", "hw_vif_model"]


def test_unknown_properties_kept_verbatim():
    p = ImageProperties.parse({"release_date": "2017-01-27", "recommended": "true",
                               "os_edition": "DESKTOP", "os_type": "windows"})
    assert dict(p.custom) == {"release_date": "2017-01-27", "recommended": "true",
                              "os_edition": "DESKTOP"}
    assert p.to_glance() == {"os_type": "windows", "release_date": "2017-01-27",
                             "recommended": "true", "os_edition": "DESKTOP"}


def test_source_remembers_what_the_operator_wrote():
    p = ImageProperties.parse({"img_hv_type": "HyperV"})
    assert p.source("hypervisor_type") == ("img_hv_type", "HyperV")


def test_updated_revalidates():
    p = ImageProperties.parse({"os_type": "linux"})
    assert p.updated({"os_type": "Windows"}).get("os_type") == "windows"
    assert "os_type" not in p.updated({}, remove=["os_type"])
    with pytest.raises(InvalidProperty):
        p.updated({"os_type": "dos"})


@pytest.mark.parametrize("doc", [
    {"name": "a", "os_type": "windows", "disk_format": "qcow2"},
    {"name": "a", "disk_format": "qcow2", "properties": {"os_type": "windows"}},
    {"name": "a", "disk_format": "qcow2", "properties": "os_type='windows'"},
], ids=["top-level", "nested", "cli-string"])
def test_image_document_properties_anywhere(doc):
    img = ImageDocument.from_json(doc)
    assert img.properties.get("os_type") == "windows"
    assert img.properties.get("disk_format") == "qcow2"


def test_image_document_missing_file(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        ImageDocument.load(tmp_path / "nope.json")
