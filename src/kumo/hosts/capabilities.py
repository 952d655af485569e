"""Host capabilities as plain values (conventions.md #4): rendering and scheduling take these,
never a live connection.

``HostCapabilities.from_domcaps_xml`` reads libvirt's domain capabilities document
(``virsh domcapabilities`` / ``virConnectGetDomainCapabilities``; format documented at
https://libvirt.org/formatdomaincaps.html). Xen and Hyper-V hosts are described with the
constructor directly.

Domain capabilities are per machine type: the document for i440fx (``pc``) lists no secure
firmware and the one for q35 no IDE. ``kumo.hosts.probe`` therefore asks for each machine family
the host offers and keeps one ``MachineCaps`` per family, with the versioned machine names QEMU
offers (``machine_types``: pc-q35-7.2, pc-i440fx-2.12, ...) and what each alias (q35, pc) stands
for (``machine_aliases``). The flat fields (``firmware``, ``secure_boot``, ``disk_buses``) are the
union over the families; rules that depend on the machine ask ``machine(family)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from kumo.errors import InvalidInput
from kumo.hosts.firmware import FirmwareDescriptor

#: machine alias -> its family, and versioned-name prefix -> family (QEMU's x86 machine names)
_FAMILY_PREFIXES = (("pc-q35-", "q35"), ("pc-i440fx-", "pc"), ("virt-", "virt"))


def machine_family(machine: str) -> str:
    """'pc-q35-7.2' -> 'q35', 'pc-i440fx-7.2' -> 'pc', 'virt-8.0' -> 'virt'; a family name or
    any other machine name is returned unchanged."""
    for prefix, family in _FAMILY_PREFIXES:
        if machine.startswith(prefix) and machine[len(prefix):][:1].isdigit():
            return family
    return machine


@dataclass(frozen=True)
class MachineCaps:
    """What one machine family offers, from the domain capabilities libvirt gives for it."""

    family: str  # q35 | pc | virt ...
    name: str | None  # the versioned machine the alias stands for (pc-q35-7.2)
    max_vcpus: int | None = None
    firmware: tuple[str, ...] = ("bios",)  # bios, efi
    loaders: tuple[str, ...] = ()
    secure_boot: bool = False
    disk_buses: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostCapabilities:
    hypervisor: str  # kvm | qemu | xen | hyperv
    arch: str = "x86_64"
    #: the hypervisor's version: QEMU's for kvm/qemu, Xen's, or the Windows NT version for
    #: Hyper-V (6.3 = Windows Server 2012 R2; seed 004)
    hypervisor_version: tuple[int, ...] | None = None
    cpu_vendor: str | None = None  # Intel | AMD
    emulator: str | None = None
    #: machine type families the host offers (pc, q35) and the versioned one domcaps named
    machines: tuple[str, ...] = ("pc", "q35")
    machine_versioned: str | None = None
    max_vcpus: int | None = None
    firmware: tuple[str, ...] = ("bios",)  # bios, efi
    uefi_loaders: tuple[str, ...] = ()
    secure_boot: bool = False
    tpm_models: tuple[str, ...] = ()
    tpm_versions: tuple[str, ...] = ()
    #: Hyper-V enlightenments the host offers; None when libvirt does not report them
    hyperv_features: tuple[str, ...] | None = None
    disk_buses: tuple[str, ...] = ("ide", "sata", "scsi", "virtio", "usb", "fdc")
    video_models: tuple[str, ...] = ("vga", "cirrus", "qxl", "virtio", "bochs", "none")
    cpu_modes: tuple[str, ...] = ("host-model", "host-passthrough", "custom")
    #: CPU models usable in custom mode (domcaps cpu/mode[@name='custom']/model[@usable='yes'])
    cpu_models: tuple[str, ...] = ()
    #: every machine name the emulator offers for this domain type (virsh capabilities);
    #: () when not probed, then only the families in ``machines`` are known
    machine_types: tuple[str, ...] = ()
    #: (alias, versioned machine): ("q35", "pc-q35-7.2"), ("pc", "pc-i440fx-7.2")
    machine_aliases: tuple[tuple[str, str], ...] = ()
    #: per-family domain capabilities; () when only one document was read
    machine_caps: tuple[MachineCaps, ...] = ()
    #: QEMU firmware descriptors (kumo.hosts.firmware); None when unknown (a remote host)
    firmware_descriptors: tuple[FirmwareDescriptor, ...] | None = None
    #: TPM backends libvirt offers (passthrough, emulator = swtpm)
    tpm_backends: tuple[str, ...] = ()
    #: whether swtpm is installed (None: not known, e.g. a remote host)
    swtpm: bool | None = None

    def __hash__(self) -> int:
        # the scheduler keys its per-class policy answers by this value: hash it once
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self)))
            object.__setattr__(self, "_hash", h)
        return h

    @property
    def is_libvirt_qemu(self) -> bool:
        return self.hypervisor in ("kvm", "qemu")

    # --- machine types ---------------------------------------------------------------------------

    def machine(self, machine: str) -> MachineCaps | None:
        """The per-family capabilities for a family or versioned name; None when not probed."""
        family = machine_family(machine)
        for m in self.machine_caps:
            if m.family == family:
                return m
        return None

    def canonical_machine(self, family: str) -> str | None:
        """The versioned machine an alias stands for on this host ('q35' -> 'pc-q35-7.2')."""
        for alias, name in self.machine_aliases:
            if alias == family:
                return name
        m = self.machine(family)
        return m.name if m is not None else None

    def offers_machine(self, machine: str) -> bool:
        """True if the emulator accepts ``machine`` (a family alias or a versioned name)."""
        if machine in self.machines or machine in self.machine_types:
            return True
        return not self.machine_types and machine_family(machine) in self.machines

    def machine_versions(self, family: str) -> tuple[str, ...]:
        """The versioned machines of ``family`` the host offers, oldest first."""
        names = [m for m in self.machine_types if machine_family(m) == family and m != family]
        return tuple(sorted(names, key=_version_key))

    # --- firmware and TPM ------------------------------------------------------------------------

    def uefi_on(self, machine: str) -> bool:
        m = self.machine(machine)
        return "efi" in (m.firmware if m is not None else self.firmware)

    def secure_boot_on(self, machine: str) -> bool:
        m = self.machine(machine)
        return m.secure_boot if m is not None else self.secure_boot

    def stateless_firmware(self, machine: str) -> bool | None:
        """Whether a stateless UEFI build exists for ``machine``; None when the host's firmware
        descriptors are unknown."""
        if self.firmware_descriptors is None:
            return None
        name = self.canonical_machine(machine) or machine
        return any(d.stateless and "uefi" in d.interfaces and d.supports(self.arch, name)
                   for d in self.firmware_descriptors)

    @property
    def tpm_emulated(self) -> bool:
        """An emulated TPM can be given to guests: libvirt offers the device and swtpm is
        there (or, on a host kumo cannot look at, libvirt offers the emulator backend)."""
        if not self.tpm_versions:
            return False
        if self.swtpm is not None:
            return self.swtpm
        return not self.tpm_backends or "emulator" in self.tpm_backends

    # --- storage as plain JSON (the hosts table) -------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "HostCapabilities":
        """The value ``to_json`` stored; keys this version does not know are ignored, missing
        ones take their defaults (capabilities stored before a field existed)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: _tuples(v) for k, v in data.items() if k in names}
        if kw.get("machine_caps"):
            kw["machine_caps"] = tuple(MachineCaps(**{k: _tuples(v) for k, v in m.items()})
                                       for m in data["machine_caps"])
        if data.get("firmware_descriptors") is not None:
            kw["firmware_descriptors"] = tuple(
                FirmwareDescriptor(**{k: _tuples(v) for k, v in d.items()})
                for d in data["firmware_descriptors"])
        return cls(**kw)

    def with_hypervisor(self, hypervisor: str) -> "HostCapabilities":
        return replace(self, hypervisor=hypervisor)

    @classmethod
    def from_domcaps_xml(cls, xml: str | bytes, *,
                         family: str | None = None) -> "HostCapabilities":
        """The host as one domcaps document describes it. Without ``family`` the document
        stands for the whole host (pc and q35, IDE from pc added); with it, for that machine
        family only (as kumo.hosts.probe reads one document per family)."""
        try:
            root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
        except etree.XMLSyntaxError as e:
            raise InvalidInput(f"host capabilities are not valid XML: {e}") from None
        if root.tag != "domainCapabilities":
            raise InvalidInput(
                f"host capabilities must be a libvirt <domainCapabilities> document "
                f"(virsh domcapabilities), got <{root.tag}>")

        def values(path: str) -> tuple[str, ...]:
            return tuple(v.text.strip() for v in root.iterfind(path) if v.text)

        def supported(path: str) -> bool:
            el = root.find(path)
            return el is not None and el.get("supported") == "yes"

        machine = root.findtext("machine")
        if family is not None:
            machines = {family}
        else:
            machines = {"pc", "q35"} if root.findtext("arch") in ("x86_64", "i686") else set()
        firmware = set(values("os/enum[@name='firmware']/value")) | {"bios"}
        loaders = values("os/loader/value")
        if loaders:
            firmware.add("efi")
        vcpu = root.find("vcpu")
        hyperv = None
        if supported("features/hyperv"):
            hyperv = values("features/hyperv/enum[@name='features']/value")
        vendor = root.findtext("cpu/mode[@name='host-model']/vendor")
        modes = tuple(m.get("name") for m in root.iterfind("cpu/mode")
                      if m.get("supported") == "yes")
        models = tuple(m.text.strip() for m in root.iterfind("cpu/mode[@name='custom']/model")
                       if m.get("usable") == "yes" and m.text)
        tpm = supported("devices/tpm")
        return cls(
            hypervisor=(root.findtext("domain") or "kvm").strip(),
            arch=(root.findtext("arch") or "x86_64").strip(),
            cpu_vendor=vendor.strip() if vendor else None,
            emulator=root.findtext("path"),
            machines=tuple(sorted(machines)),
            machine_versioned=machine,
            max_vcpus=int(vcpu.get("max")) if vcpu is not None and vcpu.get("max") else None,
            firmware=tuple(sorted(firmware)),
            uefi_loaders=loaders,
            secure_boot="yes" in values("os/loader/enum[@name='secure']/value"),
            tpm_models=values("devices/tpm/enum[@name='model']/value")
            if supported("devices/tpm") else (),
            tpm_versions=values("devices/tpm/enum[@name='backendVersion']/value")
            if supported("devices/tpm") else (),
            hyperv_features=hyperv,
            disk_buses=_disk_buses(values("devices/disk/enum[@name='bus']/value"), machines),
            video_models=values("devices/video/enum[@name='modelType']/value"),
            cpu_modes=modes,
            cpu_models=models,
            tpm_backends=values("devices/tpm/enum[@name='backendModel']/value") if tpm else (),
        )

    def machine_caps_of(self, family: str) -> MachineCaps:
        """This document's facts as the ``MachineCaps`` of ``family`` (the family it was read
        for): its own buses, not the union ``from_domcaps_xml`` gives for the default host."""
        return MachineCaps(family=family, name=self.machine_versioned,
                           max_vcpus=self.max_vcpus, firmware=self.firmware,
                           loaders=self.uefi_loaders, secure_boot=self.secure_boot,
                           disk_buses=self.disk_buses)

    @classmethod
    def load(cls, path: str | Path) -> "HostCapabilities":
        from kumo.files import read_bytes

        return cls.from_domcaps_xml(read_bytes(path, "host capabilities file"))


def _version_key(name: str) -> tuple[int, ...]:
    digits = name.rsplit("-", 1)[-1]
    try:
        return tuple(int(x) for x in digits.split("."))
    except ValueError:
        return ()


def _tuples(value: Any) -> Any:
    """JSON lists back to tuples (nested: machine_aliases pairs, descriptor targets)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _disk_buses(reported: tuple[str, ...], machines: set[str]) -> tuple[str, ...]:
    """Buses from domcaps, which are per machine type: a q35 document omits IDE, which the
    host's pc machine has, so IDE is added (once) when the host offers pc."""
    if "pc" in machines and "ide" not in reported:
        return reported + ("ide",)
    return reported


@lru_cache(maxsize=8)
def default_host_caps(hypervisor: str = "kvm") -> HostCapabilities:
    """A modern x86_64 Intel KVM host (QEMU 7.2, OVMF with Secure Boot, swtpm, the full set of
    Hyper-V enlightenments): the embedded default for render/explain/lint without --host-caps."""
    # read beside kumo.data's own file, not through importlib.resources: importing that (with
    # tempfile, shutil, zipfile) costs ~10 ms of every `kumo render`, and kumo is installed as
    # plain files (a wheel), never run from a zip
    import kumo.data

    xml = Path(kumo.data.__file__).with_name("host-caps-intel-kvm.xml").read_bytes()
    caps = HostCapabilities.from_domcaps_xml(xml)
    return caps if hypervisor == caps.hypervisor else caps.with_hypervisor(hypervisor)


#: Nova's num_pcie_ports default is libvirt's (no spare port); kumo's is 16, see
#: kumo.guest.policy.pcie. 28 is Nova's ceiling (the slots left on pcie.0). Defined here, not in
#: kumo.config, so that ``kumo render`` (which needs the default, not the configuration) does not
#: import pydantic: about 100 ms of CPU at start-up.
DEFAULT_PCIE_ROOT_PORTS = 16
MAX_PCIE_ROOT_PORTS = 28


@dataclass(frozen=True)
class HostConfig:
    """What the operator configured for a host (not read from the hypervisor)."""

    #: time zone local-time guests (Windows) keep their RTC in; None = the host's own local time
    guest_timezone: str | None = None
    #: libvirt CPU mode for guests (Nova's [libvirt]cpu_mode); None = host-model on kvm, custom on qemu
    cpu_mode: str | None = None
    #: total PCIe root ports of a q35 guest, for hot-plug (Nova's num_pcie_ports; why 16:
    #: kumo.guest.policy.pcie; KUMO_PCIE_ROOT_PORTS)
    pcie_root_ports: int = DEFAULT_PCIE_ROOT_PORTS
    #: address guests' VNC displays listen on, on the host (Nova's [vnc]server_listen)
    vnc_listen: str = "127.0.0.1"
    #: network/bridge NICs attach to
    network: str | None = None
    bridge: str | None = None
    extra: dict = field(default_factory=dict)
