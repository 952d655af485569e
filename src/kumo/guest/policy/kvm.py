"""KVM/QEMU platform: the rules that decide a libvirt kvm/qemu guest's hardware, in order."""

from __future__ import annotations

from typing import Any

from kumo.guest.policy import (
    clock,
    devices,
    enlightenments,
    hostfit,
    pcie,
    platform,
    power,
    storage,
    usb,
)
from kumo.guest.policy.context import Context


def decide(c: Context) -> dict[str, Any]:
    """GuestSpec fields for a kvm/qemu guest (each rule reads what earlier ones chose)."""
    ch = c.chosen
    ch["machine"] = platform.decide_machine(c)
    ch["cpu"] = platform.decide_cpu(c)
    ch["firmware"] = platform.decide_firmware(c)
    ch["clock"] = clock.decide_clock(c)
    disks, controllers = storage.decide_disks(c)
    video, video_ram = devices.decide_video(c)
    pointer, input_bus = devices.decide_pointer(c)
    fields = dict(
        virt_mode="hvm", machine=ch["machine"], cpu=ch["cpu"], firmware=ch["firmware"],
        tpm=platform.decide_tpm(c), clock=ch["clock"],
        hyperv=enlightenments.decide_hyperv(c),
        features=("acpi", "apic") + (("smm",) if ch["firmware"].secure_boot else ()),
        disks=storage.decide_discard(c, disks), controllers=controllers,
        nics=(devices.decide_nic(c),),
        video=video, video_ram_mib=video_ram, pointer=pointer, input_bus=input_bus,
        usb_controller=usb.decide_usb_controller(c), suspend=power.decide_suspend(c),
        pcie_root_ports=pcie.decide_pcie_root_ports(c),
    )
    fields.update(devices.decide_extras(c))
    hostfit.check(c, fields)  # what this host's libvirt/QEMU would refuse
    return fields
