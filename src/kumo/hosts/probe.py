"""A libvirt/QEMU host's capabilities as the host really is, from the documents libvirt gives.

libvirt's domain capabilities describe one (emulator, arch, machine, domain type) at a time
(https://libvirt.org/formatdomaincaps.html): asked without a machine, libvirt answers for the
emulator's default machine -- i440fx on x86, whose document lists no secure firmware, although the
same host boots Secure Boot guests on q35 (OVMF's secure build needs SMM, which only q35 has;
Debian 12's descriptors target it to ``pc-q35-*`` only). So the probe asks for every machine
family the host offers (q35 and pc on x86) and merges:

    machine_types, machine_aliases   virConnectGetCapabilities: guest/arch/machine (and the
                                     machines of the domain type), with canonical='...' aliases
    machine_caps                     one MachineCaps per family from its own domcaps
    firmware, secure_boot,           the union over the families (a q35-only secure loader makes
    disk_buses                       the host Secure Boot capable; decide per machine with
                                     HostCapabilities.secure_boot_on / machine(...))
    everything else                  the first family's document (CPU models and modes, TPM,
                                     Hyper-V enlightenments, video models do not depend on it)
    firmware_descriptors, swtpm      read from this machine's filesystem for a local URI only
                                     (kumo.hosts.firmware); None (unknown) for a remote host

``assemble`` is pure (documents in, value out), so it is tested on recorded documents; the
libvirt calls are in ``kumo.hosts.libvirt_host.LibvirtHost.capabilities``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from lxml import etree

from kumo.errors import InvalidInput
from kumo.hosts.capabilities import HostCapabilities, MachineCaps, machine_family
from kumo.hosts.firmware import FirmwareDescriptor

#: machine families asked for, per architecture, in order of preference
FAMILIES = {"x86_64": ("q35", "pc"), "i686": ("q35", "pc"), "aarch64": ("virt",)}


def machines_of(capabilities_xml: str | bytes, arch: str,
                domain: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(every machine name, (alias, canonical) pairs) the host's capabilities document lists for
    hvm guests of ``arch`` and domain type ``domain``."""
    try:
        root = etree.fromstring(capabilities_xml.encode() if isinstance(capabilities_xml, str)
                                else capabilities_xml)
    except etree.XMLSyntaxError as e:
        raise InvalidInput(f"host capabilities document is not valid XML: {e}") from None
    names: list[str] = []
    aliases: list[tuple[str, str]] = []
    for guest in root.iterfind("guest"):
        if (guest.findtext("os_type") or "").strip() != "hvm":
            continue
        a = guest.find(f"arch[@name='{arch}']")
        if a is None:
            continue
        elements = (list(a.iterfind("machine"))
                    + list(a.iterfind(f"domain[@type='{domain}']/machine")))
        for m in elements:
            name = (m.text or "").strip()
            if not name or name in names:
                continue
            names.append(name)
            if m.get("canonical"):
                aliases.append((name, m.get("canonical")))
    return tuple(names), tuple(aliases)


def assemble(domcaps: Mapping[str, str | bytes], capabilities_xml: str | bytes | None = None, *,
             hypervisor_version: tuple[int, ...] | None = None,
             descriptors: tuple[FirmwareDescriptor, ...] | None = None,
             swtpm: bool | None = None) -> HostCapabilities:
    """One HostCapabilities from the domain capabilities of each machine family (family ->
    document, preferred family first) and the host's capabilities document."""
    if not domcaps:
        raise InvalidInput("no domain capabilities to assemble host capabilities from")
    per = {family: HostCapabilities.from_domcaps_xml(doc, family=family)
           for family, doc in domcaps.items()}
    first = next(iter(per.values()))
    machine_caps = tuple(_machine_caps(family, caps) for family, caps in per.items())
    names: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    if capabilities_xml is not None:
        names, aliases = machines_of(capabilities_xml, first.arch, first.hypervisor)
    firmware = tuple(sorted({f for m in machine_caps for f in m.firmware}))
    loaders = tuple(dict.fromkeys(p for m in machine_caps for p in m.loaders))
    buses = tuple(dict.fromkeys(b for m in machine_caps for b in m.disk_buses))
    max_vcpus = max((m.max_vcpus for m in machine_caps if m.max_vcpus), default=None)
    return replace(
        first, machines=tuple(m.family for m in machine_caps),
        machine_types=names, machine_aliases=aliases, machine_caps=machine_caps,
        firmware=firmware, uefi_loaders=loaders,
        secure_boot=any(m.secure_boot for m in machine_caps), disk_buses=buses,
        max_vcpus=max_vcpus, hypervisor_version=hypervisor_version or first.hypervisor_version,
        firmware_descriptors=descriptors, swtpm=swtpm)


def _machine_caps(family: str, caps: HostCapabilities) -> MachineCaps:
    got = machine_family(caps.machine_versioned or family)
    if got != family:
        raise InvalidInput(f"domain capabilities asked for machine family {family!r} describe "
                           f"{caps.machine_versioned!r}")
    return caps.machine_caps_of(family)
