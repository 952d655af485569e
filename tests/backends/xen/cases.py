"""Xen guests for the backend tests, built by the real policy from image documents.

Seed 003's fleet: one Xen host (qemu-dm device model, xenbr0) runs the Windows HVM guest and the
Linux PV guests side by side, each rendered per instance.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageDocument, ImageProperties
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from kumo.guest.spec import GuestSpec
from kumo.hosts.defaults import xen_host_caps

SEEDS = resources.files("kumo.data").joinpath("seed-images")
#: seed 003's host: its template's device model
SEED_003_HOST = replace(xen_host_caps(), emulator="/usr/lib64/xen/bin/qemu-dm")
INSTANCES = "/var/lib/eucalyptus/instances/admin"
M1_LARGE = Flavor(2, 2048, 20, name="m1.large", ephemeral_gib=10)


def seed(filename: str) -> ImageProperties:
    return ImageDocument.from_json(json.loads(SEEDS.joinpath(filename).read_text())).properties


def seed003_windows_hvm() -> GuestSpec:
    return build_guest(GuestRequest(
        seed("xen-eucalyptus-windows.json"), flavor=M1_LARGE, host=SEED_003_HOST,
        name="i-3f2a0c15", uuid="6b1f63d0-1d1c-4f3e-9d0e-3f2a0c150003",
        root_disk=f"{INSTANCES}/i-3f2a0c15/root", root_format="raw",
        config_drive=f"{INSTANCES}/i-3f2a0c15/disk.config"))


def seed003_linux_pv_kernel() -> GuestSpec:
    return build_guest(GuestRequest(
        seed("xen-centos7-pv.json"), flavor=M1_LARGE, host=SEED_003_HOST,
        name="i-51c7e2a8", uuid="6b1f63d0-1d1c-4f3e-9d0e-51c7e2a80003",
        root_disk=f"{INSTANCES}/i-51c7e2a8/root", root_format="raw",
        kernel=f"{INSTANCES}/i-51c7e2a8/kernel", initrd=f"{INSTANCES}/i-51c7e2a8/ramdisk"))


def seed003_linux_pv_pygrub() -> GuestSpec:
    props = seed("xen-centos7-pv.json").updated({}, remove=("kernel_id", "ramdisk_id",
                                                             "os_command_line"))
    return build_guest(GuestRequest(
        props, flavor=Flavor(1, 1024, 10, name="m1.small"), host=SEED_003_HOST,
        name="i-7d04b9e1", uuid="6b1f63d0-1d1c-4f3e-9d0e-7d04b9e10003",
        root_disk=f"{INSTANCES}/i-7d04b9e1/root", root_format="raw"))


def linux_hvm_pv_drivers() -> GuestSpec:
    """CentOS 7 without vm_mode: HVM, but its pvops drivers take xvda and a netfront NIC."""
    props = seed("xen-centos7-pv.json").updated({}, remove=("vm_mode", "kernel_id", "ramdisk_id",
                                                             "os_command_line"))
    return build_guest(GuestRequest(
        props, host=xen_host_caps(), name="centos7-hvm", root_format="qcow2",
        uuid="6b1f63d0-1d1c-4f3e-9d0e-0000c7e20003", console_log="/var/log/kumo/centos7.log"))


CASES = {
    "seed003-windows-hvm": seed003_windows_hvm,
    "seed003-linux-pv-kernel": seed003_linux_pv_kernel,
    "seed003-linux-pv-pygrub": seed003_linux_pv_pygrub,
    "linux-hvm-pv-drivers": linux_hvm_pv_drivers,
}
