"""Hand-built GuestSpecs for the KVM/QEMU renderer tests: what policy would hand the renderer for
typical Windows and Linux guests. Each is built here explicitly, not by the policy engine, so the
renderer's tests do not move when a rule changes."""

from __future__ import annotations

from dataclasses import replace

from kumo.guest.spec import (
    BootSpec,
    ClockSpec,
    ControllerSpec,
    CpuSpec,
    DiskSpec,
    DisplaySpec,
    FirmwareSpec,
    GuestSpec,
    HypervFeature,
    NicSpec,
    Timer,
    TpmSpec,
)

IMAGES = "/var/lib/kumo/instances"

WINDOWS_TIMERS = (
    Timer("rtc", tickpolicy="catchup"),
    Timer("pit", tickpolicy="delay"),
    Timer("hpet", present=False),
    Timer("hypervclock", present=True),
)
WINDOWS_HYPERV = (
    HypervFeature("relaxed"),
    HypervFeature("vapic"),
    HypervFeature("spinlocks", retries=8191),
    HypervFeature("vpindex"),
    HypervFeature("runtime"),
    HypervFeature("synic"),
    HypervFeature("stimer"),
    HypervFeature("reset"),
    HypervFeature("frequencies"),
)


def windows_2019_bios() -> GuestSpec:
    """Windows Server 2019 on q35 with SeaBIOS: local-time clock, Hyper-V enlightenments, SATA
    disk and the e1000e NIC its inbox driver handles, no virtio drivers."""
    uuid = "8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0001"
    return GuestSpec(
        name="win2019-bios", uuid=uuid, hypervisor="kvm", arch="x86_64", os_type="windows",
        os_id="win2k19", virt_mode="hvm", machine="q35", memory_mib=4096,
        cpu=CpuSpec(vcpus=4, sockets=1, cores=2, threads=2, mode="host-model", vendor="Intel"),
        firmware=FirmwareSpec(type="bios"),
        clock=ClockSpec(offset="localtime", timers=WINDOWS_TIMERS),
        features=("acpi", "apic"),
        hyperv=WINDOWS_HYPERV,
        disks=(
            DiskSpec("root", "disk", "sata", f"{IMAGES}/{uuid}/disk", "qcow2"),
            DiskSpec("config", "cdrom", "sata", f"{IMAGES}/{uuid}/disk.config", "raw"),
        ),
        nics=(NicSpec(model="e1000e", network="default", mac="52:54:00:12:34:56"),),
        video="vga", video_ram_mib=16, pointer="tablet", input_bus="usb",
        display=DisplaySpec(listen="127.0.0.1", password="Kq7vR2mx"),
        watchdog_action="reset",
    )


def windows_11_secure_boot() -> GuestSpec:
    """Windows 11: UEFI with Secure Boot (SMM), TPM 2.0 CRB, virtio drivers installed, the
    newer enlightenments, time zone clock, guest agent, bridged NIC."""
    uuid = "8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0002"
    return GuestSpec(
        name="win11-sb", uuid=uuid, hypervisor="kvm", arch="x86_64", os_type="windows",
        os_id="win11", virt_mode="hvm", machine="q35", memory_mib=8192,
        cpu=CpuSpec(vcpus=4, sockets=1, cores=4, threads=1, mode="host-passthrough"),
        firmware=FirmwareSpec(type="uefi", secure_boot=True),
        clock=ClockSpec(offset="timezone", timezone="America/Chicago", timers=WINDOWS_TIMERS),
        features=("acpi", "apic", "smm"),
        hyperv=WINDOWS_HYPERV + (HypervFeature("stimer-direct"), HypervFeature("tlbflush"),
                                 HypervFeature("ipi")),
        disks=(DiskSpec("root", "disk", "virtio", f"{IMAGES}/{uuid}/disk", "qcow2"),),
        nics=(NicSpec(model="virtio", bridge="br0", queues=4),),
        tpm=TpmSpec(model="tpm-crb", version="2.0"),
        video="virtio", pointer="tablet", input_bus="virtio", guest_agent=True,
        rng="virtio", boot_menu=True,
    )


def linux_virtio() -> GuestSpec:
    """A cloud Linux image with every virtio driver: UTC clock, kvmclock, virtio disk and NIC,
    config drive on a SATA CD-ROM, pty serial console."""
    uuid = "8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0003"
    return GuestSpec(
        name="ubuntu-virtio", uuid=uuid, hypervisor="kvm", arch="x86_64", os_type="linux",
        os_id="ubuntu22.04", virt_mode="hvm", machine="q35", memory_mib=2048,
        cpu=CpuSpec(vcpus=2, sockets=2, cores=1, threads=1),
        firmware=FirmwareSpec(type="bios"),
        clock=ClockSpec(offset="utc", timers=(Timer("kvmclock", present=True),)),
        features=("acpi", "apic"),
        disks=(
            DiskSpec("root", "disk", "virtio", f"{IMAGES}/{uuid}/disk", "qcow2"),
            DiskSpec("ephemeral", "disk", "virtio", f"{IMAGES}/{uuid}/disk.eph0", "raw"),
            DiskSpec("config", "cdrom", "sata", f"{IMAGES}/{uuid}/disk.config", "raw"),
        ),
        nics=(NicSpec(model="virtio", network="default"),),
        video="virtio", pointer="tablet", input_bus="usb", rng="virtio", guest_agent=True,
    )


def linux_scsi() -> GuestSpec:
    """Root disk on SCSI behind a virtio-scsi controller, on the i440fx (pc) machine with an
    IDE CD-ROM config drive and a VHD ephemeral disk."""
    uuid = "8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0004"
    return GuestSpec(
        name="centos-scsi", uuid=uuid, hypervisor="kvm", arch="x86_64", os_type="linux",
        os_id="centos7.0", virt_mode="hvm", machine="pc", memory_mib=1024,
        cpu=CpuSpec(vcpus=1, sockets=1, cores=1, threads=1),
        firmware=FirmwareSpec(type="bios"),
        clock=ClockSpec(offset="utc"),
        features=("acpi", "apic"),
        disks=(
            DiskSpec("root", "disk", "scsi", f"{IMAGES}/{uuid}/disk", "qcow2"),
            DiskSpec("ephemeral", "disk", "scsi", f"{IMAGES}/{uuid}/disk.eph0", "vhd"),
            DiskSpec("config", "cdrom", "ide", f"{IMAGES}/{uuid}/disk.config", "raw"),
        ),
        controllers=(ControllerSpec("scsi", "virtio-scsi"),),
        nics=(NicSpec(model="virtio", network="default"),),
        video="cirrus", pointer="usbtablet", watchdog_action="poweroff",
    )


def linux_uefi_stateless() -> GuestSpec:
    """UEFI without Secure Boot and without an NVRAM store (hw_firmware_stateless)."""
    uuid = "8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0005"
    return replace(
        linux_virtio(), name="fedora-uefi", uuid=uuid, os_id="fedora38",
        firmware=FirmwareSpec(type="uefi", stateless=True),
        disks=(DiskSpec("root", "disk", "virtio", f"{IMAGES}/{uuid}/disk", "qcow2"),),
    )


def windows_11_explicit_loader() -> GuestSpec:
    """Windows 11 with the firmware image named (GuestSpec.boot.loader) instead of autoselected."""
    return replace(windows_11_secure_boot(), name="win11-loader",
                   uuid="8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0007",
                   boot=BootSpec(loader="/usr/share/OVMF/OVMF_CODE_4M.ms.fd"))


def direct_kernel_qemu() -> GuestSpec:
    """TCG (domain type qemu), direct kernel boot, ttyS0 a pty logged to a file, a VNC display
    on a configured address, user-mode NIC."""
    uuid = "8a7c1e52-1d1f-4a49-9b8e-2f0c6a3e0006"
    return GuestSpec(
        name="probe-kernel", uuid=uuid, hypervisor="qemu", arch="x86_64", os_type="linux",
        os_id=None, virt_mode="hvm", machine="pc", memory_mib=512,
        cpu=CpuSpec(vcpus=1, sockets=1, cores=1, threads=1, mode="none"),
        firmware=FirmwareSpec(type="bios"),
        clock=ClockSpec(offset="utc"),
        boot=BootSpec(kernel=f"{IMAGES}/{uuid}/kernel", initrd=f"{IMAGES}/{uuid}/ramdisk",
                      cmdline="console=ttyS0 root=/dev/vda ro"),
        features=("acpi",),
        disks=(DiskSpec("root", "disk", "virtio", f"{IMAGES}/{uuid}/disk", "raw"),),
        nics=(NicSpec(model="virtio"),),
        console_log=f"{IMAGES}/{uuid}/console.log",
        display=DisplaySpec(listen="192.0.2.10", password="h8Ld3pQz"),
    )


CASES = {
    "windows-2019-bios": windows_2019_bios,
    "windows-11-secure-boot": windows_11_secure_boot,
    "windows-11-explicit-loader": windows_11_explicit_loader,
    "linux-virtio": linux_virtio,
    "linux-scsi": linux_scsi,
    "linux-uefi-stateless": linux_uefi_stateless,
    "direct-kernel-qemu": direct_kernel_qemu,
}
