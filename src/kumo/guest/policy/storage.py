"""Rules: disk bus, SCSI controller, ephemeral disk and config drive.

Seed 002: a Windows Server 2012 image carried the virtio-blk driver but its disk was presented
on SCSI, and it blue-screened at boot (INACCESSIBLE_BOOT_DEVICE). The fix was
hw_disk_bus=scsi + hw_scsi_model=virtio-scsi *and* the matching driver in the image. kumo picks
the bus from the drivers the guest has (the OS's inbox drivers plus those the image declares in
kumo_guest_drivers) and calls a bus whose driver the image lacks a lint error.

Unset hw_disk_bus: virtio-blk when the guest has it, else virtio-scsi (on a virtio-scsi
controller), else SATA/AHCI on q35, else IDE. Windows ships no virtio drivers, so Windows without
declared virtio drivers boots from SATA on q35 and IDE on pc, which its inbox drivers handle.
"""

from __future__ import annotations

from dataclasses import replace

from kumo.guest.policy.context import Context
from kumo.guest.spec import ControllerSpec, DiskSpec

#: the driver a bus (or SCSI controller model) needs inside the guest
BUS_DRIVER = {"virtio": "virtio-blk", "sata": "ahci", "ide": "ide"}
SCSI_MODEL_DRIVER = {"virtio-scsi": "virtio-scsi"}


def driver_check(c: Context, what: str, driver: str, prop: str) -> None:
    """Seed 002's rule: the guest must carry the driver for the bus its boot disk is on."""
    if driver in c.drivers():
        return
    declared = c.declared_drivers()
    if declared is not None:
        c.d.error("disk-driver-missing",
                  f"{what} needs the {driver} driver, but the image declares only "
                  f"kumo_guest_drivers={','.join(declared)} and {c.os.name} has no inbox "
                  f"{driver} driver: the guest cannot find its boot disk and blue-screens "
                  "(INACCESSIBLE_BOOT_DEVICE)",
                  f"install the {driver} driver in the image and add it to kumo_guest_drivers, "
                  f"or change {prop}")
    elif c.os.family == "windows":
        c.d.warn("disk-driver-unverified",
                  f"{what} needs the {driver} driver, which Windows does not ship; the image "
                  "does not declare its drivers (kumo_guest_drivers), so kumo cannot tell "
                  "whether it boots",
                  f"add kumo_guest_drivers={driver} if the image carries it, or change {prop}")


def root_and_ephemeral(c: Context, bus: str) -> list[DiskSpec]:
    """The root disk and, when the flavor has one, the ephemeral disk beside it on one bus."""
    req = c.req
    disks = [DiskSpec("root", "disk", bus, req.root_path, format=req.root_format,
                      size_gib=req.flavor.disk_gib or None)]
    if req.flavor.ephemeral_gib:
        path = req.ephemeral_disk or req.root_path.rsplit("/", 1)[0] + "/disk.eph0"
        disks.append(DiskSpec("ephemeral", "disk", bus, path, "qcow2",
                              size_gib=req.flavor.ephemeral_gib))
        c.d.decide("disks.ephemeral.bus", bus, "disk.ephemeral-same-bus", "flavor",
                   req.flavor.ephemeral_gib, "the ephemeral disk uses the root disk's bus")
    return disks


#: Glance container formats a guest can boot from: a bare disk image (ovf counts as bare, as in
#: Nova's libvirt driver) and the AMI trio (kernel, ramdisk, machine image)
BOOTABLE_CONTAINERS = ("bare", "ovf", "ami", "aki", "ari")


def check_container_format(c: Context) -> None:
    fmt = c.props.get("container_format")
    if fmt is not None and fmt not in BOOTABLE_CONTAINERS:
        name, given = c.prop("container_format")
        c.d.error("container-format-unsupported", f"{name}={given}: a guest boots a disk image "
                  f"(bare, ovf, ami), not a {given} container", "upload the disk image itself "
                  "(container_format=bare)")


def has_cdrom(c: Context) -> bool:
    """The guest gets a CD-ROM: its config drive (attached, or required by the image)."""
    return bool(c.req.config_drive) or c.props.get("img_config_drive") == "mandatory"


def decide_discard(c: Context, disks: tuple[DiskSpec, ...]) -> tuple[DiskSpec, ...]:
    """Writable disks pass the guest's TRIM/UNMAP to their qcow2 volume (discard='unmap'), so
    space the guest frees is returned to the host's thin pool; libvirt's default is to drop it
    (formatdomain.html#hard-drives-floppy-disks-cdroms, driver ``discard``; Nova's
    ``[libvirt]hw_disk_discard=unmap``). Every bus kumo renders carries TRIM to QEMU (ATA TRIM on
    IDE/SATA, UNMAP on SCSI, virtio-blk DISCARD since QEMU 4.0). Read-only CD-ROMs are left out."""
    out = []
    for disk in disks:
        if disk.device == "disk" and not disk.readonly:
            c.d.decide(f"disks.{disk.role}.discard", "unmap", "disk.discard-unmap", "default",
                       None, "the guest's TRIM frees space in the thin volume behind the disk")
            disk = replace(disk, discard="unmap")
        out.append(disk)
    return tuple(out)


def decide_disks(c: Context) -> tuple[tuple[DiskSpec, ...], tuple[ControllerSpec, ...]]:
    d, req = c.d, c.req
    machine = c.chosen["machine"]
    q35 = "q35" in machine
    drivers = c.drivers()
    controllers: list[ControllerSpec] = []

    if "hw_disk_bus" in c.props:
        bus = c.props.get("hw_disk_bus")
        name, given = c.prop("hw_disk_bus")
        d.decide("disks.root.bus", bus, "disk.bus-explicit", name, given,
                 "hw_disk_bus is set on the image")
    elif "virtio-blk" in drivers:
        bus = "virtio"
        src = c.driver_source("virtio-blk")
        d.decide("disks.root.bus", bus, "disk.bus-virtio", src[0], src[1],
                 "the guest has the virtio-blk driver: the fastest disk bus")
    elif "virtio-scsi" in drivers:
        bus = "scsi"
        src = c.driver_source("virtio-scsi")
        d.decide("disks.root.bus", bus, "disk.bus-virtio-scsi", src[0], src[1],
                 "the guest has the virtio-scsi driver (but not virtio-blk)")
    elif q35:
        bus = "sata"
        d.decide("disks.root.bus", bus, "disk.bus-no-virtio", "os", c.os.name,
                 f"{c.os.name} has no virtio disk driver and the image declares none; SATA "
                 "(AHCI) is handled by its inbox driver")
    else:
        bus = "ide"
        d.decide("disks.root.bus", bus, "disk.bus-no-virtio", "os", c.os.name,
                 f"{c.os.name} has no virtio disk driver and the image declares none; the pc "
                 "machine's IDE is handled by its inbox driver")

    if bus not in req.host.disk_buses:
        d.error("disk-bus-unavailable", f"hw_disk_bus={bus} is not offered by the host "
                f"(offers {', '.join(req.host.disk_buses)})", "choose another hw_disk_bus")
    if bus == "ide" and q35:
        d.error("ide-on-q35", f"hw_disk_bus=ide is not available on machine type {machine}: "
                "q35 has no IDE controller", "use hw_disk_bus=sata, or hw_machine_type=pc")

    if bus == "scsi":
        if "hw_scsi_model" in c.props:
            model = c.props.get("hw_scsi_model")
            name, given = c.prop("hw_scsi_model")
            d.decide("controllers.scsi.model", model, "disk.scsi-model-explicit", name, given,
                     "hw_scsi_model is set on the image")
        elif "virtio-scsi" in drivers:
            model = "virtio-scsi"
            src = c.driver_source("virtio-scsi")
            d.decide("controllers.scsi.model", model, "disk.scsi-model-virtio", src[0], src[1],
                     "the guest has the virtio-scsi driver")
        else:
            model = "lsilogic"
            d.decide("controllers.scsi.model", model, "disk.scsi-model-default", "default",
                     None, "no virtio-scsi driver: QEMU's default LSI controller")
            d.warn("scsi-model-unset", "hw_disk_bus=scsi without hw_scsi_model: the guest "
                   "gets an LSI Logic controller, which modern Windows does not drive",
                   "set hw_scsi_model=virtio-scsi and carry its driver in the image")
        controllers.append(ControllerSpec("scsi", model))
        driver = SCSI_MODEL_DRIVER.get(model)
        if driver:
            driver_check(c, f"hw_disk_bus=scsi with hw_scsi_model={model}", driver,
                          "hw_disk_bus/hw_scsi_model")
    else:
        if "hw_scsi_model" in c.props:
            d.warn("scsi-model-ignored", f"hw_scsi_model={c.props.get('hw_scsi_model')} has no "
                   f"effect: the root disk is on {bus}", "remove hw_scsi_model or set "
                   "hw_disk_bus=scsi")
        driver = BUS_DRIVER.get(bus)
        if driver:
            driver_check(c, f"hw_disk_bus={bus}", driver, "hw_disk_bus")

    disks = root_and_ephemeral(c, bus)

    if has_cdrom(c):
        if "hw_cdrom_bus" in c.props:
            cbus = c.props.get("hw_cdrom_bus")
            name, given = c.prop("hw_cdrom_bus")
            d.decide("disks.config.bus", cbus, "disk.cdrom-bus-explicit", name, given,
                     "hw_cdrom_bus is set on the image")
        else:
            cbus = "sata" if q35 else "ide"
            d.decide("disks.config.bus", cbus, "disk.cdrom-bus-default", "machine", machine,
                     f"CD-ROMs go on {cbus.upper()} on {machine} (every OS has the driver)")
        if cbus == "ide" and q35:
            d.error("ide-on-q35", f"hw_cdrom_bus=ide is not available on machine type "
                    f"{machine}", "use hw_cdrom_bus=sata")
        source = req.config_drive or req.root_path.rsplit("/", 1)[0] + "/disk.config"
        disks.append(DiskSpec("config", "cdrom", cbus, source, "raw", readonly=True))
    return tuple(disks), tuple(controllers)
