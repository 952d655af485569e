"""Xen backend: golden XML for seed 003's guests, accepted by libvirt's RelaxNG schema and read
back by the same declarative model; every spec value libxl cannot express is refused by name.

(libvirt's test:///default driver only defines test-driver domains, so Xen XML is checked with
``virt-xml-validate`` and the round trip, not by defining it.)
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.backends import RenderedConfig, get_backend
from kumo.backends.xen import XenBackend, parse, render, to_domain
from kumo.errors import UnsupportedGuest
from kumo.guest.spec import (
    BootSpec,
    ClockSpec,
    ControllerSpec,
    DiskSpec,
    FirmwareSpec,
    HypervFeature,
    NicSpec,
    Timer,
    TpmSpec,
)
from tests.backends.xen.cases import CASES, seed003_linux_pv_kernel, seed003_windows_hvm
from tests.support.golden import assert_golden
from tests.support.libvirt_check import schema_errors


@pytest.mark.parametrize("case", CASES)
def test_golden_and_schema(case):
    xml = render(CASES[case]())
    assert_golden(f"xen/{case}.xml", xml)
    assert schema_errors(xml) is None


@pytest.mark.parametrize("case", CASES)
def test_round_trip(case):
    spec = CASES[case]()
    assert parse(render(spec)) == to_domain(spec)
    assert render(spec) == parse(render(spec)).to_xml()


def test_seed003_windows_has_the_templates_elements():
    d = to_domain(seed003_windows_hvm())
    assert (d.type, d.os.type, d.os.loader.path, d.devices.emulator) == (
        "xen", "hvm", "/usr/lib/xen/boot/hvmloader", "/usr/lib64/xen/bin/qemu-dm")
    assert (d.features.pae, d.features.acpi, d.features.apic) == (True, True, True)
    root = d.devices.disks[0]
    assert (root.target_dev, root.target_bus, root.source_file) == (
        "hda", "ide", "/var/lib/eucalyptus/instances/admin/i-3f2a0c15/root")
    nic = d.devices.interfaces[0]
    assert (nic.type, nic.source_bridge, nic.model) == ("bridge", "xenbr0", "e1000")
    assert d.clock.offset == "localtime"


def test_seed003_linux_pv_boots_the_images_kernel():
    d = to_domain(seed003_linux_pv_kernel())
    assert (d.os.type, d.os.machine, d.bootloader) == ("xen", "xenpv", None)
    assert (d.os.kernel, d.os.cmdline) == ("/var/lib/eucalyptus/instances/admin/i-51c7e2a8/kernel",
                                           "root=/dev/xvda console=hvc0")
    assert [x.target_dev for x in d.devices.disks] == ["xvda", "xvdb"]
    assert (d.devices.emulator, d.features, d.devices.serials) == (None, None, [])
    assert d.devices.consoles[0].target_type == "xen"


def test_parse_ignores_what_libvirt_adds():
    live = parse("""<domain type='xen' id='18'>
      <name>i-51c7e2a8</name><uuid>6b1f63d0-1d1c-4f3e-9d0e-51c7e2a80003</uuid>
      <memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>2097152</currentMemory>
      <vcpu placement='static'>2</vcpu>
      <os><type arch='x86_64' machine='xenpv'>linux</type><kernel>/k</kernel></os>
      <clock offset='utc' adjustment='reset'/>
      <on_poweroff>destroy</on_poweroff>
      <devices>
        <disk type='file' device='disk'><driver name='qemu' type='raw'/>
          <source file='/root'/><target dev='xvda' bus='xen'/></disk>
        <controller type='xenbus' index='0'/>
        <interface type='bridge'><mac address='00:16:3e:12:34:56'/>
          <source bridge='xenbr0'/><script path='vif-bridge'/><model type='netfront'/></interface>
        <console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/>
          <target type='xen' port='0'/></console>
        <memballoon model='xen'/>
      </devices></domain>""")
    assert (live.memory_mib(), live.os.type, live.os.kernel) == (2048, "linux", "/k")
    assert live.devices.interfaces[0].mac == "00:16:3e:12:34:56"
    assert live.devices.disks[0].target_dev == "xvda"


def test_registry_and_rendered_config():
    spec = seed003_windows_hvm()
    backend = get_backend("xen")
    assert isinstance(backend, XenBackend)
    assert backend.render(spec) == RenderedConfig(
        text=render(spec), media_type="application/xml", backend="xen", hypervisor="xen",
        guest_name="i-3f2a0c15")
    assert backend.parse(backend.render(spec).text) == to_domain(spec)


HVM = seed003_windows_hvm
PV = seed003_linux_pv_kernel
UNSUPPORTED = [
    ("hypervisor-kvm", HVM, dict(hypervisor="kvm"),
     "Xen backend cannot render hypervisor='kvm': allowed xen"),
    ("virt-mode", HVM, dict(virt_mode="hyperv-gen2"),
     "Xen backend cannot render virt_mode='hyperv-gen2': allowed hvm, xen"),
    ("machine-q35", HVM, dict(machine="q35"),
     "Xen backend cannot render machine='q35': allowed xenfv"),
    ("uefi", HVM, dict(firmware=FirmwareSpec(type="uefi")),
     "Xen backend cannot render firmware.type='uefi': allowed bios"),
    ("pv-firmware", PV, dict(firmware=FirmwareSpec(type="bios")),
     "Xen backend cannot render firmware.type='bios': allowed none"),
    ("secure-boot", HVM, dict(firmware=FirmwareSpec(type="bios", secure_boot=True)),
     "Xen backend cannot render firmware.secure_boot=True"),
    ("timezone", HVM, dict(clock=ClockSpec(offset="timezone", timezone="Asia/Shanghai")),
     "Xen backend cannot render clock.offset='timezone': allowed utc, localtime"),
    ("timers", HVM, dict(clock=ClockSpec(offset="utc", timers=(Timer("hpet", False),))),
     "Xen backend cannot render clock.timers=['hpet']"),
    ("kvm-enlightenments", HVM, dict(hyperv=(HypervFeature("relaxed"),)),
     "Xen backend cannot render hyperv=['relaxed']: those are KVM's enlightenments"),
    ("features", HVM, dict(features=("pae", "smm")),
     "Xen backend cannot render features[1]='smm': allowed pae, acpi, apic"),
    ("pv-features", PV, dict(features=("acpi",)),
     "Xen backend cannot render features[0]='acpi': allowed none"),
    ("virtio-disk", HVM, dict(disks=(DiskSpec("root", "disk", "virtio", "/d", "raw"),)),
     "Xen backend cannot render disks.root.bus='virtio': allowed ide, xen"),
    ("pv-ide-disk", PV, dict(disks=(DiskSpec("root", "disk", "ide", "/d", "raw"),)),
     "Xen backend cannot render disks.root.bus='ide': allowed xen"),
    ("vhdx", HVM, dict(disks=(DiskSpec("root", "disk", "ide", "/d", "vhdx"),)),
     "Xen backend cannot render disks.root.format='vhdx': allowed raw, qcow2, vhd"),
    ("controllers", HVM, dict(controllers=(ControllerSpec("scsi", "virtio-scsi"),)),
     "Xen backend cannot render controllers=['scsi']: Xen disks need none"),
    ("virtio-nic", HVM, dict(nics=(NicSpec("virtio", bridge="xenbr0"),)),
     "Xen backend cannot render nics[0].model='virtio': allowed e1000, rtl8139, netfront"),
    ("pv-e1000", PV, dict(nics=(NicSpec("e1000", bridge="xenbr0"),)),
     "Xen backend cannot render nics[0].model='e1000': allowed netfront"),
    ("nic-unattached", HVM, dict(nics=(NicSpec("e1000"),)),
     "nics[0] needs exactly one of network and bridge (got network=None, bridge=None): a Xen "
     "vif joins a bridge, directly or through a libvirt network"),
    ("cpu-mode", HVM, dict(cpu=replace(HVM().cpu, mode="host-model")),
     "Xen backend cannot render cpu.mode='host-model': allowed none"),
    ("tpm", HVM, dict(tpm=TpmSpec("tpm-crb", "2.0")),
     "Xen backend cannot render tpm=TpmSpec(model='tpm-crb', version='2.0')"),
    ("guest-agent", HVM, dict(guest_agent=True), "Xen backend cannot render guest_agent=True"),
    ("video-qxl", HVM, dict(video="qxl"),
     "Xen backend cannot render video='qxl': allowed vga, cirrus"),
    ("pv-emulator", PV, dict(emulator="/usr/lib/xen/bin/qemu-system-i386"),
     "Xen backend cannot render emulator='/usr/lib/xen/bin/qemu-system-i386' for a "
     "paravirtual guest: it has no firmware or emulated devices, and its console is "
     "xenconsoled's"),
    ("pv-no-kernel", PV, dict(boot=BootSpec()),
     "a paravirtual guest needs boot.kernel or boot.bootloader"),
    ("pv-both", PV, dict(boot=BootSpec(kernel="/k", bootloader="/usr/lib/xen/bin/pygrub")),
     "boot.bootloader and boot.kernel are alternatives: a PV guest boots one kernel"),
    ("hvm-pygrub", HVM, dict(boot=BootSpec(bootloader="/usr/lib/xen/bin/pygrub")),
     "boot.bootloader='/usr/lib/xen/bin/pygrub' is for paravirtual guests; an HVM guest boots "
     "through boot.loader"),
    ("host-time-sync", HVM, dict(clock=ClockSpec(offset="utc", host_time_sync=True)),
     "Xen backend cannot render clock.host_time_sync=True"),
]


@pytest.mark.parametrize("make, changes, message", [c[1:] for c in UNSUPPORTED],
                         ids=[c[0] for c in UNSUPPORTED])
def test_unsupported(make, changes, message):
    with pytest.raises(UnsupportedGuest) as e:
        render(replace(make(), **changes))
    assert str(e.value) == message
