"""KVM/QEMU platform: the rules that decide a libvirt kvm/qemu guest's hardware, in order."""

from __future__ import annotations

from typing import Any

from kumo.guest.policy import (
    clock,
    cpu_model,
    devices,
    enlightenments,
    hostfit,
    pcie,
    platform,
    power,
    storage,
    usb,
    virtio,
)
from kumo.guest.policy.context import Context


def decide(c: Context) -> dict[str, Any]:
    """GuestSpec fields for a kvm/qemu guest (each rule reads what earlier ones chose)."""
    ch = c.chosen
    _check_vm_mode(c)
    ch["machine"] = platform.decide_machine(c)
    ch["cpu"] = platform.decide_cpu(c)
    if ch["cpu"].mode != "host-passthrough":
        # QEMU gives every CPU model but the host's own a 40-bit guest-physical address space
        # (phys-bits=40, target/i386: TCG_PHYS_ADDR_BITS) and refuses to start a guest whose RAM
        # ends above it ("Address space limit ... phys-bits too low (40)", QEMU >= 7.1);
        # host-passthrough takes the host's width, which only the host knows
        platform.check_ram(c, platform.TIB_MIB, "QEMU's 40-bit guest physical address space "
                                                "for CPU models other than host-passthrough")
    ch["firmware"] = platform.decide_firmware(c)
    ch["clock"] = clock.decide_clock(c)
    disks, controllers = storage.decide_disks(c)
    video, video_ram = devices.decide_video(c)
    pointer, input_bus = devices.decide_pointer(c)
    disks = storage.decide_discard(c, disks)
    nic = virtio.decide_multiqueue(c, devices.decide_nic(c))
    nic, disks = virtio.decide_packed_ring(c, nic, disks)
    fields = dict(
        virt_mode="hvm", machine=ch["machine"], cpu=ch["cpu"], firmware=ch["firmware"],
        tpm=platform.decide_tpm(c), clock=ch["clock"],
        hyperv=enlightenments.decide_hyperv(c),
        features=("acpi", "apic") + (("smm",) if ch["firmware"].secure_boot else ()),
        disks=disks, controllers=controllers, nics=devices.attach_nics(c, nic),
        video=video, video_ram_mib=video_ram, display=devices.decide_display(c),
        pointer=pointer, input_bus=input_bus,
        usb_controller=usb.decide_usb_controller(c), suspend=power.decide_suspend(c),
        pcie_root_ports=pcie.decide_pcie_root_ports(c), pmu=cpu_model.decide_pmu(c),
        serial_ports=devices.decide_serial_ports(c),
    )
    fields.update(devices.decide_extras(c))
    hostfit.check(c, fields)  # what this host's libvirt/QEMU would refuse
    return fields


def _check_vm_mode(c: Context) -> None:
    """vm_mode=xen (paravirtual) and the other non-HVM modes need another hypervisor."""
    mode = c.props.get("vm_mode")
    if mode is not None and mode != "hvm":
        name, given = c.prop("vm_mode")
        what = " (Xen paravirtual)" if mode == "xen" else ""
        c.d.error("vm-mode-unsupported", f"{name}={given}{what} cannot run on {c.hypervisor}: "
                  "KVM/QEMU runs HVM guests only", "remove vm_mode or set vm_mode=hvm")
