"""Rule: the CPU model of a guest under TCG (virt_type qemu), where no host CPU is passed through.

Without a model QEMU gives a TCG guest ``qemu64``, an x86-64 baseline CPU without SSE4.1/4.2 or
POPCNT. Current Windows refuses to boot on it: Windows 11 version 24H2 requires SSE4.2 and POPCNT
(Microsoft, "Windows 11 specifications and system requirements", processor), as does Windows
Server 2025 (Microsoft, "Hardware requirements for Windows Server": "supports SSE4.2 and POPCNT",
besides CMPXCHG16b, LAHF/SAHF and PrefetchW, which Windows 8.1 / Server 2012 R2 and later need
too). So Windows guests on TCG get QEMU's ``Nehalem`` model, the oldest named model with SSE4.2
and POPCNT, which TCG emulates in full (libvirt's domain capabilities for virt_type qemu list it
``usable='yes'``). Older Windows runs on it as well. Linux guests keep QEMU's default model, as
Nova does for virt_type qemu. A host-configured ``cpu_mode`` wins over this rule.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context

TCG_WINDOWS_MODEL = "Nehalem"


def decide_tcg_cpu(c: Context) -> tuple[str, str | None]:
    """(mode, model) for a guest on a qemu (TCG) host with no configured cpu_mode."""
    d = c.d
    if c.windows:
        d.decide("cpu.mode", "custom", "cpu.tcg-windows-model", "os", c.os.name,
                 f"under TCG QEMU's default qemu64 lacks SSE4.2 and POPCNT, which current "
                 f"Windows requires; {TCG_WINDOWS_MODEL} has them")
        d.decide("cpu.model", TCG_WINDOWS_MODEL, "cpu.tcg-windows-model", "os", c.os.name,
                 "the oldest QEMU CPU model with SSE4.2 and POPCNT; TCG emulates all of it")
        return "custom", TCG_WINDOWS_MODEL
    d.decide("cpu.mode", "none", "cpu.mode-default", "hypervisor", c.hypervisor,
             "under TCG QEMU's default CPU model is used (Nova's default for qemu)")
    return "none", None



def decide_pmu(c: Context) -> bool | None:
    """hw_pmu (Nova): the guest's virtual performance monitoring unit on or off
    (libvirt ``<features><pmu state=...>``); unset: the hypervisor's default."""
    if "hw_pmu" not in c.props:
        return None
    name, given = c.prop("hw_pmu")
    on = bool(c.props.get("hw_pmu"))
    return c.d.decide("pmu", on, "cpu.pmu-explicit", name, given,
                      "hw_pmu is set: the guest's virtual PMU is " + ("on" if on else "off (no "
                      "perf counters; saves the cost of emulating them)"))
