"""A GuestSpec value QEMU cannot express is refused with a message naming field, value and what is
allowed; the renderer never substitutes a value of its own."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.backends.kvm import render
from kumo.errors import UnsupportedGuest
from kumo.guest.spec import (
    BootSpec,
    ControllerSpec,
    CpuSpec,
    DiskSpec,
    FirmwareSpec,
    HypervFeature,
    NicSpec,
    TpmSpec,
)
from tests.backends.kvm.specs import linux_virtio, windows_2019_bios

DISK = DiskSpec("root", "disk", "virtio", "/d", "qcow2")
CPU = CpuSpec(vcpus=1, sockets=1, cores=1, threads=1)

CASES = [
    ("hypervisor-xen", dict(hypervisor="xen"),
     "KVM/QEMU backend cannot render hypervisor='xen': allowed kvm, qemu"),
    ("virt-mode-pv", dict(virt_mode="xen"),
     "KVM/QEMU backend cannot render virt_mode='xen': allowed hvm"),
    ("pygrub", dict(boot=BootSpec(bootloader="/usr/bin/pygrub")),
     "KVM/QEMU backend cannot render boot.bootloader='/usr/bin/pygrub': a host-side bootloader "
     "(pygrub) is Xen's; use boot.kernel/initrd for direct kernel boot"),
    ("firmware-type", dict(firmware=FirmwareSpec(type="coreboot")),
     "KVM/QEMU backend cannot render firmware.type='coreboot': allowed bios, uefi"),
    ("secure-boot-on-bios", dict(firmware=FirmwareSpec(type="bios", secure_boot=True)),
     "firmware.secure_boot and firmware.stateless need firmware.type='uefi', got "
     "firmware.type='bios' (secure_boot=True, stateless=False)"),
    ("cpu-mode", dict(cpu=replace(CPU, mode="host")),
     "KVM/QEMU backend cannot render cpu.mode='host': allowed host-model, host-passthrough, "
     "custom, maximum, none"),
    ("clock-offset", dict(clock=replace(linux_virtio().clock, offset="variable")),
     "KVM/QEMU backend cannot render clock.offset='variable': allowed utc, localtime, timezone"),
    ("platform-feature", dict(features=("acpi", "viridian")),
     "KVM/QEMU backend cannot render features[1]='viridian': allowed acpi, apic, pae, smm, "
     "vmport"),
    ("hyperv-vendor-id-without-value", dict(hyperv=(HypervFeature("vendor_id"),)),
     "hyperv[0]: vendor_id needs a value of 1 to 12 characters, got None"),
    ("hyperv-vendor-id-too-long", dict(hyperv=(HypervFeature("vendor_id", value="x" * 13),)),
     "hyperv[0]: vendor_id needs a value of 1 to 12 characters, got 'xxxxxxxxxxxxx'"),
    ("hyperv-value-not-vendor-id", dict(hyperv=(HypervFeature("relaxed", value="x"),)),
     "hyperv[0]: a value applies to vendor_id only, not 'relaxed'"),
    ("hyperv-unknown", dict(hyperv=(HypervFeature("crash"),)),
     "KVM/QEMU backend cannot render hyperv[0].name='crash': allowed relaxed, vapic, "
     "spinlocks, vpindex, runtime, synic, stimer, reset, vendor_id, frequencies, "
     "reenlightenment, tlbflush, ipi, evmcs, avic, stimer-direct"),
    ("usb-controller", dict(usb_controller="nec-xhci"),
     "KVM/QEMU backend cannot render usb_controller='nec-xhci': allowed qemu-xhci, "
     "piix3-uhci, ich9-ehci1"),
    ("cpu-model-without-custom", dict(cpu=replace(CPU, mode="host-model", model="Nehalem")),
     "cpu.model='Nehalem' with cpu.mode='host-model': a named model goes with mode 'custom' "
     "and only with it"),
    ("serial-ports-zero", dict(serial_ports=0),
     "KVM/QEMU backend cannot render serial_ports=0: allowed 1 or more"),
    ("disk-discard", dict(disks=(replace(DISK, discard="trim"),)),
     "KVM/QEMU backend cannot render disks.root.discard='trim': allowed unmap, ignore"),
    ("hyperv-retries-not-spinlocks", dict(hyperv=(HypervFeature("relaxed", retries=10),)),
     "hyperv[0]: retries=10 applies to spinlocks only, not 'relaxed'"),
    ("disk-bus-xen", dict(disks=(replace(DISK, bus="xen"),)),
     "KVM/QEMU backend cannot render disks.root.bus='xen': allowed ide, sata, scsi, virtio, "
     "usb, fdc"),
    ("disk-format", dict(disks=(replace(DISK, format="ploop"),)),
     "KVM/QEMU backend cannot render disks.root.format='ploop': allowed raw, qcow2, vhd, vmdk, "
     "vdi"),
    ("disk-format-vhdx", dict(disks=(replace(DISK, format="vhdx"),)),
     "KVM/QEMU backend cannot render disks.root.format='vhdx': allowed raw, qcow2, vhd, vmdk, "
     "vdi"),
    ("controller-type", dict(controllers=(ControllerSpec("xenbus"),)),
     "KVM/QEMU backend cannot render controllers[0].type='xenbus': allowed scsi, "
     "virtio-serial, usb, sata, ide"),
    ("nic-netfront", dict(nics=(NicSpec(model="netfront"),)),
     "KVM/QEMU backend cannot render nics[0].model='netfront': allowed virtio, e1000, e1000e, "
     "rtl8139, ne2k_pci, pcnet, vmxnet3, igb, spapr-vlan, lan9118"),
    ("nic-network-and-bridge", dict(nics=(NicSpec("virtio", network="default", bridge="br0"),)),
     "nics[0] names both network 'default' and bridge 'br0': a libvirt interface attaches to "
     "one"),
    ("video-xen", dict(video="xen"),
     "KVM/QEMU backend cannot render video='xen': allowed vga, cirrus, vmvga, qxl, virtio, "
     "bochs, ramfb, none"),
    ("pointer-mouse", dict(pointer="mouse"),
     "KVM/QEMU backend cannot render pointer='mouse': allowed tablet, usbtablet, virtio-tablet"),
    ("pointer-without-bus", dict(pointer="tablet", input_bus=None),
     "pointer='tablet' needs input_bus (usb or virtio)"),
    ("pointer-bus-conflict", dict(pointer="usbtablet", input_bus="virtio"),
     "pointer='usbtablet' is a usb device but input_bus='virtio'"),
    ("watchdog-action", dict(watchdog_action="explode"),
     "KVM/QEMU backend cannot render watchdog_action='explode': allowed reset, shutdown, "
     "poweroff, pause, none, dump, inject-nmi"),
    ("rng-model", dict(rng="egd"), "KVM/QEMU backend cannot render rng='egd': allowed virtio"),
    ("tpm-model", dict(tpm=TpmSpec("tpm-spapr", "2.0")),
     "KVM/QEMU backend cannot render tpm.model='tpm-spapr': allowed tpm-tis, tpm-crb"),
    ("tpm-version", dict(tpm=TpmSpec("tpm-crb", "3.0")),
     "KVM/QEMU backend cannot render tpm.version='3.0': allowed 1.2, 2.0"),
]


@pytest.mark.parametrize(("changes", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_unsupported_value_is_named(changes, message):
    spec = replace(windows_2019_bios(), **changes)
    with pytest.raises(UnsupportedGuest) as err:
        render(spec)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("changes", "absent"),
    [(dict(watchdog_action=None), "watchdog"), (dict(watchdog_action="disabled"), "watchdog"),
     (dict(video=None, video_ram_mib=None), "video"), (dict(pointer=None), "input"),
     (dict(features=(), hyperv=()), "features")],
    ids=["watchdog-none", "watchdog-disabled", "no-video", "no-pointer", "no-features"],
)
def test_unset_fields_render_no_element(changes, absent):
    assert f"<{absent}" not in render(replace(windows_2019_bios(), **changes))
