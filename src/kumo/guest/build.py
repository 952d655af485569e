"""build_guest: the one way a guest's configuration is made.

Render, explain, lint, create, hard reboot, reconcile and evacuate all call ``plan_guest`` /
``build_guest`` with a GuestRequest built from the stored instance record, so there is exactly
one path from image metadata to a GuestSpec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kumo.catalog.flavor import effective_properties
from kumo.errors import UnsupportedGuest
from kumo.guest.decider import Decider, Finding
from kumo.guest.policy import (
    credentials,
    hyperv,
    identity,
    kvm,
    memory,
    pinning,
    requirements,
    storage,
    xen,
)
from kumo.guest.policy.context import Context
from kumo.guest.request import GuestRequest
from kumo.guest.spec import BootSpec, GuestSpec
from kumo.guest.facts import os_identity


@dataclass(frozen=True)
class GuestPlan:
    """A policy run's result: the spec (None when an error made it impossible) and findings."""

    spec: GuestSpec | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")


#: hypervisor -> the platform rules that decide its guests' hardware
PLATFORMS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "kvm": kvm.decide,
    "qemu": kvm.decide,
    "xen": xen.decide,
    "hyperv": hyperv.decide,
}


def plan_guest(req: GuestRequest, *, explain: bool = True) -> GuestPlan:
    """Run every rule; never raises for a bad request, reports it as findings instead.
    ``explain=False``: the spec carries no decisions (why each field has its value) -- the
    same spec and findings, about a quarter cheaper; what the scheduler's filter runs."""
    props = effective_properties(req.image, req.flavor)
    os = os_identity(props.get("os_distro"), props.get("os_version"), props.get("os_type"))
    c = Context(req=req, props=props, os=os, d=Decider(record=explain))
    identity.check_hypervisor_type(c)
    c.chosen["os_type"] = identity.decide_os_type(c)
    identity.decide_release_known(c)
    arch = identity.decide_arch(c)
    _check_minimums(c)
    requirements.check_os_requirements(c, arch)
    # what no hypervisor kumo drives gives a guest (placement does not count it)
    memory.check_memory(c)
    pinning.check_pinning(c)
    storage.check_container_format(c)
    platform_rules = PLATFORMS.get(req.host.hypervisor)
    if platform_rules is None:
        c.d.error("hypervisor-unsupported", f"no guest policy for hypervisor "
                  f"{req.host.hypervisor!r}; allowed {', '.join(PLATFORMS)}",
                  f"use --hypervisor {' or '.join(PLATFORMS)}")
        return GuestPlan(None, tuple(c.d.findings))
    fields = platform_rules(c)
    fields.setdefault("credentials", credentials.decide_credentials(c))
    boot = _boot(c)
    if c.d.errors:
        return GuestPlan(None, tuple(c.d.findings))
    fields.setdefault("boot", boot)
    spec = GuestSpec(
        name=req.name, uuid=req.instance_uuid, hypervisor=req.host.hypervisor, arch=arch,
        os_type=c.chosen["os_type"], os_id=os.short_id, memory_mib=req.flavor.ram_mib,
        console_log=req.console_log, mark=req.mark, decisions=tuple(c.d.decisions), **fields)
    return GuestPlan(spec, tuple(c.d.findings))


def build_guest(req: GuestRequest) -> GuestSpec:
    """The GuestSpec for ``req``; UnsupportedGuest naming every error when it is impossible."""
    plan = plan_guest(req)
    if plan.spec is None:
        raise UnsupportedGuest("; ".join(f"{f.message} (fix: {f.fix})" for f in plan.errors))
    return plan.spec


def _check_minimums(c: Context) -> None:
    """Glance min_ram/min_disk against the flavor (Nova refuses such a boot too)."""
    f = c.req.flavor
    for prop, have, unit in (("min_ram", f.ram_mib, "MiB RAM"), ("min_disk", f.disk_gib,
                                                                   "GiB disk")):
        need = c.props.get(prop)
        if need and have and have < need:
            c.d.error(f"flavor-below-{prop.replace('_', '-')}",
                      f"flavor {f.name!r} has {have} {unit}; the image's {prop} is {need}",
                      f"use a flavor with at least {need} {unit}")


def _boot(c: Context) -> BootSpec:
    req = c.req
    if not req.kernel:
        return BootSpec()
    cmdline = c.props.get("os_command_line")
    if cmdline:
        name, given = c.prop("os_command_line")
        c.d.decide("boot.cmdline", cmdline, "boot.cmdline-explicit", name, given,
                   "os_command_line is set on the image")
    c.d.decide("boot.kernel", req.kernel, "boot.direct-kernel", "kernel_id",
               c.props.get("kernel_id"), "the image boots a kernel directly")
    return BootSpec(kernel=req.kernel, initrd=req.initrd, cmdline=cmdline)
