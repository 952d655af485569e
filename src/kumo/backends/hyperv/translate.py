"""GuestSpec -> Hyper-V VM description. Pure translation, no policy (conventions.md #2).

Every value comes from the GuestSpec; a value Hyper-V cannot express raises ``UnsupportedGuest``
naming the field, the value and what is allowed. What is fixed here is how Hyper-V spells a
spec value, not a choice between options:

- generation: ``machine`` hyperv-gen1 -> 1, hyperv-gen2 -> 2 (seed 004).
- drive slots: disks take controller locations in spec order. A generation 1 VM has two IDE
  controllers of two locations each (0:0, 0:1, 1:0, 1:1); a VM has up to four SCSI
  controllers (as many as ``spec.controllers`` lists) of 64 locations each (Hyper-V's limits,
  "Plan for Hyper-V scalability in Windows Server").
- an ephemeral disk is blank by definition, so it is created (New-VHD) at its size; the root
  disk is the instance's copy of the image and must already exist.
- a NIC's ``network`` is the Hyper-V virtual switch it connects to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kumo.backends.hyperv.model import (
    DvdDrive,
    Firmware,
    HardDrive,
    NetworkAdapter,
    VmDescription,
)
from kumo.errors import UnsupportedGuest
from kumo.guest.spec import DiskSpec, GuestSpec, NicSpec

GENERATIONS = {"hyperv-gen1": 1, "hyperv-gen2": 2}
#: GuestSpec disk bus -> Hyper-V ControllerType
CONTROLLER_TYPES = {"ide": "IDE", "scsi": "SCSI"}
#: (controllers, locations per controller) of each controller type
SLOTS = {"IDE": (2, 2), "SCSI": (4, 64)}
DISK_FORMATS = ("vhd", "vhdx")
#: the synthetic SCSI controller is Hyper-V's only SCSI controller
SCSI_MODELS = ("hyperv-synthetic",)
NIC_MODELS = {"hyperv-synthetic": False, "hyperv-legacy": True}  # model -> -IsLegacy
SECURE_BOOT_TEMPLATES = ("MicrosoftWindows", "MicrosoftUEFICertificateAuthority")
#: a vCPU count is all Hyper-V takes (Set-VMProcessor -Count); the spec says so with mode none
CPU_MODES = ("none",)
GIB = 2**30
MIB = 2**20


def unsupported(field: str, value: object, allowed: Iterable[str]) -> UnsupportedGuest:
    return UnsupportedGuest(
        f"Hyper-V backend cannot render {field}={value!r}: allowed {', '.join(allowed)}")


def _check(field: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise unsupported(field, value, allowed)


def describe(spec: GuestSpec) -> VmDescription:
    """The Hyper-V VM description for ``spec``."""
    _check("hypervisor", spec.hypervisor, ("hyperv",))
    _check("machine", spec.machine, tuple(GENERATIONS))
    if spec.virt_mode != spec.machine:
        raise UnsupportedGuest(f"virt_mode={spec.virt_mode!r} and machine={spec.machine!r} "
                               "must name the same Hyper-V generation")
    generation = GENERATIONS[spec.machine]
    _check_unexpressible(spec)
    _check("cpu.mode", spec.cpu.mode, CPU_MODES)
    scsi = _scsi_controllers(spec)
    hard, dvd = _drives(spec.disks, generation, scsi)
    roots = [d for d in hard if d.role == "root"]
    if len(roots) != 1:
        raise UnsupportedGuest(f"a Hyper-V VM boots from one root disk; the spec has "
                               f"{len(roots)}")
    if generation == 1 and roots[0].controller_type != "IDE":
        raise UnsupportedGuest("disks.root.bus='scsi': a generation 1 VM boots only from IDE")
    return VmDescription(
        name=spec.name,
        generation=generation,
        notes=f"kumo instance {spec.uuid}",
        memory_startup_bytes=spec.memory_mib * MIB,
        dynamic_memory=False,
        processor_count=spec.cpu.vcpus,
        firmware=_firmware(spec, generation),
        boot_role="root",
        scsi_controllers=scsi,
        hard_drives=hard,
        dvd_drives=dvd,
        network_adapters=tuple(_adapter(i, n, generation) for i, n in enumerate(spec.nics)),
        time_sync=spec.clock.host_time_sync,
    )


def _check_unexpressible(spec: GuestSpec) -> None:
    """Spec values with no Hyper-V equivalent: refuse rather than drop them silently."""
    present = {
        "boot.kernel": spec.boot.kernel, "boot.bootloader": spec.boot.bootloader,
        "boot.loader": spec.boot.loader, "tpm": spec.tpm, "video": spec.video,
        "pointer": spec.pointer, "rng": spec.rng, "watchdog_action": spec.watchdog_action,
        "console_log": spec.console_log, "emulator": spec.emulator,
        # Hyper-V's console is VMConnect (the host's own, over VMBus), not VNC: the Hyper-V
        # policy gives no display, and one asked for is refused rather than dropped
        "display": spec.display,
    }
    for field, value in present.items():
        if value is not None:
            raise UnsupportedGuest(f"Hyper-V backend cannot render {field}={value!r}: "
                                   "Hyper-V has no such setting")
    for field, value in (("features", spec.features), ("hyperv", spec.hyperv),
                         ("controllers", tuple(c for c in spec.controllers
                                               if c.type != "scsi"))):
        if value:
            raise UnsupportedGuest(f"Hyper-V backend cannot render {field}={value!r}: "
                                   "Hyper-V guests are enlightened natively and their devices "
                                   "are fixed by the generation")
    for flag in ("guest_agent", "hide_hypervisor_id", "boot_menu"):
        if getattr(spec, flag):
            raise UnsupportedGuest(f"Hyper-V backend cannot render {flag}=True")
    if spec.clock.timers:
        raise UnsupportedGuest(f"Hyper-V backend cannot render clock.timers="
                               f"{[t.name for t in spec.clock.timers]}: the guest takes its time "
                               "from the host (Time Synchronization integration service)")


def _firmware(spec: GuestSpec, generation: int) -> Firmware | None:
    fw = spec.firmware
    if generation == 1:
        _check("firmware.type", fw.type, ("bios",))
        if fw.secure_boot:
            raise UnsupportedGuest("firmware.secure_boot=True needs a generation 2 VM "
                                   "(machine hyperv-gen2)")
        return None
    _check("firmware.type", fw.type, ("uefi",))
    if fw.stateless:
        raise UnsupportedGuest("Hyper-V backend cannot render firmware.stateless=True: a "
                               "generation 2 VM always keeps its UEFI variables")
    if not fw.secure_boot:
        return Firmware(secure_boot=False)
    _check("firmware.secure_boot_template", fw.secure_boot_template, SECURE_BOOT_TEMPLATES)
    return Firmware(secure_boot=True, secure_boot_template=fw.secure_boot_template)


def _scsi_controllers(spec: GuestSpec) -> int:
    scsi = [c for c in spec.controllers if c.type == "scsi"]
    for i, c in enumerate(scsi):
        _check(f"controllers.scsi[{i}].model", c.model, SCSI_MODELS)
    if len(scsi) > SLOTS["SCSI"][0]:
        raise UnsupportedGuest(f"controllers: {len(scsi)} SCSI controllers; a Hyper-V VM has at "
                               f"most {SLOTS['SCSI'][0]}")
    return len(scsi)


def _drives(disks: Sequence[DiskSpec], generation: int, scsi: int
            ) -> tuple[tuple[HardDrive, ...], tuple[DvdDrive, ...]]:
    used: dict[str, int] = {}
    hard: list[HardDrive] = []
    dvd: list[DvdDrive] = []
    for d in disks:
        _check(f"disks.{d.role}.bus", d.bus, tuple(CONTROLLER_TYPES))
        ctype = CONTROLLER_TYPES[d.bus]
        if ctype == "IDE" and generation == 2:
            raise UnsupportedGuest(f"disks.{d.role}.bus='ide': a generation 2 VM has no IDE "
                                   "controller")
        controllers, per = SLOTS[ctype]
        if ctype == "SCSI":
            controllers = scsi
        n = used.get(ctype, 0)
        if n >= controllers * per:
            raise UnsupportedGuest(f"disks.{d.role}: no free {ctype} location (the VM has "
                                   f"{controllers} {ctype} controller(s) of {per} locations)")
        used[ctype] = n + 1
        number, location = divmod(n, per)
        if d.device == "cdrom":
            dvd.append(DvdDrive(d.role, ctype, number, location, d.source))
        elif d.device == "disk":
            _check(f"disks.{d.role}.format", d.format, DISK_FORMATS)
            if d.role == "ephemeral" and not d.size_gib:
                raise UnsupportedGuest("disks.ephemeral needs size_gib: kumo creates the blank "
                                       "VHD(X) at that size")
            size = d.size_gib * GIB if d.role == "ephemeral" else None
            hard.append(HardDrive(d.role, ctype, number, location, d.source, d.format, size))
        else:
            raise unsupported(f"disks.{d.role}.device", d.device, ("disk", "cdrom"))
    return tuple(hard), tuple(dvd)


def _adapter(i: int, nic: NicSpec, generation: int) -> NetworkAdapter:
    _check(f"nics[{i}].model", nic.model, tuple(NIC_MODELS))
    legacy = NIC_MODELS[nic.model]
    if legacy and generation == 2:
        raise UnsupportedGuest(f"nics[{i}].model='hyperv-legacy': a generation 2 VM has no "
                               "legacy network adapter")
    if nic.bridge:
        raise UnsupportedGuest(f"nics[{i}].bridge={nic.bridge!r}: Hyper-V adapters connect to "
                               "a virtual switch (nics.network), not a bridge")
    if nic.queues:
        raise UnsupportedGuest(f"Hyper-V backend cannot render nics[{i}].queues={nic.queues}")
    mac = nic.mac.replace(":", "").replace("-", "").upper() if nic.mac else None
    return NetworkAdapter(name=f"nic{i}", switch=nic.network, legacy=legacy, static_mac=mac)
