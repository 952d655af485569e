"""Two libvirt domains compared element by element, each difference with its consequence.

Both sides are ``kumo.backends.libvirt_xml.Domain`` objects -- the renderer's own mapping -- so
what is compared is what kumo writes, read back the way kumo reads it. A domain is reduced to
*facets* (clock offset, each timer, each Hyper-V enlightenment, each disk's bus, machine,
firmware, TPM, NIC model, ...), each a short string or None (absent); two domains differ where a
facet differs. Facets are the guest-visible hardware only: names, uuids, file paths, PCI
addresses and MACs are the instance's identity or libvirt's bookkeeping, not its configuration.

What libvirt adds or expands on its own is not a difference:
* a facet kumo does not state (None on the wanted side) is not compared where libvirt fills in a
  default of its own (memballoon, video, input devices, controllers other than SCSI: libvirt
  adds a USB tablet's bus, PS/2 devices, a virtio memballoon, PCI controllers --
  formatdomain.html#controllers, #memory-balloon-device);
* a machine alias ('q35') is its versioned name on the host ('pc-q35-7.2', as libvirt expands
  it at define, formatdomain.html#bios-bootloader);
* a running host-model CPU is shown as mode='custom' with the expanded model (formatdomain.html
  #cpu-model-and-topology: "the live XML ... host-model ... is turned into custom").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kumo.backends.libvirt_xml import Disk, Domain, Hyperv
from kumo.compute import naming
from kumo.hosts.capabilities import HostCapabilities

GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"


@dataclass(frozen=True)
class Difference:
    """One facet that differs: ``have`` on the host, ``want`` by kumo's rules (None: absent)."""

    id: str
    element: str
    have: str | None
    want: str | None
    severity: str
    consequence: str

    def describe(self) -> str:
        """'clock offset utc, should be localtime: the guest clock is off by ...'"""
        return (f"{self.element} {self.have or 'absent'}, should be {self.want or 'absent'}: "
                f"{self.consequence}")


@dataclass(frozen=True)
class Facet:
    """A facet's finding id and its element's name in messages."""

    id: str
    element: str
    #: compared only when kumo states it (libvirt adds its own default otherwise)
    only_if_wanted: bool = False


#: (facet key) -> Facet; keys are the facet's id plus what it is of ("timer hpet", "disk sda")
Facets = dict[str, tuple[Facet, str | None]]


#: kumo's per-instance volume kinds (kumo.compute.naming) -> the disk's role in messages
_ROLES = {naming.ROOT: "root disk", naming.EPHEMERAL: "ephemeral disk",
          naming.CONFIG: "config drive"}


def _disk_role(disk: Disk) -> str:
    """A disk named by what it is (its volume, by kumo's naming), not by its target: a bus
    change renames the target (vda -> sda), and it is still the root disk."""
    volume = (disk.source_file or disk.source_dev or "").rsplit("/", 1)[-1]
    uuid = naming.instance_of_volume(volume)
    if uuid is not None:
        return _ROLES.get(volume[len(naming.domain_name(uuid)) + 1:], volume)
    return f"disk {disk.target_dev or volume or '?'}"


def _onoff(value: bool | None) -> str | None:
    return None if value is None else ("on" if value else "off")


def _machine(d: Domain, caps: HostCapabilities | None) -> str | None:
    machine = d.os.machine if d.os else None
    if machine and caps is not None and "-" not in machine:  # an alias: its versioned name
        return caps.canonical_machine(machine) or machine
    return machine


def _firmware(d: Domain) -> str | None:
    if d.os is None:
        return None
    if d.os.firmware:
        return d.os.firmware
    return "efi" if d.os.loader is not None and d.os.loader.type == "pflash" else "bios"


def _secure_boot(d: Domain) -> str | None:
    if _firmware(d) != "efi":
        return None
    feature = d.os.firmware_feature("secure-boot")
    if feature is None and d.os.loader is not None:
        feature = d.os.loader.secure
    return _onoff(bool(feature))


def _clock(d: Domain) -> str | None:
    c = d.clock
    if c is None:
        return None
    if c.offset == "variable" and c.basis:  # libvirt's spelling of an adjusted basis
        return c.basis
    return f"{c.offset} ({c.timezone})" if c.offset == "timezone" else c.offset


def _timer(t) -> str:
    parts = [{True: "present", False: "absent", None: "present"}[t.present]]
    if t.tickpolicy:
        parts.append(f"tickpolicy {t.tickpolicy}")
    if t.track:
        parts.append(f"track {t.track}")
    return ", ".join(parts)


def _hyperv(h: Hyperv | None, feature: str) -> str | None:
    if h is None:
        return None
    state = getattr(h, feature)
    value = _onoff(state)
    if feature == "spinlocks" and state and h.spinlocks_retries:
        value = f"on (retries {h.spinlocks_retries})"
    elif feature == "vendor_id" and state and h.vendor_id_value:
        value = f"on ({h.vendor_id_value})"
    elif feature == "stimer" and state and h.stimer_direct:
        value = "on (direct)"
    return value


def facets(d: Domain, caps: HostCapabilities | None = None) -> Facets:
    """The facets of ``d`` (see the module docstring)."""
    out: Facets = {}

    def put(key: str, facet: Facet, value: str | None) -> None:
        out[key] = (facet, value)

    put("machine", Facet("machine", "machine type"), _machine(d, caps))
    put("firmware", Facet("firmware", "firmware"), _firmware(d))
    put("secure-boot", Facet("secure-boot", "Secure Boot"), _secure_boot(d))
    put("clock", Facet("clock-offset", "clock offset"), _clock(d))
    for t in (d.clock.timers if d.clock else ()):
        put(f"timer {t.name}", Facet("timer", f"timer {t.name}"), _timer(t))
    hv = d.features.hyperv if d.features else None
    for feature in Hyperv.STATE_FEATURES:
        value = _hyperv(hv, feature)
        if value is not None:
            put(f"hyperv {feature}", Facet("hyperv", f"Hyper-V {feature}"), value)
    if d.features is not None:
        f = d.features
        for name in ("acpi", "apic", "pae", "viridian"):
            if getattr(f, name):
                put(f"feature {name}", Facet("feature", f"feature {name}"), "on")
        for name in ("smm", "pmu", "vmport", "hap"):
            put(f"feature {name}", Facet("feature", f"feature {name}", only_if_wanted=True),
                _onoff(getattr(f, name)))
        put("feature kvm-hidden", Facet("feature", "KVM hidden from the guest",
                                        only_if_wanted=True), _onoff(f.kvm_hidden))
    if d.cpu is not None:
        put("cpu mode", Facet("cpu", "CPU mode"), d.cpu.mode or "custom")
        t = d.cpu.topology
        if t is not None:
            put("cpu topology", Facet("cpu-topology", "CPU topology"),
                f"{t.sockets} socket(s), {t.cores} core(s), {t.threads} thread(s)")
    put("vcpus", Facet("size", "vCPUs"), None if d.vcpu is None else str(d.vcpu))
    mib = d.memory_mib()
    put("memory", Facet("size", "memory"), None if mib is None else f"{mib:g} MiB")
    devices = d.devices
    if devices is None:
        return out
    for disk in devices.disks:
        role = _disk_role(disk)
        put(role, Facet("disk", role), disk.device or "disk")
        put(f"{role} bus", Facet("disk-bus", f"{role} bus"), disk.target_bus)
        put(f"{role} format", Facet("disk-format", f"{role} format", only_if_wanted=True),
            disk.driver_type)
    scsi = [c.model or "default" for c in devices.controllers if c.type == "scsi"]
    put("scsi", Facet("scsi-model", "SCSI controller", only_if_wanted=True),
        ", ".join(scsi) or None)
    for i, nic in enumerate(devices.interfaces):
        put(f"nic {i}", Facet("nic-model", f"NIC {i} model"), nic.model or "default")
    tpm = ", ".join(f"{t.model or 'default'} {t.backend_type or ''} {t.backend_version or ''}"
                    .strip().replace("  ", " ") for t in devices.tpms)
    put("tpm", Facet("tpm", "TPM"), tpm or None)
    agent = any(c.target_name == GUEST_AGENT_CHANNEL for c in devices.channels)
    put("agent", Facet("guest-agent", "guest agent channel"), "present" if agent else None)
    put("video", Facet("device", "video model", only_if_wanted=True),
        ", ".join(v.model or "default" for v in devices.videos) or None)
    put("watchdog", Facet("device", "watchdog"),
        ", ".join(f"{w.model} (action {w.action})" for w in devices.watchdogs) or None)
    put("memballoon", Facet("device", "memory balloon", only_if_wanted=True),
        devices.memballoon.model if devices.memballoon else None)
    put("rng", Facet("device", "random number generator"),
        ", ".join(r.model or "default" for r in devices.rngs) or None)
    tablets = [i.bus or "default" for i in devices.inputs if i.type == "tablet"]
    put("tablet", Facet("device", "USB tablet", only_if_wanted=True),
        ", ".join(tablets) or None)
    return out


# --- consequences ---------------------------------------------------------------------------------

#: (facet key, have, want) -> (severity, consequence)
Consequence = Callable[[str, str | None, str | None], tuple[str, str]]


def _clock_consequence(key: str, have: str | None, want: str | None) -> tuple[str, str]:
    if want == "localtime" or (want or "").startswith("timezone"):
        # kumo's rules keep the RTC in local time for Windows only (guest.policy.clock)
        text = "the guest clock is off by the host's UTC offset; Windows KMS activation fails"
    elif want == "utc":
        text = ("the guest reads local time from an RTC it expects in UTC: its clock is off by "
                "the host's UTC offset")
    else:
        text = "the guest clock does not start where its OS expects it"
    return "error", text


_TIMERS = {
    "hpet": "an HPET present makes Windows use it as its clock source: higher CPU use and time "
            "lost under host load",
    "hypervclock": "without the Hyper-V reference clock Windows keeps time by ticks: it drifts "
                   "and may stop with CLOCK_WATCHDOG_TIMEOUT under host load",
    "rtc": "the RTC's tick policy decides whether a guest catches up on ticks it missed while "
           "the host was busy: its clock falls behind otherwise",
    "pit": "the PIT's tick policy decides whether missed ticks are delivered late or lost: "
           "the guest clock drifts",
    "kvmclock": "Linux guests keep time from kvmclock: without it their clock drifts",
}


def _timer_consequence(key: str, have: str | None, want: str | None) -> tuple[str, str]:
    name = key.split(" ", 1)[1]
    return "warning", _TIMERS.get(name, "the guest keeps time with other timers than its OS "
                                        "needs: its clock drifts")


_HYPERV = {
    "relaxed": "without relaxed timing Windows may stop with CLOCK_WATCHDOG_TIMEOUT when the "
               "host is busy",
    "spinlocks": "Windows spins on locks instead of yielding to the hypervisor: wasted CPU",
    "vapic": "Windows takes more exits on every interrupt: slower",
    "synic": "no synthetic interrupt controller: Hyper-V timers and VMBus devices are missing",
    "stimer": "no synthetic timers: Windows falls back to the emulated timers, more CPU and "
              "clock drift",
}


def _hyperv_consequence(key: str, have: str | None, want: str | None) -> tuple[str, str]:
    feature = key.split(" ", 1)[1]
    if (want or "off").startswith("off") and (have or "").startswith("on"):
        return "warning", ("the guest has an enlightenment today's rules do not give it on this "
                           "host: the guest may not start after the next host upgrade")
    return "warning", _HYPERV.get(feature, "a Hyper-V enlightenment Windows uses is missing: "
                                           "Windows runs slower")


def _fixed(severity: str, text: str) -> Consequence:
    return lambda key, have, want: (severity, text)


CONSEQUENCES: dict[str, Consequence] = {
    "clock-offset": _clock_consequence,
    "timer": _timer_consequence,
    "hyperv": _hyperv_consequence,
    "machine": _fixed("warning", "the guest sees other chipset hardware than its record gives: "
                                 "the next hard reboot changes it, and Windows may see new "
                                 "devices and ask for re-activation"),
    "firmware": _fixed("error", "an OS installed for one firmware does not boot under the "
                                "other: the guest fails at its next start"),
    "secure-boot": _fixed("error", "the guest's boot chain is checked otherwise than its image "
                                   "asks: unsigned boot loaders fail, or the check it relies on "
                                   "is not made"),
    "disk": _fixed("error", "the guest's disks are not the ones its record gives: data or the "
                            "config drive is missing or foreign"),
    "disk-bus": lambda key, have, want: ("error", (
        "the guest needs a driver for the bus it boots from: a Windows guest without it stops "
        "with INACCESSIBLE_BOOT_DEVICE, others run on a slower emulated bus")
        if key.startswith("root disk") else
        "the guest needs a driver for this bus: without it the disk is not there"),
    "disk-format": _fixed("error", "the disk is read in another format than it is written in: "
                                   "the guest sees garbage or corrupts it"),
    "scsi-model": _fixed("error", "the guest needs a driver for its SCSI controller: without it "
                                  "it cannot see its disks"),
    "nic-model": _fixed("warning", "the guest needs a driver for its NIC model: without it it "
                                   "has no network; with an emulated model it is slower"),
    "tpm": _fixed("error", "BitLocker and Windows 11 keep their keys in the TPM: without the "
                           "right one the guest cannot unseal them or refuses to boot"),
    "guest-agent": _fixed("warning", "kumo cannot reach the guest agent: no guest clock "
                                     "reading, no password setting, no quiesced snapshots"),
    "cpu": _fixed("warning", "the guest sees other CPU features than its record gives: it may "
                             "not migrate, or may use instructions another host lacks"),
    "cpu-topology": _fixed("warning", "the guest sees another CPU topology: Windows licences "
                                      "count sockets and may use fewer vCPUs"),
    "size": _fixed("error", "the guest runs with another size than its flavor: the host's "
                            "accounting of its capacity is wrong"),
    "feature": _fixed("warning", "the guest sees other platform features than its record "
                                 "gives (ACPI, APIC, SMM...): power buttons, interrupts or "
                                 "Secure Boot may not work"),
    "device": _fixed("info", "the guest has other devices than its record gives"),
}


def compare(want: Domain, have: Domain, *, caps: HostCapabilities | None = None,
            running: bool = False, want_facets: Facets | None = None) -> list[Difference]:
    """Each facet that differs between ``want`` (kumo's rules) and ``have`` (the host's copy,
    ``running``: its live XML), in facet order; ``want_facets`` are ``facets(want, caps)``
    computed once by a caller comparing many domains against one."""
    wanted = want_facets if want_facets is not None else facets(want, caps)
    return compare_facets(wanted, facets(have, caps), running=running)


def compare_facets(wanted: Facets, got: Facets, *, running: bool = False) -> list[Difference]:
    out = []
    for key in list(wanted) + [k for k in got if k not in wanted]:
        facet, want_value = wanted.get(key, (None, None))
        got_facet, have_value = got.get(key, (None, None))
        facet = facet or got_facet
        if facet.only_if_wanted and want_value is None:
            continue
        if key == "cpu mode" and running and want_value == "host-model" \
                and have_value == "custom":
            continue  # libvirt expands a running host-model CPU (module docstring)
        if have_value == want_value:
            continue
        severity, consequence = CONSEQUENCES[facet.id](key, have_value, want_value)
        out.append(Difference(facet.id, facet.element, have_value, want_value, severity,
                              consequence))
    return out
