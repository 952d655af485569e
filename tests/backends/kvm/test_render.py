"""GuestSpec -> libvirt domain XML for KVM/QEMU: exact fragments, golden files, libvirt's verdict
and the round trip.

Golden files live in golden/<case>.xml; regenerate them with ``KUMO_REGEN_GOLDEN=1 pytest
tests/backends/kvm`` and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from kumo.backends.kvm import parse, render, to_domain
from kumo.guest.spec import (
    ClockSpec,
    ControllerSpec,
    CpuSpec,
    DiskSpec,
    HypervFeature,
    NicSpec,
    TpmSpec,
)
from tests.backends.kvm.specs import CASES, linux_virtio
from tests.support.libvirt_check import assert_libvirt_accepts

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("KUMO_REGEN_GOLDEN") == "1"


def xpath(xml: str, path: str) -> object:
    result = etree.fromstring(xml.encode()).xpath(path)
    return [str(r) for r in result] if isinstance(result, list) else result


#: (case, xpath, expected): attribute/text xpaths give a list of strings, count() a number
FRAGMENTS = [
    # Windows Server 2019, SeaBIOS on q35
    ("windows-2019-bios", "/domain/@type", ["kvm"]),
    ("windows-2019-bios", "/domain/memory/@unit", ["MiB"]),
    ("windows-2019-bios", "/domain/memory/text()", ["4096"]),
    ("windows-2019-bios", "/domain/os/type/@machine", ["q35"]),
    ("windows-2019-bios", "count(/domain/os/@firmware | /domain/os/loader)", 0),
    ("windows-2019-bios", "/domain/clock/@offset", ["localtime"]),
    ("windows-2019-bios", "/domain/clock/timer[@name='rtc']/@tickpolicy", ["catchup"]),
    ("windows-2019-bios", "/domain/clock/timer[@name='pit']/@tickpolicy", ["delay"]),
    ("windows-2019-bios", "/domain/clock/timer[@name='hpet']/@present", ["no"]),
    ("windows-2019-bios", "/domain/clock/timer[@name='hypervclock']/@present", ["yes"]),
    ("windows-2019-bios", "/domain/features/hyperv/@mode", ["custom"]),
    ("windows-2019-bios", "/domain/features/hyperv/*/@state", ["on"] * 9),
    ("windows-2019-bios", "name(/domain/features/hyperv/*[3])", "spinlocks"),
    ("windows-2019-bios", "/domain/features/hyperv/spinlocks/@retries", ["8191"]),
    ("windows-2019-bios", "count(/domain/features/smm)", 0),
    ("windows-2019-bios", "/domain/cpu/@mode", ["host-model"]),
    ("windows-2019-bios", "/domain/cpu/topology/@*", ["1", "2", "2"]),
    ("windows-2019-bios", "/domain/devices/disk/target/@bus", ["sata", "sata"]),
    ("windows-2019-bios", "/domain/devices/disk/target/@dev", ["sda", "sdb"]),
    ("windows-2019-bios", "/domain/devices/disk[@device='cdrom']/driver/@type", ["raw"]),
    ("windows-2019-bios", "count(/domain/devices/disk[@device='cdrom']/readonly)", 1),
    ("windows-2019-bios", "count(/domain/devices/disk[@device='disk']/readonly)", 0),
    ("windows-2019-bios", "/domain/devices/interface/@type", ["network"]),
    ("windows-2019-bios", "/domain/devices/interface/source/@network", ["default"]),
    ("windows-2019-bios", "/domain/devices/interface/model/@type", ["e1000e"]),
    ("windows-2019-bios", "/domain/devices/interface/mac/@address", ["52:54:00:12:34:56"]),
    ("windows-2019-bios", "/domain/devices/input/@*", ["tablet", "usb"]),
    ("windows-2019-bios", "/domain/devices/video/model/@*", ["vga", "16384"]),
    ("windows-2019-bios", "/domain/devices/watchdog/@*", ["i6300esb", "reset"]),
    ("windows-2019-bios", "count(/domain/devices/channel | /domain/devices/memballoon)", 0),
    # Windows 11: UEFI Secure Boot by firmware autoselection, TPM 2.0 CRB
    ("windows-11-secure-boot", "/domain/os/@firmware", ["efi"]),
    ("windows-11-secure-boot", "/domain/os/firmware/feature/@name",
     ["enrolled-keys", "secure-boot"]),
    ("windows-11-secure-boot", "/domain/os/firmware/feature/@enabled", ["yes", "yes"]),
    ("windows-11-secure-boot", "count(/domain/os/loader)", 0),
    ("windows-11-secure-boot", "/domain/features/smm/@state", ["on"]),
    ("windows-11-secure-boot", "/domain/features/hyperv/stimer/direct/@state", ["on"]),
    ("windows-11-secure-boot", "/domain/os/bootmenu/@enable", ["yes"]),
    ("windows-11-secure-boot", "/domain/clock/@*", ["timezone", "America/Chicago"]),
    ("windows-11-secure-boot", "/domain/devices/tpm/@model", ["tpm-crb"]),
    ("windows-11-secure-boot", "/domain/devices/tpm/backend/@*", ["emulator", "2.0"]),
    ("windows-11-secure-boot", "/domain/devices/interface/@type", ["bridge"]),
    ("windows-11-secure-boot", "/domain/devices/interface/source/@bridge", ["br0"]),
    ("windows-11-secure-boot", "/domain/devices/interface/driver/@queues", ["4"]),
    ("windows-11-secure-boot", "/domain/devices/input/@bus", ["virtio"]),
    ("windows-11-secure-boot", "/domain/devices/channel/@type", ["unix"]),
    ("windows-11-secure-boot", "/domain/devices/channel/target/@*",
     ["virtio", "org.qemu.guest_agent.0"]),
    ("windows-11-secure-boot", "/domain/devices/rng/@model", ["virtio"]),
    ("windows-11-secure-boot", "/domain/devices/rng/backend/@model", ["random"]),
    ("windows-11-secure-boot", "/domain/devices/rng/backend/text()", ["/dev/urandom"]),
    # Windows 11 with its firmware image named: libvirt 9.0's manual form, no autoselection
    ("windows-11-explicit-loader", "count(/domain/os/@firmware | /domain/os/firmware)", 0),
    ("windows-11-explicit-loader", "/domain/os/loader/@*", ["yes", "yes", "pflash"]),
    ("windows-11-explicit-loader", "/domain/os/loader/text()",
     ["/usr/share/OVMF/OVMF_CODE_4M.ms.fd"]),
    ("windows-11-explicit-loader", "/domain/features/smm/@state", ["on"]),
    # Linux with virtio drivers
    ("linux-virtio", "/domain/clock/@offset", ["utc"]),
    ("linux-virtio", "/domain/clock/timer/@*", ["kvmclock", "yes"]),
    ("linux-virtio", "count(/domain/features/hyperv)", 0),
    ("linux-virtio", "/domain/devices/disk/target/@dev", ["vda", "vdb", "sda"]),
    ("linux-virtio", "/domain/devices/disk/target/@bus", ["virtio", "virtio", "sata"]),
    ("linux-virtio", "/domain/devices/disk/driver/@type", ["qcow2", "raw", "raw"]),
    ("linux-virtio", "/domain/devices/serial/@type", ["pty"]),
    ("linux-virtio", "/domain/devices/console/target/@*", ["serial", "0"]),
    ("linux-virtio", "count(/domain/devices/interface/mac)", 0),
    # SCSI behind virtio-scsi on i440fx
    ("linux-scsi", "/domain/os/type/@machine", ["pc"]),
    ("linux-scsi", "/domain/devices/controller/@*", ["scsi", "0", "virtio-scsi"]),
    ("linux-scsi", "/domain/devices/disk/target/@dev", ["sda", "sdb", "hda"]),
    ("linux-scsi", "/domain/devices/disk/driver/@type", ["qcow2", "vpc", "raw"]),
    ("linux-scsi", "/domain/devices/input/@bus", ["usb"]),
    ("linux-scsi", "/domain/devices/watchdog/@action", ["poweroff"]),
    # UEFI, no Secure Boot, no NVRAM
    ("linux-uefi-stateless", "/domain/os/@firmware", ["efi"]),
    ("linux-uefi-stateless", "/domain/os/firmware/feature/@enabled", ["no", "no"]),
    ("linux-uefi-stateless", "/domain/os/loader/@*", ["yes"]),
    ("linux-uefi-stateless", "name(/domain/os/loader/@*)", "stateless"),
    ("linux-uefi-stateless", "count(/domain/features/smm)", 0),
    # direct kernel boot under TCG, console logged to a file
    ("direct-kernel-qemu", "/domain/@type", ["qemu"]),
    ("direct-kernel-qemu", "/domain/os/kernel/text()",
     ["/var/lib/kumo/instances/8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0006/kernel"]),
    ("direct-kernel-qemu", "/domain/os/initrd/text()",
     ["/var/lib/kumo/instances/8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0006/ramdisk"]),
    ("direct-kernel-qemu", "/domain/os/cmdline/text()", ["console=ttyS0 root=/dev/vda ro"]),
    ("direct-kernel-qemu", "count(/domain/cpu/@mode)", 0),
    # ... a pty (virsh console attaches) whose output virtlogd appends to the log file
    ("direct-kernel-qemu", "/domain/devices/serial/@type", ["pty"]),
    ("direct-kernel-qemu", "count(/domain/devices/serial/source)", 0),
    ("direct-kernel-qemu", "/domain/devices/serial/log/@file",
     ["/var/lib/kumo/instances/8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0006/console.log"]),
    ("direct-kernel-qemu", "/domain/devices/serial/log/@append", ["on"]),
    ("direct-kernel-qemu", "/domain/devices/console/@type", ["pty"]),
    ("direct-kernel-qemu", "/domain/devices/console/target/@type", ["serial"]),
    ("direct-kernel-qemu", "/domain/devices/console/log/@file",
     ["/var/lib/kumo/instances/8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0006/console.log"]),
    # a VNC display on the configured address, behind the guest's password
    ("direct-kernel-qemu", "/domain/devices/graphics/@type", ["vnc"]),
    ("direct-kernel-qemu", "/domain/devices/graphics/@autoport", ["yes"]),
    ("direct-kernel-qemu", "/domain/devices/graphics/@passwd", ["h8Ld3pQz"]),
    ("direct-kernel-qemu", "/domain/devices/graphics/listen/@type", ["address"]),
    ("direct-kernel-qemu", "/domain/devices/graphics/listen/@address", ["192.0.2.10"]),
    ("linux-virtio", "count(/domain/devices/graphics)", 0),
    ("direct-kernel-qemu", "/domain/devices/interface/@type", ["user"]),
    ("direct-kernel-qemu", "count(/domain/devices/interface/source)", 0),
]


@pytest.mark.parametrize(("case", "path", "expected"), FRAGMENTS,
                         ids=[f"{c}:{p}" for c, p, _ in FRAGMENTS])
def test_fragment(case, path, expected):
    assert xpath(render(CASES[case]()), path) == expected


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    xml = render(CASES[case]())
    golden = GOLDEN / f"{case}.xml"
    if REGEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(xml)
    assert xml == golden.read_text()


@pytest.mark.parametrize("case", CASES)
def test_libvirt_accepts(case):
    assert_libvirt_accepts(render(CASES[case]()))


@pytest.mark.parametrize("case", CASES)
def test_parse_of_render_equals_to_domain(case):
    spec = CASES[case]()
    assert parse(render(spec)) == to_domain(spec)


@pytest.mark.parametrize("case", CASES)
def test_render_of_parse_is_identity(case):
    xml = render(CASES[case]())
    assert parse(xml).to_xml() == xml


@pytest.mark.parametrize("case", CASES)
def test_render_is_deterministic(case):
    assert render(CASES[case]()) == render(CASES[case]())


@pytest.mark.parametrize("hypervisor", ["kvm", "qemu"])
def test_hypervisor_only_changes_the_domain_type(hypervisor):
    xml = render(replace(linux_virtio(), hypervisor=hypervisor))
    assert xpath(xml, "/domain/@type") == [hypervisor]
    assert xml.replace(f'<domain type="{hypervisor}">', "", 1) == render(linux_virtio()).replace(
        '<domain type="kvm">', "", 1)


#: (id, GuestSpec changes on linux-virtio, xpath, expected): one spec field -> its XML
SWITCHES = [
    ("hide-hypervisor-id", dict(hide_hypervisor_id=True),
     "/domain/features/kvm/hidden/@state", ["on"]),
    ("pae-vmport", dict(features=("acpi", "apic", "pae", "vmport")),
     "/domain/features/*[name()='pae' or name()='vmport']/@state", ["on"]),
    ("smm-without-secure-boot", dict(features=("acpi", "smm")),
     "/domain/features/smm/@state", ["on"]),
    ("boot-menu", dict(boot_menu=True), "/domain/os/bootmenu/@enable", ["yes"]),
    ("no-boot-menu", dict(boot_menu=False), "count(/domain/os/bootmenu)", 0),
    ("readonly-disk", dict(disks=(DiskSpec("root", "disk", "virtio", "/i/disk", "qcow2",
                                           readonly=True),)),
     "count(/domain/devices/disk/readonly)", 1),
    ("vmdk-disk-on-usb", dict(disks=(DiskSpec("root", "disk", "usb", "/i/disk", "vmdk"),)),
     "/domain/devices/disk/*[name()='driver' or name()='target']/@*",
     ["qemu", "vmdk", "sda", "usb"]),
    ("two-usb-controllers", dict(controllers=(ControllerSpec("usb", "qemu-xhci"),
                                              ControllerSpec("scsi", "virtio-scsi"),
                                              ControllerSpec("usb", "qemu-xhci"))),
     "/domain/devices/controller/@index", ["0", "0", "1"]),
    ("virtio-serial-controller", dict(controllers=(ControllerSpec("virtio-serial"),)),
     "/domain/devices/controller/@*", ["virtio-serial", "0"]),
    ("virtio-tablet", dict(pointer="virtio-tablet", input_bus=None),
     "/domain/devices/input/@*", ["tablet", "virtio"]),
    ("tpm-tis-1.2", dict(tpm=TpmSpec("tpm-tis", "1.2")),
     "/domain/devices/tpm/@model | /domain/devices/tpm/backend/@version", ["tpm-tis", "1.2"]),
    ("watchdog-none-action", dict(watchdog_action="none"),
     "/domain/devices/watchdog/@action", ["none"]),
    ("video-none", dict(video="none"), "/domain/devices/video/model/@type", ["none"]),
    ("no-guest-agent", dict(guest_agent=False), "count(/domain/devices/channel)", 0),
    ("two-nics", dict(nics=(NicSpec("virtio", network="default"), NicSpec("e1000"))),
     "/domain/devices/interface/@type", ["network", "user"]),
    ("hyperv-evmcs-reenlightenment", dict(hyperv=(HypervFeature("evmcs"),
                                                  HypervFeature("reenlightenment"))),
     "/domain/features/hyperv/*/@state", ["on", "on"]),
    ("clock-localtime", dict(clock=ClockSpec("localtime", host_time_sync=True)),
     "/domain/clock/@*", ["localtime"]),
    ("cpu-topology", dict(cpu=CpuSpec(vcpus=8, sockets=2, cores=2, threads=2)),
     "/domain/vcpu/text() | /domain/cpu/topology/@*", ["8", "2", "2", "2"]),
]


@pytest.mark.parametrize(("changes", "path", "expected"), [s[1:] for s in SWITCHES],
                         ids=[s[0] for s in SWITCHES])
def test_spec_field_renders(changes, path, expected):
    spec = replace(linux_virtio(), **changes)
    xml = render(spec)
    assert xpath(xml, path) == expected
    assert_libvirt_accepts(xml)
    assert parse(xml) == to_domain(spec)
