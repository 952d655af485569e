"""Rules: Hyper-V enlightenments (paravirtual interfaces Windows knows from Hyper-V) for Windows
guests on KVM/QEMU.

Seed 000 (CERN): Windows 7 / 2008 R2 guests blue-screened with CLOCK_WATCHDOG_TIMEOUT (101)
under host load; the cure is telling Windows it runs on a Hyper-V-compatible hypervisor so it
relaxes its watchdogs and uses paravirtual interfaces (Red Hat KB; QEMU docs/system/i386/
hyperv.rst describes each flag).

- relaxed, vapic, spinlocks retries=8191 are always on for Windows (what Nova sets).
- vpindex, runtime, synic, stimer, reset, frequencies, tlbflush, ipi are added where the host's
  domain capabilities offer them (libvirt formatdomaincaps "hyperv"), respecting QEMU's
  dependencies: synic, tlbflush and ipi need vpindex; stimer needs synic and the Hyper-V clock.
- evmcs (enlightened VMCS) only helps a guest that itself runs Hyper-V, needs Intel VMX passed
  through, and is never valid on AMD hosts: kumo enables it only on Intel hosts offering it whose
  guests get host-passthrough CPUs, and only for releases whose Hyper-V can use it: enlightened
  VMCS is part of the nested-virtualization interface of Microsoft's Hypervisor Top-Level
  Functional Specification (v5.0, "Nested Virtualization"), which Hyper-V implements from Windows
  10 / Server 2016 (NT 10.0) on; older releases never read it (QEMU docs/system/i386/hyperv.rst,
  ``hv-evmcs``: "only relevant for Hyper-V running in a nested guest").
- img_hide_hypervisor_id also replaces the Hyper-V vendor id ("Microsoft Hv") that the
  enlightenments make Windows see, as Nova does (nova/virt/libvirt/driver.py ``_set_features``:
  ``hv.vendorid_spoof = True`` when hide_hypervisor_id, with the vendor id "1234567890ab" of
  nova/virt/libvirt/config.py): the NVIDIA driver checks for it and refuses to load in a VM.
- reenlightenment is never enabled: it breaks live migration between hosts of different TSC
  frequency.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context
from kumo.guest.spec import HypervFeature

ALWAYS = ("relaxed", "vapic", "spinlocks")
#: feature -> features it needs (QEMU docs/system/i386/hyperv.rst)
WHERE_OFFERED = {
    "vpindex": (),
    "runtime": (),
    "synic": ("vpindex",),
    "stimer": ("synic", "hypervclock"),
    "reset": (),
    "frequencies": (),
    "tlbflush": ("vpindex",),
    "ipi": ("vpindex",),
}
SPINLOCK_RETRIES = 8191
#: the vendor id a hidden hypervisor shows Windows (Nova's LibvirtConfigGuestFeatureHyperV)
SPOOFED_VENDOR_ID = "1234567890ab"
#: the first NT version whose Hyper-V runs nested with enlightened VMCS (Windows 10 / 2016)
EVMCS_MIN_NT = (10, 0)


def _nt(version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in (version or "").split("."))
    except ValueError:
        return ()


def decide_hyperv(c: Context) -> tuple[HypervFeature, ...]:
    if not (c.windows and c.hypervisor in ("kvm", "qemu")):
        return ()
    d, host = c.d, c.req.host
    offered = set(host.hyperv_features or ())
    chosen: list[HypervFeature] = []
    have: set[str] = set()
    if any(t.name == "hypervclock" for t in c.chosen["clock"].timers):
        have.add("hypervclock")
    for name in ALWAYS:
        retries = SPINLOCK_RETRIES if name == "spinlocks" else None
        chosen.append(HypervFeature(name, retries))
        have.add(name)
        d.decide(f"hyperv.{name}", "on" if retries is None else f"on retries={retries}",
                 "hyperv.windows-base", "os_type", "windows",
                 "Windows guests always get relaxed timing, the virtual APIC and spinlock "
                 "notification: without them Windows blue-screens with CLOCK_WATCHDOG_TIMEOUT "
                 "(101) when the host is loaded")
    for name, needs in WHERE_OFFERED.items():
        if name not in offered:
            d.decide(f"hyperv.{name}", "off", "hyperv.not-offered", "host",
                     "hyperv features: " + (",".join(sorted(offered)) or "none reported"),
                     f"the host's domain capabilities do not offer {name}")
            continue
        missing = [n for n in needs if n not in have]
        if missing:
            d.decide(f"hyperv.{name}", "off", "hyperv.dependency", "host",
                     ",".join(missing), f"{name} needs {' and '.join(missing)}, which this "
                     "guest does not have")
            continue
        chosen.append(HypervFeature(name))
        have.add(name)
        d.decide(f"hyperv.{name}", "on", "hyperv.where-offered", "host", name,
                 f"the host offers {name}; it lowers Windows' virtualisation overhead")
    cpu_mode = c.chosen["cpu"].mode
    release_ok = c.os.release_known and _nt(c.os.version) >= EVMCS_MIN_NT
    if "evmcs" in offered and not release_ok:
        d.decide("hyperv.evmcs", "off", "hyperv.evmcs-release", "os", c.os.name,
                 f"enlightened VMCS: {c.os.name} cannot use it (Hyper-V reads it only from "
                 "Windows 10 / Server 2016 on)")
    elif "evmcs" in offered and (host.cpu_vendor or "").lower() == "intel" \
            and cpu_mode == "host-passthrough":
        chosen.append(HypervFeature("evmcs"))
        d.decide("hyperv.evmcs", "on", "hyperv.evmcs-intel", "host", host.cpu_vendor,
                 "Intel host with a host-passthrough CPU: enlightened VMCS speeds up Hyper-V "
                 "running inside the guest")
    else:
        why = ("never on AMD hosts" if (host.cpu_vendor or "").lower() == "amd" else
               "only for Intel hosts offering it with a host-passthrough guest CPU "
               f"(this guest's CPU mode is {cpu_mode})")
        d.decide("hyperv.evmcs", "off", "hyperv.evmcs-intel", "host", host.cpu_vendor,
                 f"enlightened VMCS: {why}")
    if c.props.get("img_hide_hypervisor_id"):
        name, given = c.prop("img_hide_hypervisor_id")
        chosen.append(HypervFeature("vendor_id", value=SPOOFED_VENDOR_ID))
        d.decide("hyperv.vendor_id", SPOOFED_VENDOR_ID, "hyperv.hide-vendor-id", name, given,
                 "the hypervisor is hidden, so Windows also sees a neutral Hyper-V vendor id "
                 "(the NVIDIA driver refuses to load when it reads 'Microsoft Hv'; as Nova)")
    d.decide("hyperv.reenlightenment", "off", "hyperv.never-reenlightenment", "default", None,
             "reenlightenment is never enabled: it breaks live migration")
    return tuple(chosen)
