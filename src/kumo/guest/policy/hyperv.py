"""Hyper-V platform: the rules that decide a Hyper-V guest's hardware, in order.

Seed 004 (Nova's Hyper-V generation 2 spec): ``hw_machine_type=hyperv-gen1|hyperv-gen2``,
generation 1 by default because older guests cannot boot as generation 2. A generation 2 VM
needs a VHDX image (not VHD), a Hyper-V 6.3 (Windows Server 2012 R2) or newer host and a 64-bit
guest; its boot and ephemeral disks sit on SCSI (generation 1: IDE, which cannot boot from SCSI);
Secure Boot is off unless ``os_secure_boot=required``. ``hypervisor_version_requires='>=6.3'``
keeps the scheduler from placing a generation 2 image on an older host.

Secure Boot templates (Set-VMFirmware -SecureBootTemplate, Windows Server 2016 / Hyper-V 10.0
and later): Windows guests use MicrosoftWindows; other guests' shims are signed by the Microsoft
UEFI CA, so they use MicrosoftUEFICertificateAuthority (Nova: ``_requires_certificate``). Hyper-V
6.3 has no template choice: it can only Secure Boot Windows (os-win: "UEFI SecureBoot is
supported only on Windows instances for this Hyper-V version").

Time: a Hyper-V VM's RTC is the host's local time and cannot be configured; the Time
Synchronization integration service sets the guest's clock from the host when it starts and
keeps it there (Ben Armstrong, "Time Synchronization in Hyper-V", 2010).
"""

from __future__ import annotations

import ntpath
from typing import Any

from kumo.catalog.schema import parse_version_spec
from kumo.guest.policy import platform
from kumo.guest.policy.context import Context
from kumo.guest.spec import BootSpec, ClockSpec, ControllerSpec, DiskSpec, FirmwareSpec, NicSpec

GEN1, GEN2 = "hyperv-gen1", "hyperv-gen2"
#: the first Hyper-V with generation 2 VMs (seed 004), and with Secure Boot templates
GEN2_MIN_VERSION = (6, 3)
TEMPLATES_MIN_VERSION = (10, 0)
#: Hyper-V (Windows NT) version -> the Windows Server release, for messages
SERVER_RELEASES = {(6, 0): "Windows Server 2008", (6, 1): "Windows Server 2008 R2",
                   (6, 2): "Windows Server 2012", (6, 3): "Windows Server 2012 R2",
                   (10, 0): "Windows Server 2016 or later"}
DISK_FORMATS = ("vhd", "vhdx")
WINDOWS_TEMPLATE = "MicrosoftWindows"
UEFI_CA_TEMPLATE = "MicrosoftUEFICertificateAuthority"
#: where a disk lives when the request names none yet (render/explain before placement)
PLACEHOLDER_DIR = r"C:\ProgramData\kumo\instances\{uuid}"
#: image properties with no meaning on Hyper-V: its devices are fixed by the generation
IGNORED = ("hw_vif_model", "hw_scsi_model", "hw_cdrom_bus", "hw_video_model", "hw_video_ram",
           "hw_pointer_model", "hw_input_bus", "hw_rng_model", "hw_watchdog_action",
           "hw_qemu_guest_agent", "hw_time_hpet", "img_hide_hypervisor_id", "hw_boot_menu",
           "hw_firmware_stateless", "hw_vif_multiqueue_enabled", "hw_pmu",
           "hw_serial_port_count", "hw_virtio_packed_ring")


def decide(c: Context) -> dict[str, Any]:
    """GuestSpec fields for a Hyper-V guest (each rule reads what earlier ones chose)."""
    ch = c.chosen
    _check_vm_mode(c)
    ch["machine"] = gen = decide_generation(c)
    if gen == GEN2:
        _check_gen2(c)
    fmt = decide_disk_format(c, gen)
    ch["cpu"] = platform.decide_cpu(c)
    # "Plan for Hyper-V scalability in Windows Server": memory per VM 12 TB for generation 2,
    # 1 TB for generation 1
    platform.check_ram(c, (12 if gen == GEN2 else 1) * platform.TIB_MIB,
                       f"Hyper-V's limit for a generation {2 if gen == GEN2 else 1} VM")
    firmware = decide_firmware(c, gen)
    _check_tpm(c)
    disks, controllers = decide_disks(c, gen, fmt)
    _check_direct_boot(c)
    _warn_ignored(c)
    return dict(
        virt_mode=gen, machine=gen, cpu=ch["cpu"], firmware=firmware, clock=decide_clock(c),
        disks=disks, controllers=controllers, nics=(decide_nic(c, gen),), boot=BootSpec(),
    )


def _version_text(v: tuple[int, ...]) -> str:
    text = ".".join(map(str, v))
    release = SERVER_RELEASES.get(tuple(v[:2]))
    return f"{text} ({release})" if release else text


# --- generation ----------------------------------------------------------------------------------


def _check_vm_mode(c: Context) -> None:
    if "vm_mode" in c.props and c.props.get("vm_mode") != "hvm":
        name, given = c.prop("vm_mode")
        c.d.error("vm-mode-unsupported", f"{name}={given}: Hyper-V runs only fully virtualised "
                  "guests (vm_mode=hvm)", "remove vm_mode or set it to hvm")


def decide_generation(c: Context) -> str:
    d = c.d
    if "hw_machine_type" in c.props:
        value = c.props.get("hw_machine_type")
        name, given = c.prop("hw_machine_type")
        if value not in (GEN1, GEN2):
            d.error("machine-type-wrong-hypervisor",
                    f"hw_machine_type={value} is not a Hyper-V generation; the host runs hyperv",
                    f"set hw_machine_type={GEN1} or {GEN2}, or place the image on a "
                    f"{'Xen' if value.startswith('xen') else 'KVM'} host")
            return GEN1
        return d.decide("machine", value, "hyperv.generation-explicit", name, given,
                        "hw_machine_type names the Hyper-V generation")
    if c.os.requires_uefi:
        return d.decide("machine", GEN2, "hyperv.generation-os-uefi", "os", c.os.name,
                        f"{c.os.name} boots only from UEFI, which on Hyper-V is generation 2")
    return d.decide("machine", GEN1, "hyperv.generation-default", "default", None,
                    "generation 1 is the default: older guests cannot boot as generation 2")


def _check_gen2(c: Context) -> None:
    """Seed 004's conditions for a generation 2 VM: host 6.3+, 64-bit guest, an OS that boots
    as generation 2, and a version constraint that keeps the scheduler off older hosts."""
    d, host, os = c.d, c.req.host, c.os
    version = host.hypervisor_version
    if version is None:
        d.warn("hyperv-host-version-unknown", f"the host's Hyper-V version is unknown; "
               f"{GEN2} needs Hyper-V 6.3 (Windows Server 2012 R2) or newer",
               "describe the host with its hypervisor version (--host-version 10.0)")
    elif version < GEN2_MIN_VERSION:
        d.error("hyperv-gen2-host-too-old",
                f"hw_machine_type={GEN2} needs Hyper-V 6.3 (Windows Server 2012 R2) or newer, "
                f"but the host runs Hyper-V {_version_text(version)}",
                "place the image on a Hyper-V 6.3+ host (set hypervisor_version_requires='>=6.3' "
                f"so the scheduler does), or use hw_machine_type={GEN1}")
    arch = c.props.get("architecture")
    if arch is not None and arch != "x86_64":
        name, given = c.prop("architecture")
        d.error("hyperv-gen2-32bit", f"hw_machine_type={GEN2} needs a 64-bit guest, but "
                f"{name}={given}", f"use a 64-bit image, or hw_machine_type={GEN1}")
    elif os.release_known and not os.bits64:
        d.error("hyperv-gen2-32bit", f"hw_machine_type={GEN2} needs a 64-bit guest, but "
                f"{os.name} has no 64-bit release", f"use hw_machine_type={GEN1}")
    elif os.release_known and not os.hyperv_gen2:
        d.error("hyperv-gen2-unsupported-os",
                f"{os.name} cannot boot as a Hyper-V generation 2 VM (Windows Server "
                "2012 / Windows 8 x64 and later, and recent Linux kernels, can)",
                f"use hw_machine_type={GEN1}")
    _lint_version_requires(c)


def admits_below(spec: str, bound: tuple[int, ...]) -> bool:
    """Whether the version constraint ``spec`` ('>=6.2,<10') admits some version < ``bound``.

    Versions are compared as tuples with trailing zeros dropped (6.3 == 6.3.0); the admitted
    set is an interval, so it reaches below ``bound`` exactly when its lower end does."""
    def norm(v: tuple[int, ...]) -> tuple[int, ...]:
        v = tuple(v)
        while v and v[-1] == 0:
            v = v[:-1]
        return v

    low, low_open = (), False  # the empty tuple sorts below every version
    high, high_open = None, False
    for op, raw in parse_version_spec(spec):
        v = norm(raw)
        if op in (">=", ">", "==") and (v > low or (v == low and op == ">")):
            low, low_open = v, op == ">"
        if op in ("<=", "<", "==") and (high is None or v < high or (v == high and op == "<")):
            high, high_open = v, op == "<"
    if high is not None and (low > high or (low == high and (low_open or high_open))):
        return False  # contradictory: admits nothing
    # a strict lower end v still admits versions just above v (v.0.1 ...), so only its value
    # matters against a strict upper bound
    return low < norm(bound)


def _lint_version_requires(c: Context) -> None:
    d, floor = c.d, "6.3 (Windows Server 2012 R2)"
    if "hypervisor_version_requires" not in c.props:
        d.warn("hyperv-gen2-version-requires",
               "hypervisor_version_requires is not set: the scheduler may place this "
               f"generation 2 image on a Hyper-V host older than {floor}, where it cannot "
               "start",
               "glance image-update --property hypervisor_version_requires='>=6.3' <image>")
        return
    name, given = c.prop("hypervisor_version_requires")
    if admits_below(c.props.get("hypervisor_version_requires"), GEN2_MIN_VERSION):
        d.warn("hyperv-gen2-version-requires",
               f"{name}={given!r} admits Hyper-V hosts older than {floor}, where a generation 2 "
               "VM cannot start",
               "glance image-update --property hypervisor_version_requires='>=6.3' <image>")


# --- disks ---------------------------------------------------------------------------------------


def decide_disk_format(c: Context, gen: str) -> str:
    """The image's disk_format: Hyper-V attaches VHD and VHDX only; generation 2 needs VHDX."""
    d = c.d
    fmt, source = c.req.disk_format, "disk_format"
    if fmt is None and "disk_format" in c.props:
        fmt = c.props.get("disk_format")
        source = c.prop("disk_format")[0]
    if fmt is None:
        fmt = "vhdx" if gen == GEN2 else "vhd"
        d.warn("hyperv-disk-format-unknown", f"the image does not state its disk_format; kumo "
               f"assumes {fmt.upper()}, and Hyper-V attaches only VHD and VHDX",
               "set the image's disk_format (vhdx, or vhd for generation 1)")
        return d.decide("disks.root.format", fmt, "hyperv.disk-format-assumed", "default", None,
                        f"disk_format is not stated; {fmt} is assumed for {gen}")
    d.decide("disks.root.format", fmt, "hyperv.disk-format", source, fmt,
             "the root disk is the instance's copy of the image, in the image's format")
    if fmt not in DISK_FORMATS:
        d.error("hyperv-disk-format", f"disk_format={fmt}: Hyper-V attaches only VHD and VHDX "
                "disks", "convert the image (qemu-img convert -O vhdx) and set disk_format=vhdx")
    elif fmt == "vhd" and gen == GEN2:
        d.error("hyperv-gen2-vhd", f"hw_machine_type={GEN2} needs a VHDX image, but "
                "disk_format=vhd (generation 2 VMs boot only from VHDX)",
                "convert the image to VHDX (Convert-VHD, or qemu-img convert -O vhdx) and set "
                "disk_format=vhdx; if the file already is VHDX (older guides upload a .vhdx "
                "with --disk-format vhd, from before Glance knew vhdx), set "
                "disk_format=vhdx")
    return fmt


def _instance_dir(c: Context) -> str:
    if c.req.root_disk:
        return ntpath.dirname(c.req.root_disk)
    return PLACEHOLDER_DIR.format(uuid=c.req.instance_uuid)


def decide_disks(c: Context, gen: str, fmt: str
                 ) -> tuple[tuple[DiskSpec, ...], tuple[ControllerSpec, ...]]:
    d, req = c.d, c.req
    bus = "scsi" if gen == GEN2 else "ide"
    if "hw_disk_bus" in c.props:
        name, given = c.prop("hw_disk_bus")
        wanted = c.props.get("hw_disk_bus")
        if wanted not in req.host.disk_buses:
            d.error("disk-bus-unavailable", f"hw_disk_bus={wanted} is not offered by the host "
                    f"(offers {', '.join(req.host.disk_buses)})",
                    "remove hw_disk_bus: Hyper-V puts the boot disk on IDE (generation 1) or "
                    "SCSI (generation 2)")
        elif wanted != bus:
            d.error(f"hyperv-{'gen2-ide' if gen == GEN2 else 'gen1-scsi-boot'}",
                    f"hw_disk_bus={wanted} cannot hold the boot disk of a {gen} VM: generation "
                    f"{'2 has no IDE' if gen == GEN2 else '1 boots only from IDE'}",
                    f"remove hw_disk_bus (or set it to {bus})")
        d.decide("disks.root.bus", bus, "hyperv.disk-bus", name, given,
                 f"a {gen} VM boots from {bus.upper()}")
    else:
        d.decide("disks.root.bus", bus, "hyperv.disk-bus", "hw_machine_type", gen,
                 f"a {gen} VM boots from {bus.upper()}"
                 + (" (generation 2 has no IDE)" if gen == GEN2 else
                    " (generation 1 cannot boot from SCSI)"))
    folder = _instance_dir(c)
    root = req.root_disk or ntpath.join(folder, f"root.{fmt}")
    disks = [DiskSpec("root", "disk", bus, root, format=fmt, size_gib=req.flavor.disk_gib or None)]
    if req.flavor.ephemeral_gib:
        disks.append(DiskSpec("ephemeral", "disk", bus, ntpath.join(folder, f"ephemeral.{fmt}"),
                              format=fmt, size_gib=req.flavor.ephemeral_gib))
        d.decide("disks.ephemeral.bus", bus, "hyperv.disk-bus", "flavor",
                 req.flavor.ephemeral_gib, f"ephemeral disks sit beside the boot disk on "
                 f"{bus.upper()}")
    if req.config_drive or c.props.get("img_config_drive") == "mandatory":
        source = req.config_drive or ntpath.join(folder, "configdrive.iso")
        disks.append(DiskSpec("config", "cdrom", bus, source, "raw", readonly=True))
        d.decide("disks.config.bus", bus, "hyperv.dvd-bus", "hw_machine_type", gen,
                 f"the config drive is a DVD on the {gen} VM's {bus.upper()} controller")
    controllers: tuple[ControllerSpec, ...] = ()
    if gen == GEN2:
        controllers = (ControllerSpec("scsi", "hyperv-synthetic"),)
        d.decide("controllers.scsi.model", "hyperv-synthetic", "hyperv.disk-bus",
                 "hw_machine_type", gen, "generation 2 disks sit on Hyper-V's synthetic SCSI "
                 "controller")
    return tuple(disks), controllers


# --- firmware, clock, NIC ------------------------------------------------------------------------


def decide_firmware(c: Context, gen: str) -> FirmwareSpec:
    d, os, host = c.d, c.os, c.req.host
    fw = "uefi" if gen == GEN2 else "bios"
    d.decide("firmware.type", fw, "hyperv.firmware-generation", "hw_machine_type", gen,
             "generation 2 VMs boot from UEFI, generation 1 from a BIOS")
    if "hw_firmware_type" in c.props and c.props.get("hw_firmware_type") != fw:
        name, given = c.prop("hw_firmware_type")
        d.error("hyperv-firmware-generation", f"{name}={given} contradicts a {gen} VM, which "
                f"boots from {fw.upper()}",
                f"set hw_machine_type={GEN2 if given == 'uefi' else GEN1}, or remove {name}")
    if os.requires_uefi and fw != "uefi":
        d.error("hyperv-os-requires-gen2", f"{os.name} boots only from UEFI, which on Hyper-V "
                f"needs {GEN2}", f"set hw_machine_type={GEN2}")
    sb = c.props.get("os_secure_boot")
    secure = False
    if sb == "required" or (sb is None and os.requires_secure_boot):
        src = c.prop("os_secure_boot") if sb else ("os", os.name)
        if gen != GEN2:
            d.error("hyperv-secure-boot-needs-gen2", f"Secure Boot ({src[0]}={src[1]}) needs a "
                    f"{GEN2} VM; generation 1 has a BIOS", f"set hw_machine_type={GEN2}")
        else:
            secure = d.decide("firmware.secure_boot", True, "hyperv.secure-boot-required",
                              src[0], src[1], "os_secure_boot=required" if sb else
                              f"{os.name} requires Secure Boot")
    else:
        d.decide("firmware.secure_boot", False, "hyperv.secure-boot-off", "os_secure_boot", sb,
                 "Hyper-V Secure Boot is enabled only when os_secure_boot=required ("
                 "not every Linux distribution boots with it)")
    if os.requires_secure_boot and not secure and gen == GEN2:
        d.error("os-requires-secure-boot", f"{os.name} requires Secure Boot, which this guest "
                "would not have", "remove os_secure_boot=disabled")
    template = None
    if secure:
        if c.windows:
            template = d.decide("firmware.secure_boot_template", WINDOWS_TEMPLATE,
                                "hyperv.secure-boot-template", "os_type", "windows",
                                "Windows boot loaders are signed with Microsoft's Windows key")
        else:
            template = d.decide("firmware.secure_boot_template", UEFI_CA_TEMPLATE,
                                "hyperv.secure-boot-template", "os_type", c.chosen["os_type"],
                                "non-Windows boot loaders (shim) are signed by the Microsoft "
                                "UEFI CA (Nova: _requires_certificate)")
            version = host.hypervisor_version
            if version is not None and version < TEMPLATES_MIN_VERSION:
                d.error("hyperv-secure-boot-linux-host",
                        f"Secure Boot for a non-Windows guest needs the "
                        f"{UEFI_CA_TEMPLATE} template, which Hyper-V offers from 10.0 "
                        f"(Windows Server 2016); the host runs Hyper-V {_version_text(version)}",
                        "place the image on a Hyper-V 10.0+ host (hypervisor_version_requires="
                        "'>=10.0'), or set os_secure_boot=disabled")
    return FirmwareSpec(type=fw, secure_boot=secure, secure_boot_template=template)


def decide_clock(c: Context) -> ClockSpec:
    d = c.d
    d.decide("clock.offset", "localtime", "clock.hyperv-host-rtc", "hypervisor", "hyperv",
             "a Hyper-V VM's RTC is the host's local time; Hyper-V has no setting for it")
    d.decide("clock.host_time_sync", True, "clock.hyperv-time-sync", "hypervisor", "hyperv",
             "the guest takes its time from the host through Hyper-V's Time Synchronization "
             "integration service, which sets the clock at start and keeps it from drifting "
             "(so neither a Windows nor a Linux guest runs hours off)")
    tz = c.props.get("kumo_guest_timezone") or c.req.host_config.guest_timezone
    if tz:
        d.warn("hyperv-guest-timezone-ignored", f"guest time zone {tz} cannot be applied on "
               "Hyper-V: the guest's clock follows the host's time and the guest's own time "
               "zone setting", "set the time zone inside the guest (tzutil /s, timedatectl)")
    return ClockSpec(offset="localtime", host_time_sync=True)


def decide_nic(c: Context, gen: str) -> NicSpec:
    d, switch = c.d, c.req.host_config.network
    if "hyperv-synthetic" in c.drivers():
        src = c.driver_source("hyperv-synthetic")
        model = d.decide("nics.0.model", "hyperv-synthetic", "hyperv.nic-synthetic", src[0],
                         src[1], "the guest has Hyper-V's synthetic network driver (netvsc)")
    elif gen == GEN2:
        model = d.decide("nics.0.model", "hyperv-synthetic", "hyperv.nic-synthetic",
                         "hw_machine_type", gen, "generation 2 has only synthetic devices")
    else:
        model = d.decide("nics.0.model", "hyperv-legacy", "hyperv.nic-legacy", "os", c.os.name,
                         f"{c.os.name} lacks Hyper-V's synthetic network driver; generation 1's "
                         "legacy adapter (an emulated DEC 21140) needs none")
    if switch:
        d.decide("nics.0.network", switch, "hyperv.nic-switch", "host network", switch,
                 "the host's virtual switch")
    else:
        d.decide("nics.0.network", None, "hyperv.nic-switch", "host network", None,
                 "no virtual switch is configured for the host: the adapter is created "
                 "unconnected")
    return NicSpec(model=model, network=switch)


# --- what Hyper-V cannot do ----------------------------------------------------------------------


def _check_tpm(c: Context) -> None:
    if c.os.requires_tpm2 or "hw_tpm_version" in c.props:
        what = (f"hw_tpm_version={c.props.get('hw_tpm_version')}"
                if "hw_tpm_version" in c.props else f"{c.os.name} requires TPM 2.0")
        c.d.error("hyperv-tpm-unsupported", f"{what}: kumo does not render Hyper-V's virtual "
                  "TPM (Enable-VMTPM with a key protector) yet", "place the image on a KVM host")


def _check_direct_boot(c: Context) -> None:
    if c.req.kernel:
        c.d.error("hyperv-direct-kernel", "the image boots a kernel directly (kernel_id), which "
                  "Hyper-V cannot do: it boots from the disk's own boot loader",
                  "remove kernel_id/ramdisk_id and install a boot loader in the image")


def _warn_ignored(c: Context) -> None:
    for prop in IGNORED:
        if prop in c.props:
            name, given = c.prop(prop)
            c.d.warn("hyperv-property-ignored", f"{name}={given} has no effect on Hyper-V: its "
                     "devices are fixed by the VM generation", f"remove {name} for Hyper-V hosts")
