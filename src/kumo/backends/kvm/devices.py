"""GuestSpec devices -> libvirt <devices> for the QEMU driver (domain type kvm or qemu).

Pure translation: every value comes from the GuestSpec. A spec value QEMU cannot express raises
``UnsupportedGuest`` naming the field, the value and what is allowed; nothing is defaulted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kumo.backends.display import vnc_graphics
from kumo.backends.libvirt_xml import (
    Channel,
    Console,
    Controller,
    Devices,
    Disk,
    Graphics,
    Input,
    Interface,
    Rng,
    Serial,
    Tpm,
    Video,
    Watchdog,
)
from kumo.backends.libvirt_xml.naming import target_names
from kumo.errors import UnsupportedGuest
from kumo.guest.spec import ControllerSpec, DiskSpec, GuestSpec, NicSpec

#: disk buses QEMU's libvirt driver attaches (formatdomain.html, <target bus>); 'xen' is Xen's
DISK_BUSES = ("ide", "sata", "scsi", "virtio", "usb", "fdc")
#: GuestSpec disk format -> QEMU block driver name (QEMU calls the VHD format 'vpc'). No vhdx:
#: libvirt 9.0's schema has no such disk driver type (storagecommon.rng, storageFormat), so a
#: VHDX image must be converted before KVM can attach it.
DRIVER_TYPES = {"raw": "raw", "qcow2": "qcow2", "vhd": "vpc", "vmdk": "vmdk", "vdi": "vdi"}
#: NIC models QEMU emulates (netfront is Xen's, hyperv-synthetic is Hyper-V's)
NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "vmxnet3", "igb",
              "spapr-vlan", "lan9118")
#: video models QEMU emulates (formatdomain.html#video-devices); 'xen' and 'gop' are not QEMU's
VIDEO_MODELS = ("vga", "cirrus", "vmvga", "qxl", "virtio", "bochs", "ramfb", "none")
CONTROLLER_TYPES = ("scsi", "virtio-serial", "usb", "sata", "ide")
#: GuestSpec.pointer -> (<input type>, <input bus>, None: the bus is GuestSpec.input_bus)
POINTERS = {"tablet": ("tablet", None), "usbtablet": ("tablet", "usb"),
            "virtio-tablet": ("tablet", "virtio")}
INPUT_BUSES = ("usb", "virtio")
#: libvirt <watchdog action> values; Nova's hw_watchdog_action=disabled means "no device"
WATCHDOG_ACTIONS = ("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi")
#: the one watchdog model hw_watchdog_action describes (catalog: "the i6300esb watchdog")
WATCHDOG_MODEL = "i6300esb"
RNG_MODELS = ("virtio",)
#: libvirt's <backend model='random'> source; /dev/urandom is libvirt's own default
RNG_BACKEND_PATH = "/dev/urandom"
TPM_MODELS = ("tpm-tis", "tpm-crb")
TPM_VERSIONS = ("1.2", "2.0")
#: the virtio-serial port name qemu-guest-agent listens on (QEMU docs, qemu-ga)
GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"
DISCARD_MODES = ("unmap", "ignore")
#: USB host controllers: the model -> its UHCI companions (model, first port on the master).
#: ich9-ehci1 is a USB 2.0 controller whose full/low-speed ports are served by three UHCI
#: companions (libvirt formatdomain.html#usb-companion-controller; QEMU docs/usb2.txt).
USB_CONTROLLERS: dict[str, tuple[tuple[str, int], ...]] = {
    "qemu-xhci": (),
    "piix3-uhci": (),
    "ich9-ehci1": (("ich9-uhci1", 0), ("ich9-uhci2", 2), ("ich9-uhci3", 4)),
}


def unsupported(field: str, value: object, allowed: Iterable[str]) -> UnsupportedGuest:
    return UnsupportedGuest(
        f"KVM/QEMU backend cannot render {field}={value!r}: allowed {', '.join(allowed)}"
    )


def check_allowed(field: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise unsupported(field, value, allowed)
    return value


def disks(specs: Sequence[DiskSpec]) -> list[Disk]:
    """One <disk type='file'> per DiskSpec, target names numbered per bus prefix in spec order."""
    for d in specs:
        check_allowed(f"disks.{d.role}.bus", d.bus, DISK_BUSES)
        check_allowed(f"disks.{d.role}.format", d.format, tuple(DRIVER_TYPES))
        check_allowed(f"disks.{d.role}.device", d.device, ("disk", "cdrom"))
        if d.discard is not None:
            check_allowed(f"disks.{d.role}.discard", d.discard, DISCARD_MODES)
        if d.packed_ring and d.bus != "virtio":
            raise UnsupportedGuest(f"disks.{d.role}.packed_ring needs a virtio disk, not bus "
                                   f"{d.bus!r}")
    names = target_names(d.bus for d in specs)
    return [
        Disk(
            type="file",
            device=d.device,
            driver_name="qemu",
            driver_type=DRIVER_TYPES[d.format],
            driver_discard=d.discard,
            driver_packed=True if d.packed_ring else None,
            source_file=d.source,
            target_dev=name,
            target_bus=d.bus,
            # a CD-ROM is read-only by nature (libvirt: "cdrom ... always read-only")
            readonly=d.readonly or d.device == "cdrom",
        )
        for d, name in zip(specs, names)
    ]


def controllers(specs: Sequence[ControllerSpec]) -> list[Controller]:
    """One <controller> per ControllerSpec; index counts per controller type, in spec order."""
    out: list[Controller] = []
    seen: dict[str, int] = {}
    for i, c in enumerate(specs):
        check_allowed(f"controllers[{i}].type", c.type, CONTROLLER_TYPES)
        index = seen.get(c.type, 0)
        seen[c.type] = index + 1
        out.append(Controller(type=c.type, index=index, model=c.model))
    return out


def usb_controllers(spec: GuestSpec) -> list[Controller]:
    """The USB controller (index 0) and, for EHCI, its UHCI companions on the same bus."""
    if spec.usb_controller is None:
        return []
    model = check_allowed("usb_controller", spec.usb_controller, tuple(USB_CONTROLLERS))
    return [Controller(type="usb", index=0, model=model)] + [
        Controller(type="usb", index=0, model=m, master_startport=port)
        for m, port in USB_CONTROLLERS[model]]


def pcie_root_ports(spec: GuestSpec) -> list[Controller]:
    """pcie-root (index 0) and ``spec.pcie_root_ports`` root ports after it. libvirt puts the
    guest's own PCIe devices on free ports first and adds more when these run out, so the
    count is the guest's total, as Nova's num_pcie_ports."""
    if spec.pcie_root_ports == 0:
        return []
    if "q35" not in spec.machine:
        raise UnsupportedGuest(f"pcie_root_ports={spec.pcie_root_ports} needs a q35 machine, "
                               f"not {spec.machine!r}")
    return [Controller(type="pci", index=0, model="pcie-root")] + [
        Controller(type="pci", index=i, model="pcie-root-port")
        for i in range(1, spec.pcie_root_ports + 1)]


def interface(i: int, nic: NicSpec) -> Interface:
    """network -> type='network'; bridge -> type='bridge'; neither -> type='user' (QEMU's
    user-mode networking: needs no host network or bridge set up)."""
    check_allowed(f"nics[{i}].model", nic.model, NIC_MODELS)
    if nic.network and nic.bridge:
        raise UnsupportedGuest(
            f"nics[{i}] names both network {nic.network!r} and bridge {nic.bridge!r}: "
            "a libvirt interface attaches to one"
        )
    kind = "network" if nic.network else "bridge" if nic.bridge else "user"
    if (nic.queues or nic.packed_ring) and nic.model != "virtio":
        raise UnsupportedGuest(f"nics[{i}]: queues and packed_ring need a virtio NIC, not "
                               f"{nic.model!r}")
    return Interface(type=kind, mac=nic.mac, source_network=nic.network,
                     source_bridge=nic.bridge, model=nic.model, driver_queues=nic.queues,
                     driver_packed=True if nic.packed_ring else None, filterref=nic.filter)


def console(spec: GuestSpec) -> tuple[list[Serial], Console]:
    """ttyS0 as serial port 0, a pty -- so ``virsh console`` attaches -- whose output libvirt
    also appends to ``console_log`` (``<log file append='on'>``: written by virtlogd, kept
    across restarts and hard reboots, rotated at virtlogd's max_size; formatdomain.html
    #character-device-log). The <console> is that same port, and carries the same <log>, as
    libvirt writes it back (so the live XML reads as rendered). Further serial ports
    (``spec.serial_ports``) are ptys without a log."""
    if spec.serial_ports < 1:
        raise unsupported("serial_ports", spec.serial_ports, ("1 or more",))
    extra = [Serial(type="pty", target_port=p) for p in range(1, spec.serial_ports)]
    log = dict(log_file=spec.console_log, log_append=True if spec.console_log else None)
    return ([Serial(type="pty", target_port=0, **log)] + extra,
            Console(type="pty", target_type="serial", target_port=0, **log))


def graphics(spec: GuestSpec) -> list[Graphics]:
    """The display as ``<graphics type='vnc' autoport='yes' passwd=...><listen type='address'
    address=.../>``: libvirt picks a free port from 5900 (qemu.conf remote_display_port_min)."""
    if spec.display is None:
        return []
    return [vnc_graphics(spec.display, "KVM/QEMU")]


def pointer(spec: GuestSpec) -> list[Input]:
    """An absolute-position tablet on ``input_bus`` (``pointer='tablet'``); the older spellings
    'usbtablet' and 'virtio-tablet' carry their bus in the name."""
    if spec.pointer is None:
        return []
    if spec.pointer not in POINTERS:
        raise unsupported("pointer", spec.pointer, POINTERS)
    kind, bus = POINTERS[spec.pointer]
    if bus is None:
        bus = check_allowed("input_bus", spec.input_bus, INPUT_BUSES) if spec.input_bus else None
        if bus is None:
            raise UnsupportedGuest(f"pointer={spec.pointer!r} needs input_bus (usb or virtio)")
    elif spec.input_bus is not None and spec.input_bus != bus:
        raise UnsupportedGuest(
            f"pointer={spec.pointer!r} is a {bus} device but input_bus={spec.input_bus!r}"
        )
    return [Input(type=kind, bus=bus)]


def video(spec: GuestSpec) -> list[Video]:
    if spec.video is None:
        return []
    check_allowed("video", spec.video, VIDEO_MODELS)
    vram = spec.video_ram_mib * 1024 if spec.video_ram_mib is not None else None  # KiB
    return [Video(model=spec.video, vram=vram)]


def watchdog(spec: GuestSpec) -> list[Watchdog]:
    if spec.watchdog_action in (None, "disabled"):
        return []
    check_allowed("watchdog_action", spec.watchdog_action, WATCHDOG_ACTIONS)
    return [Watchdog(model=WATCHDOG_MODEL, action=spec.watchdog_action)]


def rng(spec: GuestSpec) -> list[Rng]:
    if spec.rng is None:
        return []
    check_allowed("rng", spec.rng, RNG_MODELS)
    return [Rng(model=spec.rng, backend_model="random", backend_path=RNG_BACKEND_PATH)]


def tpm(spec: GuestSpec) -> list[Tpm]:
    if spec.tpm is None:
        return []
    check_allowed("tpm.model", spec.tpm.model, TPM_MODELS)
    check_allowed("tpm.version", spec.tpm.version, TPM_VERSIONS)
    return [Tpm(model=spec.tpm.model, backend_type="emulator",
                backend_version=spec.tpm.version)]


def guest_agent(spec: GuestSpec) -> list[Channel]:
    if not spec.guest_agent:
        return []
    return [Channel(type="unix", target_type="virtio", target_name=GUEST_AGENT_CHANNEL)]


def devices(spec: GuestSpec) -> Devices:
    serials, cons = console(spec)
    return Devices(
        disks=disks(spec.disks),
        controllers=(usb_controllers(spec) + pcie_root_ports(spec)
                     + controllers(spec.controllers)),
        interfaces=[interface(i, n) for i, n in enumerate(spec.nics)],
        serials=serials,
        consoles=[cons],
        channels=guest_agent(spec),
        inputs=pointer(spec),
        tpms=tpm(spec),
        graphics=graphics(spec),
        videos=video(spec),
        watchdogs=watchdog(spec),
        rngs=rng(spec),
    )
