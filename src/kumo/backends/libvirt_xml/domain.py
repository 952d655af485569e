"""The libvirt domain document, top level: <domain>, <os>, <features>, <cpu>, <clock>.

Element and attribute names follow https://libvirt.org/formatdomain.html (libvirt 9.0 schema,
/usr/share/libvirt/schemas/domaincommon.rng). This module only describes the XML; it makes no
policy decisions (conventions.md #2) and is shared by every libvirt backend (KVM/QEMU, Xen).
"""

from __future__ import annotations

from kumo.backends.libvirt_xml.devices import Devices
from kumo.backends.libvirt_xml.metadata import KumoInstance
from kumo.backends.libvirt_xml.mapper import (
    INT,
    ON_OFF,
    YES_NO,
    Child,
    Children,
    Flag,
    Prop,
    XmlNode,
)

# --- <os> (formatdomain.html#operating-system-booting) -------------------------------------------


class FirmwareFeature(XmlNode):
    """<os><firmware><feature enabled='yes' name='secure-boot'/>: firmware autoselection
    (libvirt >= 7.2) picks a firmware descriptor with (or without) these features."""

    tag = "feature"
    enabled = Prop("@enabled", YES_NO)
    name = Prop("@name")  # secure-boot | enrolled-keys


class Loader(XmlNode):
    tag = "loader"
    readonly = Prop("@readonly", YES_NO)
    secure = Prop("@secure", YES_NO)
    type = Prop("@type")  # rom | pflash
    stateless = Prop("@stateless", YES_NO)  # libvirt >= 8.6: no NVRAM store
    path = Prop(".")  # Xen: hvmloader; QEMU: an explicit firmware image


class Nvram(XmlNode):
    tag = "nvram"
    template = Prop("@template")
    path = Prop(".")


class BootDev(XmlNode):
    tag = "boot"
    dev = Prop("@dev")  # hd | cdrom | network | fd


class Os(XmlNode):
    tag = "os"
    firmware = Prop("@firmware")  # bios | efi (autoselection)
    type = Prop("type")  # hvm | xen (paravirtual) | linux
    arch = Prop("type/@arch")
    machine = Prop("type/@machine")
    firmware_features = Children(FirmwareFeature, under="firmware")
    loader = Child(Loader)
    nvram = Child(Nvram)
    kernel = Prop("kernel")
    initrd = Prop("initrd")
    cmdline = Prop("cmdline")
    boot = Children(BootDev)
    bootmenu = Prop("bootmenu/@enable", YES_NO)
    bootmenu_timeout = Prop("bootmenu/@timeout", INT)

    def firmware_feature(self, name: str) -> bool | None:
        """enabled='yes|no' of the named <firmware><feature>, None when not stated."""
        for f in self.firmware_features:
            if f.name == name:
                return f.enabled
        return None


# --- <features> (formatdomain.html#hypervisor-features) -------------------------------------------


class Hyperv(XmlNode):
    """<hyperv mode='custom'>: Hyper-V enlightenments, one element each with state='on|off'."""

    tag = "hyperv"
    mode = Prop("@mode")  # custom | passthrough
    relaxed = Prop("relaxed/@state", ON_OFF)
    vapic = Prop("vapic/@state", ON_OFF)
    spinlocks = Prop("spinlocks/@state", ON_OFF)
    spinlocks_retries = Prop("spinlocks/@retries", INT)
    vpindex = Prop("vpindex/@state", ON_OFF)
    runtime = Prop("runtime/@state", ON_OFF)
    synic = Prop("synic/@state", ON_OFF)
    stimer = Prop("stimer/@state", ON_OFF)
    stimer_direct = Prop("stimer/direct/@state", ON_OFF)
    reset = Prop("reset/@state", ON_OFF)
    vendor_id = Prop("vendor_id/@state", ON_OFF)
    vendor_id_value = Prop("vendor_id/@value")
    frequencies = Prop("frequencies/@state", ON_OFF)
    reenlightenment = Prop("reenlightenment/@state", ON_OFF)
    tlbflush = Prop("tlbflush/@state", ON_OFF)
    ipi = Prop("ipi/@state", ON_OFF)
    evmcs = Prop("evmcs/@state", ON_OFF)
    avic = Prop("avic/@state", ON_OFF)

    #: the enlightenments that are a plain on/off state, in document order
    STATE_FEATURES = (
        "relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset",
        "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi", "evmcs", "avic",
    )


class Features(XmlNode):
    tag = "features"
    acpi = Flag("acpi")
    apic = Flag("apic")
    pae = Flag("pae")
    hap = Prop("hap/@state", ON_OFF)  # Xen
    viridian = Flag("viridian")  # Xen's Hyper-V enlightenments
    hyperv = Child(Hyperv)
    kvm_hidden = Prop("kvm/hidden/@state", ON_OFF)
    pmu = Prop("pmu/@state", ON_OFF)
    vmport = Prop("vmport/@state", ON_OFF)
    smm = Prop("smm/@state", ON_OFF)


# --- <cpu> (formatdomain.html#cpu-model-and-topology) ---------------------------------------------


class Topology(XmlNode):
    tag = "topology"
    sockets = Prop("@sockets", INT)
    dies = Prop("@dies", INT)
    cores = Prop("@cores", INT)
    threads = Prop("@threads", INT)


class Cpu(XmlNode):
    tag = "cpu"
    mode = Prop("@mode")  # host-model | host-passthrough | custom | maximum
    match = Prop("@match")
    check = Prop("@check")
    model = Prop("model")
    model_fallback = Prop("model/@fallback")
    topology = Child(Topology)


# --- <clock> (formatdomain.html#time-keeping) ----------------------------------------------------


class Timer(XmlNode):
    tag = "timer"
    name = Prop("@name")  # rtc | pit | hpet | kvmclock | hypervclock | tsc
    present = Prop("@present", YES_NO)
    tickpolicy = Prop("@tickpolicy")  # delay | catchup | merge | discard
    track = Prop("@track")


class Clock(XmlNode):
    tag = "clock"
    offset = Prop("@offset")  # utc | localtime | timezone | variable
    timezone = Prop("@timezone")
    adjustment = Prop("@adjustment")
    basis = Prop("@basis")
    timers = Children(Timer)

    def timer(self, name: str) -> Timer | None:
        return next((t for t in self.timers if t.name == name), None)


# --- <domain> ------------------------------------------------------------------------------------

#: libvirt's memory units (formatdomain.html#memory-allocation): k/KiB are 1024, KB is 1000
_BYTES_PER_UNIT = {"b": 1, "bytes": 1, "kb": 10**3, "k": 2**10, "kib": 2**10, "mb": 10**6,
                   "m": 2**20, "mib": 2**20, "gb": 10**9, "g": 2**30, "gib": 2**30,
                   "tb": 10**12, "t": 2**40, "tib": 2**40}


class Domain(XmlNode):
    tag = "domain"
    type = Prop("@type")  # kvm | qemu | xen | test
    name = Prop("name")
    uuid = Prop("uuid")
    #: <metadata><kumo:instance>: who defined the domain (kumo.backends.libvirt_xml.metadata)
    kumo = Child(KumoInstance, under="metadata")
    memory = Prop("memory", INT)
    memory_unit = Prop("memory/@unit")  # libvirt's default and dumpxml unit is KiB
    current_memory = Prop("currentMemory", INT)
    current_memory_unit = Prop("currentMemory/@unit")
    vcpu = Prop("vcpu", INT)
    vcpu_placement = Prop("vcpu/@placement")
    bootloader = Prop("bootloader")  # Xen PV: pygrub
    bootloader_args = Prop("bootloader_args")
    os = Child(Os)
    features = Child(Features)
    cpu = Child(Cpu)
    clock = Child(Clock)
    on_poweroff = Prop("on_poweroff")
    on_reboot = Prop("on_reboot")
    on_crash = Prop("on_crash")
    #: formatdomain.html#power-management: whether the guest may suspend itself
    pm_suspend_to_mem = Prop("pm/suspend-to-mem/@enabled", YES_NO)
    pm_suspend_to_disk = Prop("pm/suspend-to-disk/@enabled", YES_NO)
    devices = Child(Devices)

    def memory_mib(self) -> float | None:
        """<memory> in MiB whatever unit it was written in (libvirt dumps KiB)."""
        if self.memory is None:
            return None
        unit = (self.memory_unit or "KiB").lower()
        if unit not in _BYTES_PER_UNIT:
            raise ValueError(f"unknown libvirt memory unit {self.memory_unit!r}")
        return self.memory * _BYTES_PER_UNIT[unit] / 2**20
