"""Declarative model of the libvirt domain XML kumo uses, shared by every libvirt backend.

It only converts between objects and XML, in both directions, from one declaration per element
(conventions.md #2, #3); rules elsewhere decide what the values are. See ``mapper`` for how a
field is declared, ``domain`` and ``devices`` for the elements.

Parsing ignores content that is not modelled (libvirt's expanded defaults, addresses, aliases,
<metadata>, ...): ``Domain.from_xml(virsh_dumpxml)`` never fails on extra elements, and
re-rendering it yields only the modelled subset.
"""

from kumo.backends.libvirt_xml.devices import (
    Channel,
    Console,
    Controller,
    Devices,
    Disk,
    Graphics,
    Input,
    Interface,
    MemBalloon,
    Rng,
    Serial,
    Tpm,
    Video,
    Watchdog,
)
from kumo.backends.libvirt_xml.domain import (
    BootDev,
    Clock,
    Cpu,
    Domain,
    Features,
    FirmwareFeature,
    Hyperv,
    Loader,
    Nvram,
    Os,
    Timer,
    Topology,
)
from kumo.backends.libvirt_xml.mapper import (
    INT,
    ON_OFF,
    STR,
    YES_NO,
    Child,
    Children,
    Converter,
    Flag,
    Prop,
    XmlNode,
)
from kumo.backends.libvirt_xml.naming import disk_target_name

__all__ = [
    "BootDev", "Channel", "Child", "Children", "Clock", "Console", "Controller", "Converter",
    "Cpu", "Devices", "Disk", "Domain", "Features", "FirmwareFeature", "Flag", "Graphics",
    "Hyperv", "INT", "Input", "Interface", "Loader", "MemBalloon", "Nvram", "ON_OFF", "Os",
    "Prop", "Rng", "STR", "Serial", "Timer", "Topology", "Tpm", "Video", "Watchdog", "XmlNode",
    "YES_NO", "disk_target_name",
]
