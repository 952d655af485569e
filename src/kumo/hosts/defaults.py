"""Default host capabilities per hypervisor, for render/explain/lint without a real host.

``default_host_caps`` in ``kumo.hosts.capabilities`` describes a KVM host (read from a real
domcapabilities document); a Xen or Hyper-V host re-labelled from it would claim q35, OVMF,
virtio and KVM's Hyper-V enlightenments, none of which those hypervisors have. ``host_caps_for``
gives each hypervisor a host of its own:

- Xen 4.17 (x86_64, Intel) with the libxl toolstack: HVM guests on the ``xenfv`` machine and
  PV guests on ``xenpv``; the device model is upstream Xen's qemu-xen at its default install
  path (``$(LIBEXEC_BIN)/qemu-system-i386``); disks on IDE (emulated) or the Xen PV bus;
  BIOS only here (kumo does not render Xen's OVMF yet); libxl's HVM vCPU limit of 128.
- Hyper-V 10.0 (Windows Server 2016 and later, x86_64): generation 1 and 2 VMs, UEFI with
  Secure Boot for generation 2, IDE and SCSI controllers, at most 240 vCPUs per VM.
"""

from __future__ import annotations

from kumo.hosts.capabilities import HostCapabilities, default_host_caps

XEN_DEVICE_MODEL = "/usr/lib/xen/bin/qemu-system-i386"


def xen_host_caps() -> HostCapabilities:
    return HostCapabilities(
        hypervisor="xen",
        arch="x86_64",
        hypervisor_version=(4, 17),
        cpu_vendor="Intel",
        emulator=XEN_DEVICE_MODEL,
        machines=("xenfv", "xenpv"),
        max_vcpus=128,
        firmware=("bios",),
        disk_buses=("ide", "xen"),
        video_models=("vga", "cirrus", "xen", "none"),
        cpu_modes=(),
    )


def hyperv_host_caps() -> HostCapabilities:
    return HostCapabilities(
        hypervisor="hyperv",
        arch="x86_64",
        hypervisor_version=(10, 0),
        machines=("hyperv-gen1", "hyperv-gen2"),
        max_vcpus=240,
        firmware=("bios", "efi"),
        secure_boot=True,
        disk_buses=("ide", "scsi"),
        video_models=(),
        cpu_modes=(),
    )


#: hypervisor -> its default host; anything else gets the embedded KVM host
_DEFAULTS = {"xen": xen_host_caps, "hyperv": hyperv_host_caps}


def host_caps_for(hypervisor: str = "kvm") -> HostCapabilities:
    """The default host for ``hypervisor``: a Xen or Hyper-V host of its own, else the KVM one
    (``default_host_caps``, re-labelled for qemu)."""
    make = _DEFAULTS.get(hypervisor)
    return make() if make else default_host_caps(hypervisor)
