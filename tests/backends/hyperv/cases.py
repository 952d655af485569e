"""Hyper-V guests for the backend tests, built by the real policy (seed 004's images)."""

from __future__ import annotations

import json
from importlib import resources

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageDocument, ImageProperties
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from kumo.guest.spec import GuestSpec
from kumo.hosts.capabilities import HostConfig
from kumo.hosts.defaults import hyperv_host_caps

SEEDS = resources.files("kumo.data").joinpath("seed-images")
FLAVOR = Flavor(2, 4096, 40, name="m1.medium", ephemeral_gib=20)
SWITCH = HostConfig(network="external")
INSTANCES = r"C:\ClusterStorage\Volume1\kumo"


def seed(filename: str) -> ImageProperties:
    return ImageDocument.from_json(json.loads(SEEDS.joinpath(filename).read_text())).properties


def seed004_gen2() -> GuestSpec:
    """Seed 004's ``glance image-create --property hypervisor_type=hyperv --property
    hw_machine_type=hyperv-gen2 --property hypervisor_version_requires='>=6.3'``, VHDX."""
    root = rf"{INSTANCES}\instance-0004\root.vhdx"
    return build_guest(GuestRequest(
        seed("hyperv-image-gen2.json"), flavor=FLAVOR, host=hyperv_host_caps(),
        host_config=SWITCH, name="instance-0004", uuid="0c6e1d1a-4b8f-4f0e-9a44-000000000004",
        root_disk=root, disk_format="vhdx",
        config_drive=rf"{INSTANCES}\instance-0004\configdrive.iso"))


def seed004_gen1_windows() -> GuestSpec:
    """A Windows Server 2008 R2 VHD image: generation 1 by default, IDE disks."""
    return build_guest(GuestRequest(
        seed("hyperv-win2008r2-gen1.json"), flavor=FLAVOR, host=hyperv_host_caps(),
        host_config=SWITCH, name="instance-0001", uuid="0c6e1d1a-4b8f-4f0e-9a44-000000000001",
        root_disk=rf"{INSTANCES}\instance-0001\root.vhd", disk_format="vhd",
        config_drive=rf"{INSTANCES}\instance-0001\configdrive.iso"))


def gen2_linux_secure_boot() -> GuestSpec:
    """Ubuntu on generation 2 with Secure Boot: the Microsoft UEFI CA template."""
    props = seed("hyperv-image-gen2.json").updated({
        "os_type": "linux", "os_distro": "ubuntu", "os_version": "22.04",
        "os_secure_boot": "required"})
    return build_guest(GuestRequest(
        props, flavor=Flavor(4, 8192, 80, name="m1.large"), host=hyperv_host_caps(),
        name="ubuntu-sb", uuid="0c6e1d1a-4b8f-4f0e-9a44-0000000000b1", disk_format="vhdx"))


def gen1_legacy_nic() -> GuestSpec:
    """Windows Server 2008 lacks the synthetic NIC driver: a legacy adapter, not connected."""
    props = seed("hyperv-win2008r2-gen1.json").updated({"os_version": "2008"})
    return build_guest(GuestRequest(
        props, flavor=Flavor(1, 2048, 30, name="m1.small"), host=hyperv_host_caps(),
        name="w2k8-legacy", uuid="0c6e1d1a-4b8f-4f0e-9a44-0000000000a1", disk_format="vhd"))


CASES = {
    "seed004-gen2": seed004_gen2,
    "seed004-gen1-windows2008r2": seed004_gen1_windows,
    "gen2-linux-secure-boot": gen2_linux_secure_boot,
    "gen1-legacy-nic": gen1_legacy_nic,
}
