"""What the image needs from the hypervisor that is a scheduling constraint rather than a guest
rule: vm_mode and ``hypervisor_version_requires`` (``ImageProperties``), read from the request's
resolved facts (kumo.guest.facts). Architecture, hypervisor type, machine type, firmware, Secure
Boot and TPM are the guest policy's to decide (the GuestPolicy filter), so the scheduler and the
policy cannot disagree about them.

Deviation from Nova's ImagePropertiesFilter, on purpose: a host that does not report its
hypervisor version fails an image with ``hypervisor_version_requires`` (Nova lets it pass), because
the point of the property (seed 004: '>=6.3' for Hyper-V generation 2) is to keep the image off
hosts that cannot run it.
"""

from __future__ import annotations

from typing import Hashable

from kumo.catalog.schema import parse_version_spec
from kumo.scheduler.model import HostView, RequestSpec, failed_clause, version_str
from kumo.scheduler.plugins import (DecisionContext, FilterResult, StaticFilter,
                                    register_filter)
from kumo.scheduler.reasons import PropertyMismatch, Reason, VersionMismatch


def _version_reason(prop: str, spec: str, host: HostView) -> VersionMismatch | None:
    version = host.hypervisor_version
    if version is None:
        return VersionMismatch(prop, spec, "unknown", host.hypervisor_display)
    if failed_clause(version, parse_version_spec(spec)) is None:
        return None
    return VersionMismatch(prop, spec, version_str(version), host.hypervisor_display)


@register_filter
class ImageProperties(StaticFilter):
    """vm_mode and hypervisor_version_requires (operators >=, >, <=, <, == and comma-joined
    ranges such as '>=6.3,<10.0')."""

    NAME = "ImageProperties"
    KIND_ONLY = True  # hypervisor, capabilities, aggregates

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        facts = request.facts
        reasons: list[Reason] = []
        mode = facts.vm_mode
        if mode is not None and mode not in host.vm_modes:
            reasons.append(PropertyMismatch("vm_mode", mode, ",".join(host.vm_modes)))
        spec = facts.hypervisor_version_requires
        if spec is not None:
            bad = _version_reason("hypervisor_version_requires", spec, host)
            if bad is not None:
                reasons.append(bad)
        return self.result(reasons)

    def host_key(self, host: HostView) -> Hashable:
        return (host.vm_modes, host.hypervisor_type, host.hypervisor_version)

    def request_key(self, request: RequestSpec) -> Hashable:
        return (request.facts.vm_mode, request.facts.hypervisor_version_requires)
