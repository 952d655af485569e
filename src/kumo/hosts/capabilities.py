"""Host capabilities as plain values (conventions.md #4): rendering and scheduling take these,
never a live connection.

``HostCapabilities.from_domcaps_xml`` reads libvirt's domain capabilities document
(``virsh domcapabilities`` / ``virConnectGetDomainCapabilities``; format documented at
https://libvirt.org/formatdomaincaps.html). Xen and Hyper-V hosts are described with the
constructor directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from lxml import etree

from kumo.errors import InvalidInput


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

    @property
    def is_libvirt_qemu(self) -> bool:
        return self.hypervisor in ("kvm", "qemu")

    def with_hypervisor(self, hypervisor: str) -> "HostCapabilities":
        return replace(self, hypervisor=hypervisor)

    @classmethod
    def from_domcaps_xml(cls, xml: str | bytes) -> "HostCapabilities":
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
        )

    @classmethod
    def load(cls, path: str | Path) -> "HostCapabilities":
        try:
            return cls.from_domcaps_xml(Path(path).read_bytes())
        except FileNotFoundError:
            raise InvalidInput(f"host capabilities file {str(path)!r} does not exist") from None


def _disk_buses(reported: tuple[str, ...], machines: set[str]) -> tuple[str, ...]:
    """Buses from domcaps, which are per machine type: a q35 document omits IDE, which the
    host's pc machine has, so IDE is added (once) when the host offers pc."""
    if "pc" in machines and "ide" not in reported:
        return reported + ("ide",)
    return reported


def default_host_caps(hypervisor: str = "kvm") -> HostCapabilities:
    """A modern x86_64 Intel KVM host (QEMU 7.2, OVMF with Secure Boot, swtpm, the full set of
    Hyper-V enlightenments): the embedded default for render/explain/lint without --host-caps."""
    xml = resources.files("kumo.data").joinpath("host-caps-intel-kvm.xml").read_bytes()
    caps = HostCapabilities.from_domcaps_xml(xml)
    return caps if hypervisor == caps.hypervisor else caps.with_hypervisor(hypervisor)


@dataclass(frozen=True)
class HostConfig:
    """What the operator configured for a host (not read from the hypervisor)."""

    #: time zone local-time guests (Windows) keep their RTC in; None = the host's own local time
    guest_timezone: str | None = None
    #: libvirt CPU mode for guests (Nova's [libvirt]cpu_mode); None = host-model on kvm, custom on qemu
    cpu_mode: str | None = None
    #: network/bridge NICs attach to
    network: str | None = None
    bridge: str | None = None
    extra: dict = field(default_factory=dict)
