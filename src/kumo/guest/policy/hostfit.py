"""Rules: every machine type, bus, device model and firmware feature of a libvirt KVM/QEMU guest
is checked against the host it is rendered for, so what libvirt or QEMU would refuse at define
or start is a lint error (and, through the GuestPolicy filter, a scheduling reason) naming what
the host offers instead.

Each refusal below was tried once on libvirt 9.0 / QEMU 7.2 (Debian 12, TCG) with a one-device
domain; the quoted text is libvirt's answer.

* a versioned machine QEMU does not have -- define: "Emulator '/usr/bin/qemu-system-x86_64' does
  not support machine type 'pc-q35-8.2'" (machine names from virConnectGetCapabilities);
* a NIC model newer than the host's QEMU -- start: "'igb' is not a valid device model name".
  libvirt's domain capabilities list no NIC models, so QEMU's version decides, with the release
  that added the device cited in ``NIC_MODELS``;
* a SCSI controller libvirt's QEMU driver does not implement -- define: "Unsupported controller
  model: buslogic" (libvirt src/qemu/qemu_validate.c, qemuValidateCheckSCSIControllerModel);
* a device on a bus that cannot carry it -- define: "Invalid bus type 'fdc' for disk" (the
  floppy controller takes floppies only), "disk type of 'vdb' does not support ejectable media"
  (a CD-ROM on virtio);
* stateless UEFI with no stateless firmware build -- start: "Unable to find any firmware to
  satisfy 'efi'" (kumo.hosts.firmware);
* a CPU mode the host does not offer for the domain type -- start: "CPU mode 'host-passthrough'
  for x86_64 qemu domain on x86_64 host is not supported by hypervisor" (domcaps
  cpu/mode[@supported]);
* a video model the host's domcaps do not list.
"""

from __future__ import annotations

from typing import Any

from kumo.guest.policy.context import Context
from kumo.guest.spec import DiskSpec
from kumo.hosts.capabilities import HostCapabilities, machine_family

#: NIC model -> the QEMU release that added it, or None when no x86 QEMU has it (why)
NIC_MODELS: dict[str, tuple[int, ...] | str] = {
    "virtio": (1, 0), "e1000": (1, 0), "rtl8139": (1, 0), "ne2k_pci": (1, 0), "pcnet": (1, 0),
    "vmxnet3": (1, 6),  # QEMU 1.6 ChangeLog: "VMware vmxnet3 paravirtual NIC"
    "e1000e": (2, 7),  # QEMU 2.7 ChangeLog: "new e1000e device emulating Intel 82574L"
    "igb": (8, 0),  # QEMU 8.0 ChangeLog: "New igb device emulating Intel 82576 Gigabit NIC"
    "netfront": "it is Xen's paravirtual NIC",
    "spapr-vlan": "it exists only on POWER (pseries) machines",
    "lan9118": "it exists only on ARM boards",
    "vmxnet": "QEMU has only vmxnet3",
}
#: SCSI controller models libvirt's QEMU driver builds on x86 (qemuValidateCheckSCSIController-
#: Model; ibmvscsi is POWER's spapr-vscsi, buslogic is ESX/Xen's and refused at define)
SCSI_MODELS_X86 = ("virtio-scsi", "lsilogic", "lsisas1068", "lsisas1078", "vmpvscsi")
#: which buses a device may sit on (libvirt formatdomain "Hard drives, floppy disks, CDROMs";
#: a CD-ROM needs ejectable media, which virtio-blk lacks; fdc takes floppies only)
DEVICE_BUSES = {"disk": ("ide", "sata", "scsi", "virtio", "usb"),
                "cdrom": ("ide", "sata", "scsi", "usb")}
#: CPU modes the host must list in its domain capabilities ("none"/"custom": QEMU's own model)
CHECKED_CPU_MODES = ("host-model", "host-passthrough", "maximum")


def check(c: Context, fields: dict[str, Any]) -> None:
    """Error findings for what this libvirt/QEMU host would refuse (the spec's ``fields``)."""
    host = c.req.host
    machine = fields["machine"]
    _machine(c, host, machine)
    _nic(c, host, fields["nics"])
    _storage(c, host, machine, fields["disks"], fields["controllers"])
    _firmware(c, host, machine, fields["firmware"])
    _cpu(c, host, fields["cpu"].mode)
    _video(c, host, fields.get("video"))


def _qemu(host: HostCapabilities) -> str:
    v = host.hypervisor_version
    return f"QEMU {'.'.join(str(x) for x in v[:2])}" if v else "QEMU (version unknown)"


def _machine(c: Context, host: HostCapabilities, machine: str) -> None:
    family = machine_family(machine)
    if family not in host.machines or host.offers_machine(machine):
        return  # a family the host lacks is decide_machine's finding
    versions = host.machine_versions(family)
    alias = host.canonical_machine(family)
    shown = (f"{versions[0]} to {versions[-1]}" if len(versions) > 1 else
             ", ".join(versions) or "none")
    c.d.error("machine-type-unavailable",
              f"hw_machine_type={machine} is not offered by this host's {_qemu(host)} (its "
              f"{family} machines: {shown}; {family} = {alias or 'unknown'}); libvirt refuses "
              "it at define", f"use hw_machine_type={family} (the host's newest, pinned at "
              "create) or one of the listed versions")


def _nic(c: Context, host: HostCapabilities, nics: tuple) -> None:
    for nic in nics:
        need = NIC_MODELS.get(nic.model)
        if need is None:
            continue
        if isinstance(need, str):
            why = need
        elif host.hypervisor_version is None or host.hypervisor_version >= need:
            continue
        else:
            why = (f"it needs QEMU >= {'.'.join(map(str, need))}, the host runs "
                   f"{_qemu(host)}")
        usable = sorted(m for m, v in NIC_MODELS.items() if isinstance(v, tuple)
                        and host.hypervisor_version and host.hypervisor_version >= v)
        c.d.error("nic-model-unavailable",
                  f"hw_vif_model={nic.model} cannot run on this host: {why}; QEMU refuses to "
                  f"start the guest", f"use one of {', '.join(usable) or 'virtio, e1000'}")


def _bus_list(host: HostCapabilities, machine: str, device: str) -> list[str]:
    m = host.machine(machine)
    offered = m.disk_buses if m is not None and m.disk_buses else host.disk_buses
    if "q35" in machine:
        offered = tuple(b for b in offered if b != "ide")
    return [b for b in DEVICE_BUSES[device] if b in offered]


def _storage(c: Context, host: HostCapabilities, machine: str, disks: tuple[DiskSpec, ...],
             controllers: tuple) -> None:
    reported: set[tuple[str, str]] = set()
    for disk in disks:
        allowed = DEVICE_BUSES.get(disk.device)
        if allowed is None or disk.bus in allowed or (disk.device, disk.bus) in reported:
            continue
        if disk.bus == "ide" or (disk.device == "disk" and disk.bus not in host.disk_buses):
            continue  # ide-on-q35 / disk-bus-unavailable: the storage rules' findings
        reported.add((disk.device, disk.bus))
        others = ", ".join(_bus_list(host, machine, disk.device))
        if disk.device == "cdrom":
            what = "the config drive" if disk.role == "config" else "a CD-ROM"
            c.d.error("cdrom-bus-unavailable",
                      f"hw_cdrom_bus={disk.bus}: {what} is a CD-ROM, which cannot sit on "
                      f"{disk.bus} (no ejectable media; libvirt refuses it at define); this "
                      f"host offers {others} on {machine}", f"use hw_cdrom_bus= one of {others}")
        else:
            c.d.error("disk-bus-unavailable",
                      f"hw_disk_bus={disk.bus} cannot carry a disk"
                      + (" (the floppy controller takes floppies only)" if disk.bus == "fdc"
                         else "") + f"; libvirt refuses it at define; this host offers "
                      f"{others} on {machine}", f"use hw_disk_bus= one of {others}")
    for ctl in controllers:
        if ctl.type == "scsi" and ctl.model not in SCSI_MODELS_X86:
            c.d.error("scsi-model-unavailable",
                      f"hw_scsi_model={ctl.model} is not a SCSI controller libvirt's QEMU "
                      "driver can build on x86 (refused at define: unsupported controller "
                      "model)", f"use hw_scsi_model= one of {', '.join(SCSI_MODELS_X86)} "
                      "(virtio-scsi with its driver in the image)")


def _firmware(c: Context, host: HostCapabilities, machine: str, fw: Any) -> None:
    if fw.type != "uefi" or not fw.stateless:
        return
    if host.stateless_firmware(machine) is not False:
        return  # a stateless build exists, or the host's firmware files are unknown
    names = ", ".join(d.name for d in host.firmware_descriptors or ()) or "none"
    c.d.error("firmware-stateless-unavailable",
              f"hw_firmware_stateless=true: none of this host's UEFI builds for {machine} is "
              f"stateless (its firmware descriptors: {names}); libvirt refuses to start the "
              "guest (no firmware to satisfy 'efi')",
              "remove hw_firmware_stateless, or place the image on a host with a stateless "
              "OVMF build")


def _cpu(c: Context, host: HostCapabilities, mode: str) -> None:
    if mode not in CHECKED_CPU_MODES or not host.cpu_modes or mode in host.cpu_modes:
        return
    c.d.error("cpu-mode-unavailable",
              f"CPU mode {mode} is not offered by this host for {c.hypervisor} guests (offers "
              f"{', '.join(host.cpu_modes)}); libvirt refuses to start the guest"
              + (": host-passthrough needs KVM, and this host runs guests under TCG"
                 if c.hypervisor == "qemu" and mode == "host-passthrough" else ""),
              f"use one of {', '.join(host.cpu_modes)} (or leave the CPU mode unset)")


def _video(c: Context, host: HostCapabilities, model: str | None) -> None:
    if model is None or model == "none" or not host.video_models or model in host.video_models:
        return
    c.d.error("video-model-unavailable",
              f"hw_video_model={model} is not offered by this host (offers "
              f"{', '.join(host.video_models)})", "choose a video model the host offers")
