"""GuestSpec -> libvirt domain XML for the Xen (libxl) driver, <domain type='xen'>, and back.

This module only converts (conventions.md #2); every value comes from the GuestSpec, and it
builds on the shared declarative model (``kumo.backends.libvirt_xml``), so the XML written and
the XML parsed back share one declaration per element. A spec value libxl cannot express raises
``UnsupportedGuest`` naming the field, the value and what is allowed.

Two guest shapes (https://libvirt.org/drvxen.html, formatdomain.html):

- HVM (virt_mode 'hvm', machine xenfv): <os><type>hvm</type><loader>hvmloader</loader>
  <boot dev='hd'/></os>, <features> pae/acpi/apic, the device model as <emulator>, emulated IDE
  disks or Xen virtual disks, a serial port with the console on it, USB tablet, VGA.
- PV (virt_mode 'xen', machine xenpv): <bootloader> (pygrub) or <os><kernel>/<initrd>/<cmdline>,
  Xen virtual disks only, the Xen PV console; no firmware, features, emulator or emulated devices.

Fixed spellings, not choices: disks use libxl's qdisk backend (<driver name='qemu'>, which takes
raw, qcow2 and vhd images), and the HVM boot device is the disk ('hd', libxl's default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kumo.backends.display import vnc_graphics
from kumo.backends.libvirt_xml import (
    BootDev,
    Clock,
    Console,
    Devices,
    Disk,
    Domain,
    Features,
    Input,
    Interface,
    Loader,
    Os,
    Serial,
    Video,
)
from kumo.backends.libvirt_xml.metadata import mark_node
from kumo.backends.libvirt_xml.naming import target_names
from kumo.errors import UnsupportedGuest
from kumo.guest.spec import DiskSpec, GuestSpec, NicSpec

#: virt_mode -> (libvirt os type, machine)
MODES = {"hvm": ("hvm", "xenfv"), "xen": ("xen", "xenpv")}
FIRMWARE = {"hvm": "bios", "xen": "none"}
HVM_FEATURES = ("pae", "acpi", "apic")
CLOCK_OFFSETS = ("utc", "localtime")
#: disk bus per virt mode: an HVM guest also has the device model's emulated IDE
DISK_BUSES = {"hvm": ("ide", "xen"), "xen": ("xen",)}
#: GuestSpec disk format -> libvirt storage format libxl's qdisk backend opens
DRIVER_TYPES = {"raw": "raw", "qcow2": "qcow2", "vhd": "vhd"}
NIC_MODELS = {"hvm": ("e1000", "rtl8139", "netfront"), "xen": ("netfront",)}
VIDEO_MODELS = ("vga", "cirrus")
POINTERS = ("tablet", "usbtablet")


def unsupported(field: str, value: object, allowed: Iterable[str]) -> UnsupportedGuest:
    return UnsupportedGuest(
        f"Xen backend cannot render {field}={value!r}: allowed {', '.join(allowed) or 'none'}")


def _check(field: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise unsupported(field, value, allowed)


def render(spec: GuestSpec) -> str:
    """The domain XML for ``spec``: pretty-printed, deterministic, ends with a newline."""
    return to_domain(spec).to_xml()


def parse(xml: str | bytes) -> Domain:
    """A Xen domain XML (kumo's own or libvirt's dumpxml) as a ``Domain``; unmodelled content
    is ignored, so ``parse(render(spec)) == to_domain(spec)``."""
    return Domain.from_xml(xml)


def to_domain(spec: GuestSpec) -> Domain:
    _check("hypervisor", spec.hypervisor, ("xen",))
    _check("virt_mode", spec.virt_mode, tuple(MODES))
    mode = spec.virt_mode
    _check_unexpressible(spec, mode)
    return Domain(
        type="xen",
        name=spec.name,
        uuid=spec.uuid,
        kumo=mark_node(spec.mark),
        memory=spec.memory_mib,
        memory_unit="MiB",
        vcpu=spec.cpu.vcpus,
        bootloader=spec.boot.bootloader,
        os=_os(spec, mode),
        features=_features(spec, mode),
        clock=_clock(spec),
        devices=_devices(spec, mode),
    )


def _check_unexpressible(spec: GuestSpec, mode: str) -> None:
    _check("cpu.mode", spec.cpu.mode, ("none",))
    _check("firmware.type", spec.firmware.type, (FIRMWARE[mode],))
    for field, value in (("firmware.secure_boot", spec.firmware.secure_boot),
                         ("firmware.stateless", spec.firmware.stateless),
                         ("guest_agent", spec.guest_agent),
                         ("hide_hypervisor_id", spec.hide_hypervisor_id),
                         ("boot_menu", spec.boot_menu)):
        if value:
            raise UnsupportedGuest(f"Xen backend cannot render {field}=True")
    for field, value in (("tpm", spec.tpm), ("rng", spec.rng),
                         ("watchdog_action", spec.watchdog_action)):
        if value is not None:
            raise UnsupportedGuest(f"Xen backend cannot render {field}={value!r}")
    if spec.hyperv:
        raise UnsupportedGuest(f"Xen backend cannot render hyperv="
                               f"{[f.name for f in spec.hyperv]}: those are KVM's enlightenments")
    if spec.controllers:
        raise UnsupportedGuest(f"Xen backend cannot render controllers="
                               f"{[c.type for c in spec.controllers]}: Xen disks need none")
    if mode == "xen":
        for field, value in (("emulator", spec.emulator), ("video", spec.video),
                             ("display", spec.display),
                             ("pointer", spec.pointer), ("boot.loader", spec.boot.loader),
                             ("console_log", spec.console_log)):
            if value is not None:
                raise UnsupportedGuest(f"Xen backend cannot render {field}={value!r} for a "
                                       "paravirtual guest: it has no firmware or emulated "
                                       "devices, and its console is xenconsoled's")
        if spec.boot.bootloader and spec.boot.kernel:
            raise UnsupportedGuest("boot.bootloader and boot.kernel are alternatives: a PV "
                                   "guest boots one kernel")
        if not (spec.boot.bootloader or spec.boot.kernel):
            raise UnsupportedGuest("a paravirtual guest needs boot.kernel or boot.bootloader")
    elif spec.boot.bootloader:
        raise UnsupportedGuest(f"boot.bootloader={spec.boot.bootloader!r} is for paravirtual "
                               "guests; an HVM guest boots through boot.loader")


def _os(spec: GuestSpec, mode: str) -> Os:
    os_type, machine = MODES[mode]
    _check("machine", spec.machine, (machine,))
    boot = spec.boot
    os = Os(type=os_type, arch=spec.arch, machine=machine, kernel=boot.kernel,
            initrd=boot.initrd, cmdline=boot.cmdline)
    if mode == "hvm":
        os.loader = Loader(path=boot.loader) if boot.loader else None
        os.boot = [BootDev(dev="hd")]
    return os


def _features(spec: GuestSpec, mode: str) -> Features | None:
    allowed = HVM_FEATURES if mode == "hvm" else ()
    for i, name in enumerate(spec.features):
        _check(f"features[{i}]", name, allowed)
    if not spec.features:
        return None
    names = set(spec.features)
    return Features(acpi="acpi" in names, apic="apic" in names, pae="pae" in names)


def _clock(spec: GuestSpec) -> Clock:
    _check("clock.offset", spec.clock.offset, CLOCK_OFFSETS)
    if spec.clock.timers:
        raise UnsupportedGuest(f"Xen backend cannot render clock.timers="
                               f"{[t.name for t in spec.clock.timers]}")
    if spec.clock.host_time_sync:
        raise UnsupportedGuest("Xen backend cannot render clock.host_time_sync=True")
    return Clock(offset=spec.clock.offset)


def _disks(specs: Sequence[DiskSpec], mode: str) -> list[Disk]:
    for d in specs:
        _check(f"disks.{d.role}.bus", d.bus, DISK_BUSES[mode])
        _check(f"disks.{d.role}.format", d.format, tuple(DRIVER_TYPES))
        _check(f"disks.{d.role}.device", d.device, ("disk", "cdrom"))
    return [
        Disk(type="file", device=d.device, driver_name="qemu",
             driver_type=DRIVER_TYPES[d.format], source_file=d.source, target_dev=name,
             target_bus=d.bus, readonly=d.readonly or d.device == "cdrom")
        for d, name in zip(specs, target_names(d.bus for d in specs))
    ]


def _interface(i: int, nic: NicSpec, mode: str) -> Interface:
    _check(f"nics[{i}].model", nic.model, NIC_MODELS[mode])
    if bool(nic.network) == bool(nic.bridge):
        raise UnsupportedGuest(f"nics[{i}] needs exactly one of network and bridge (got "
                               f"network={nic.network!r}, bridge={nic.bridge!r}): a Xen vif "
                               "joins a bridge, directly or through a libvirt network")
    if nic.queues:
        raise UnsupportedGuest(f"Xen backend cannot render nics[{i}].queues={nic.queues}")
    return Interface(type="network" if nic.network else "bridge", mac=nic.mac,
                     source_network=nic.network, source_bridge=nic.bridge, model=nic.model)


def _console(spec: GuestSpec, mode: str) -> tuple[list[Serial], list[Console]]:
    """An HVM guest's ttyS0 is written to ``console_log`` as a file, not a pty with a <log> as
    on KVM (kumo.backends.kvm.devices.console): libvirt's libxl driver turns a serial device
    into the device model's ``pty`` or ``file:PATH`` and never reads a <log> element
    (libxl_conf.c, libxlMakeChrdevStr; only the QEMU driver hands <log> to virtlogd), so a
    pty with a log would show nothing in ``kumo server console log``. On Xen a console is
    logged or attachable, not both, and kumo keeps the log: it is what is read after a crash or
    a failed boot (``openstack console log show``), while every HVM guest's VNC display is an
    interactive console; ``virsh console`` then cannot attach. Without a log: a pty."""
    if mode == "xen":
        return [], [Console(type="pty", target_type="xen", target_port=0)]
    kind = "file" if spec.console_log else "pty"
    return ([Serial(type=kind, source_path=spec.console_log, target_port=0)],
            [Console(type=kind, source_path=spec.console_log, target_type="serial",
                     target_port=0)])


def _devices(spec: GuestSpec, mode: str) -> Devices:
    serials, consoles = _console(spec, mode)
    inputs, videos = [], []
    if spec.pointer is not None:
        _check("pointer", spec.pointer, POINTERS)
        _check("input_bus", spec.input_bus or "usb", ("usb",))
        inputs = [Input(type="tablet", bus="usb")]
    if spec.video is not None:
        _check("video", spec.video, VIDEO_MODELS)
        if spec.video_ram_mib is not None:
            raise UnsupportedGuest(f"Xen backend cannot render video_ram_mib="
                                   f"{spec.video_ram_mib}")
        videos = [Video(model=spec.video)]
    return Devices(
        emulator=spec.emulator,
        disks=_disks(spec.disks, mode),
        interfaces=[_interface(i, n, mode) for i, n in enumerate(spec.nics)],
        serials=serials,
        consoles=consoles,
        inputs=inputs,
        # libxl reads the same <graphics type='vnc'> as QEMU's driver (libxl_conf.c: vnc
        # listen address and passwd go to the device model's VNC server)
        graphics=[vnc_graphics(spec.display, "Xen")] if spec.display else [],
        videos=videos,
    )
