"""Xen platform: the rules that decide a Xen guest's hardware (libvirt's libxl driver), in order.

Seed 003: Eucalyptus had one libvirt template for the whole cloud. To run Windows on Xen the
operator replaced it with an HVM template — ``<type>hvm</type>``, the hvmloader firmware, the
qemu-dm device model, ``pae``/``acpi``/``apic``, an emulated IDE disk (``hda``) and a bridged
NIC — and disabled SSH-key injection; from then on the cloud could run Windows or Linux guests,
never both. kumo decides per guest:

- ``vm_mode`` (Nova's image property; ``pv``/``hv`` are accepted spellings) picks paravirtual
  (``xen``) or fully virtualised (``hvm``). Unset, the guest is HVM: hvmloader boots any x86 OS
  from its disk, where PV needs a PV-capable kernel. Windows has no PV kernel, so
  ``vm_mode=xen`` for Windows is an error.
- A PV guest boots the image's kernel/ramdisk (``kernel_id``/``ramdisk_id``) directly, or,
  without them, its own kernel through pygrub (libvirt drvxen.html, "Paravirtualized guest
  bootloader"); it has only PV devices (blkfront ``xvd*`` disks, a netfront NIC, the Xen
  console).
- An HVM guest gets the host's device model (its capabilities' emulator), PAE/ACPI/APIC, and
  emulated IDE disks and NIC unless it carries Xen's PV drivers (``kumo_guest_drivers=xen-pv``,
  or an OS that ships them), which take the ``xvd*`` disks and a netfront NIC.
- The clock is the shared rule (Windows: localtime, seed 001); libxl keeps the RTC in UTC or the
  host's local time only, so a named guest time zone is an error here.

kumo renders Xen HVM guests with BIOS firmware only (no OVMF, Secure Boot or TPM yet).
"""

from __future__ import annotations

from typing import Any

from kumo.guest.policy import clock, devices, platform, storage
from kumo.guest.policy.context import Context
from kumo.guest.spec import BootSpec, DiskSpec, FirmwareSpec, NicSpec

#: Xen's firmware loader for HVM guests at its upstream install path (XENFIRMWAREDIR); seed 003
HVMLOADER = "/usr/lib/xen/boot/hvmloader"
#: pygrub at Xen's upstream install path (LIBEXEC_BIN)
PYGRUB = "/usr/lib/xen/bin/pygrub"
#: xl's default bridge for a vif with none given (xl-network-configuration: bridge=xenbr0)
DEFAULT_BRIDGE = "xenbr0"
MODES = {"hvm": "xenfv", "xen": "xenpv"}  # vm_mode -> libvirt machine
_KIND = {"hvm": "HVM", "xen": "paravirtual"}
HVM_FEATURES = ("pae", "acpi", "apic")
#: NIC models libxl's device model emulates for HVM guests, in order of preference, plus PV
EMULATED_NICS = ("e1000", "rtl8139")
VIF_MODELS = EMULATED_NICS + ("netfront",)
VIDEO_MODELS = ("vga", "cirrus")  # libxl HVM: stdvga, cirrus
#: image properties with no effect on a Xen guest as kumo renders it
IGNORED = ("hw_scsi_model", "hw_qemu_guest_agent", "hw_rng_model", "hw_watchdog_action",
           "hw_time_hpet", "img_hide_hypervisor_id", "hw_boot_menu", "hw_firmware_stateless",
           "hw_vif_multiqueue_enabled", "hw_video_ram", "hw_pmu", "hw_serial_port_count",
           "hw_virtio_packed_ring")


def decide(c: Context) -> dict[str, Any]:
    """GuestSpec fields for a Xen guest (each rule reads what earlier ones chose)."""
    ch = c.chosen
    mode = decide_virt_mode(c)
    ch["machine"] = machine = decide_machine(c, mode)
    ch["cpu"] = platform.decide_cpu(c)
    if mode == "hvm":  # Xen SUPPORT.md, Limits/Guest, Virtual RAM: "Limit, x86 HVM: 1TB"
        platform.check_ram(c, platform.TIB_MIB, "Xen's supported limit for an HVM guest")
    firmware = decide_firmware(c, mode)
    ch["clock"] = decide_clock(c)
    disks = decide_disks(c, mode)
    fields: dict[str, Any] = dict(
        virt_mode=mode, machine=machine, cpu=ch["cpu"], firmware=firmware, clock=ch["clock"],
        boot=decide_boot(c, mode), disks=disks, nics=(decide_nic(c, mode),),
    )
    if mode == "hvm":
        c.d.decide("features", ",".join(HVM_FEATURES), "xen.hvm-features", "vm_mode", mode,
                   "an HVM guest needs PAE (64-bit and PAE kernels; libxl turns it off when "
                   "absent), ACPI and the APIC, as a working Xen Windows template has")
        fields.update(features=HVM_FEATURES, emulator=decide_emulator(c),
                      video=decide_video(c), display=devices.decide_display(c))
        fields["pointer"], fields["input_bus"] = decide_pointer(c)
    else:
        _check_pv_extras(c)
    _warn_ignored(c)
    return fields


# --- mode and machine ----------------------------------------------------------------------------


def decide_virt_mode(c: Context) -> str:
    d, os = c.d, c.os
    if "vm_mode" in c.props:
        mode = c.props.get("vm_mode")
        name, given = c.prop("vm_mode")
        if mode not in MODES:
            d.error("vm-mode-unsupported", f"{name}={given}: Xen runs hvm (fully virtualised) "
                    "or xen (paravirtual) guests", "set vm_mode=hvm or vm_mode=xen")
            return "hvm"
        if mode == "xen" and c.windows:
            d.error("xen-pv-windows", f"{name}={given} asks for a Xen paravirtual guest, but "
                    "Windows has no paravirtual kernel: it runs on Xen only as an HVM guest",
                    "set vm_mode=hvm, or remove vm_mode")
            return "hvm"
        if mode == "xen" and os.family == "linux" and os.release_known and not os.xen_pv:
            d.error("xen-pv-unsupported", f"{name}={given}, but {os.name}'s kernel cannot run "
                    "as a Xen paravirtual guest", "set vm_mode=hvm, or remove vm_mode")
            return "hvm"
        return d.decide("virt_mode", mode, "xen.vm-mode-explicit", name, given,
                        "vm_mode is set on the image" + (": a paravirtual guest"
                                                         if mode == "xen" else ""))
    machine = c.props.get("hw_machine_type")
    if machine in ("xenpv", "xenfv"):
        name, given = c.prop("hw_machine_type")
        mode = "xen" if machine == "xenpv" else "hvm"
        if mode == "xen" and c.windows:
            d.error("xen-pv-windows", f"{name}={given} asks for a Xen paravirtual guest, but "
                    "Windows has no paravirtual kernel: it runs on Xen only as an HVM guest",
                    "set hw_machine_type=xenfv, or remove it")
            return "hvm"
        return d.decide("virt_mode", mode, "xen.vm-mode-machine", name, given,
                        f"hw_machine_type={machine} names the Xen guest type")
    return d.decide("virt_mode", "hvm", "xen.vm-mode-default", "vm_mode", None,
                    "vm_mode is not set: a fully virtualised (HVM) guest boots any x86 OS from "
                    "its disk through hvmloader; set vm_mode=xen for a paravirtual one "
                    "(one configuration per guest, not one template per cloud)")


def decide_machine(c: Context, mode: str) -> str:
    machine = MODES[mode]
    if "hw_machine_type" in c.props:
        value = c.props.get("hw_machine_type")
        if value not in MODES.values():
            c.d.error("machine-type-wrong-hypervisor",
                      f"hw_machine_type={value} is for "
                      f"{'Hyper-V' if value.startswith('hyperv') else 'KVM/QEMU'}, but the host "
                      "runs xen", "remove hw_machine_type or place the image on such a host")
        elif value != machine:
            c.d.error("xen-machine-vm-mode", f"hw_machine_type={value} contradicts "
                      f"vm_mode={mode} (machine {machine})", "remove hw_machine_type")
    return c.d.decide("machine", machine, "xen.machine", "virt_mode", mode,
                      f"libvirt's Xen machine for {'HVM' if mode == 'hvm' else 'PV'} guests")


# --- firmware and boot ---------------------------------------------------------------------------


def decide_firmware(c: Context, mode: str) -> FirmwareSpec:
    d, os = c.d, c.os
    if mode == "xen":
        d.decide("firmware.type", "none", "xen.pv-no-firmware", "vm_mode", mode,
                 "a paravirtual guest's kernel is started by Xen itself, without firmware")
    else:
        d.decide("firmware.type", "bios", "xen.hvm-bios", "vm_mode", mode,
                 "HVM guests boot through hvmloader's BIOS")
    needs_uefi = []
    if c.props.get("hw_firmware_type") == "uefi":
        needs_uefi.append("hw_firmware_type=uefi")
    elif os.requires_uefi:
        needs_uefi.append(f"{os.name} boots only from UEFI")
    if c.props.get("os_secure_boot") == "required":
        needs_uefi.append("os_secure_boot=required")
    if needs_uefi:
        d.error("xen-uefi-unsupported", f"{' and '.join(needs_uefi)}: kumo renders Xen guests "
                "with BIOS firmware only (no OVMF or Secure Boot)",
                "place the image on a KVM host, or remove the UEFI/Secure Boot requirement")
    if "hw_tpm_version" in c.props or os.requires_tpm2:
        what = (f"hw_tpm_version={c.props.get('hw_tpm_version')}" if "hw_tpm_version" in c.props
                else f"{os.name} requires TPM 2.0")
        d.error("xen-tpm-unsupported", f"{what}: kumo renders no virtual TPM for Xen guests",
                "place the image on a KVM host")
    return FirmwareSpec(type="none" if mode == "xen" else "bios")


def decide_boot(c: Context, mode: str) -> BootSpec:
    """Loader/bootloader; kernel, initrd and cmdline as the common boot rule reads them."""
    req, d = c.req, c.d
    cmdline = c.props.get("os_command_line") if req.kernel else None
    if mode == "hvm":
        loader = d.decide("boot.loader", HVMLOADER, "xen.hvmloader", "vm_mode", mode,
                          "HVM guests start in Xen's hvmloader firmware")
        return BootSpec(kernel=req.kernel, initrd=req.initrd, cmdline=cmdline, loader=loader)
    if req.kernel:
        return BootSpec(kernel=req.kernel, initrd=req.initrd, cmdline=cmdline)
    d.decide("boot.bootloader", PYGRUB, "xen.pygrub", "kernel_id", None,
             "no kernel_id: pygrub boots the kernel and initrd from the guest's own /boot "
             "(libvirt drvxen, paravirtualized guest bootloader)")
    return BootSpec(bootloader=PYGRUB)


def decide_emulator(c: Context) -> str | None:
    path = c.req.host.emulator
    if path:
        return c.d.decide("emulator", path, "xen.device-model", "host", path,
                          "the host's device model emulates the HVM guest's disks, NIC and VGA "
                          "(qemu-dm)")
    c.d.decide("emulator", None, "xen.device-model", "host", None,
               "the host's capabilities name no device model; Xen uses its default")
    return None


# --- clock ---------------------------------------------------------------------------------------


def decide_clock(c: Context):
    spec = clock.decide_clock(c)
    if spec.offset == "timezone":
        c.d.error("xen-clock-timezone", f"guest time zone {spec.timezone} cannot be set on Xen: "
                  "libvirt's Xen driver keeps a guest's RTC in UTC or in the host's local time "
                  "only", "remove kumo_guest_timezone (and the host's guest_timezone) and set "
                  "dom0's time zone, which a localtime guest follows")
    return spec


# --- devices -------------------------------------------------------------------------------------


def decide_disks(c: Context, mode: str) -> tuple[DiskSpec, ...]:
    d, req = c.d, c.req
    if mode == "xen":
        bus = "xen"
        if "hw_disk_bus" in c.props and c.props.get("hw_disk_bus") != "xen":
            name, given = c.prop("hw_disk_bus")
            d.error("xen-pv-disk-bus", f"{name}={given}: a paravirtual guest has only Xen "
                    "virtual disks (bus xen)", "remove hw_disk_bus or set it to xen")
        d.decide("disks.root.bus", bus, "xen.pv-disk", "vm_mode", mode,
                 "a paravirtual guest's disks are Xen virtual disks (blkfront, xvda)")
    elif "hw_disk_bus" in c.props:
        bus = c.props.get("hw_disk_bus")
        name, given = c.prop("hw_disk_bus")
        d.decide("disks.root.bus", bus, "disk.bus-explicit", name, given,
                 "hw_disk_bus is set on the image")
        if bus not in req.host.disk_buses:
            d.error("disk-bus-unavailable", f"hw_disk_bus={bus} is not offered by the host "
                    f"(offers {', '.join(req.host.disk_buses)})", "choose another hw_disk_bus")
        elif bus == "xen":
            storage.driver_check(c, "hw_disk_bus=xen", "xen-pv", "hw_disk_bus")
    elif "xen-pv" in c.drivers():
        bus = "xen"
        src = c.driver_source("xen-pv")
        d.decide("disks.root.bus", bus, "xen.hvm-pv-disk", src[0], src[1],
                 "the guest has Xen's PV block driver: a Xen virtual disk (xvda), which the "
                 "firmware boots through the device model until the driver takes over")
    else:
        bus = "ide"
        d.decide("disks.root.bus", bus, "xen.hvm-ide", "os", c.os.name,
                 f"{c.os.name} has no Xen PV drivers and the image declares none: an emulated "
                 "IDE disk (hda), as Windows on Xen without PV drivers needs")
    disks = storage.root_and_ephemeral(c, bus)
    if req.config_drive or c.props.get("img_config_drive") == "mandatory":
        cbus = "xen" if mode == "xen" else "ide"
        if "hw_cdrom_bus" in c.props and c.props.get("hw_cdrom_bus") != cbus:
            name, given = c.prop("hw_cdrom_bus")
            d.error("xen-cdrom-bus", f"{name}={given}: a Xen {_KIND[mode]} guest's CD-ROM is "
                    f"on {cbus}", "remove hw_cdrom_bus")
        d.decide("disks.config.bus", cbus, "xen.cdrom-bus", "vm_mode", mode,
                 "an HVM guest's CD-ROM is emulated IDE (hdc, as Nova's Xen driver); a PV "
                 "guest's is a Xen virtual disk")
        source = req.config_drive or req.root_path.rsplit("/", 1)[0] + "/disk.config"
        disks.append(DiskSpec("config", "cdrom", cbus, source, "raw", readonly=True))
    return tuple(disks)


def decide_nic(c: Context, mode: str) -> NicSpec:
    d, hc = c.d, c.req.host_config
    if "hw_vif_model" in c.props:
        model = c.props.get("hw_vif_model")
        name, given = c.prop("hw_vif_model")
        d.decide("nics.0.model", model, "nic.explicit", name, given,
                 "hw_vif_model is set on the image")
        allowed = ("netfront",) if mode == "xen" else VIF_MODELS
        if model not in allowed:
            d.error("xen-vif-model", f"{name}={given} is not a NIC of a Xen {_KIND[mode]} "
                    f"guest: allowed {', '.join(allowed)}",
                    "remove hw_vif_model or choose an allowed model")
    elif mode == "xen":
        model = d.decide("nics.0.model", "netfront", "xen.pv-nic", "vm_mode", mode,
                         "a paravirtual guest's NIC is netfront")
    elif "xen-pv" in c.drivers():
        src = c.driver_source("xen-pv")
        model = d.decide("nics.0.model", "netfront", "xen.hvm-pv-nic", src[0], src[1],
                         "the guest has Xen's PV network driver (netfront)")
    else:
        model = next((m for m in EMULATED_NICS if m in c.drivers()), EMULATED_NICS[0])
        d.decide("nics.0.model", model, "xen.hvm-emulated-nic", "os", c.os.name,
                 f"no Xen PV drivers: an emulated {model}, which {c.os.name}'s inbox driver "
                 "handles, on the host's bridge")
    if hc.network:
        d.decide("nics.0.network", hc.network, "xen.nic-attach", "host network", hc.network,
                 "the host's configured network")
        return NicSpec(model=model, network=hc.network)
    bridge = hc.bridge or DEFAULT_BRIDGE
    d.decide("nics.0.bridge", bridge, "xen.nic-attach", "host bridge", hc.bridge,
             "the host's configured bridge" if hc.bridge else
             "no bridge configured: xl's default bridge xenbr0")
    return NicSpec(model=model, bridge=bridge)


def decide_video(c: Context) -> str:
    d = c.d
    if "hw_video_model" in c.props:
        model = c.props.get("hw_video_model")
        name, given = c.prop("hw_video_model")
        if model not in VIDEO_MODELS:
            d.error("xen-video-model", f"{name}={given} is not emulated for Xen HVM guests: "
                    f"allowed {', '.join(VIDEO_MODELS)}", "remove hw_video_model")
        return d.decide("video.model", model, "video.explicit", name, given,
                        "hw_video_model is set on the image")
    return d.decide("video.model", "vga", "xen.hvm-vga", "vm_mode", "hvm",
                    "standard VGA: every OS has a driver for it")


def decide_pointer(c: Context) -> tuple[str, str]:
    pointer, bus = devices.decide_pointer(c)
    if bus != "usb":
        c.d.error("xen-input-bus", f"hw_input_bus={bus}: Xen HVM guests have USB input devices "
                  "only", "remove hw_input_bus")
    return pointer, bus


def _check_pv_extras(c: Context) -> None:
    """What a PV guest cannot have: emulated video/input, and a console log file."""
    for prop in ("hw_video_model", "hw_pointer_model", "hw_input_bus"):
        if prop in c.props:
            name, given = c.prop(prop)
            c.d.warn("xen-property-ignored", f"{name}={given} has no effect on a Xen "
                     "paravirtual guest: it has no emulated devices", f"remove {name}")
    if c.req.console_log:
        c.d.error("xen-pv-console-log", "a Xen paravirtual guest's console is xenconsoled's "
                  f"pty: libvirt cannot log it to {c.req.console_log}",
                  "log the console with xenconsoled (--log=guest) instead")


def _warn_ignored(c: Context) -> None:
    for prop in IGNORED:
        if prop in c.props:
            name, given = c.prop(prop)
            c.d.warn("xen-property-ignored", f"{name}={given} has no effect on a Xen guest as "
                     "kumo renders it", f"remove {name} for Xen hosts")
