"""What the image needs from the hypervisor: architecture, hypervisor type, vm_mode, version
(``ImageProperties``), and the machine type and firmware the host can give (``MachineFirmware``).

Deviation from Nova's ImagePropertiesFilter, on purpose: a host that does not report its
hypervisor version fails an image with ``hypervisor_version_requires`` (Nova lets it pass), because
the point of the property (seed 004: '>=6.3' for Hyper-V generation 2) is to keep the image off
hosts that cannot run it.
"""

from __future__ import annotations

import re
from typing import Hashable

from kumo.catalog.schema import parse_version_spec
from kumo.scheduler.model import (HYPERV_GEN2_MIN_VERSION, HostView, RequestSpec, failed_clause,
                                  version_at_least, version_str)
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
    """architecture, hypervisor_type, vm_mode and hypervisor_version_requires (operators >=, >,
    <=, <, == and comma-joined ranges such as '>=6.3,<10.0')."""

    NAME = "ImageProperties"

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        img = request.image
        reasons: list[Reason] = []
        arch = img.get("architecture")
        if arch is not None and arch != host.arch:
            reasons.append(PropertyMismatch("architecture", arch, host.arch))
        hv = img.get("hypervisor_type")
        if hv is not None and hv not in host.hypervisor_types:
            reasons.append(PropertyMismatch("hypervisor_type", hv, host.hypervisor_type))
        mode = img.get("vm_mode")
        if mode is not None and mode not in host.vm_modes:
            reasons.append(PropertyMismatch("vm_mode", mode, ",".join(host.vm_modes)))
        spec = img.get("hypervisor_version_requires")
        if spec is not None:
            bad = _version_reason("hypervisor_version_requires", spec, host)
            if bad is not None:
                reasons.append(bad)
        return self.result(reasons)

    def host_key(self, host: HostView) -> Hashable:
        return (host.arch, host.hypervisor_type, host.hypervisor_types, host.vm_modes,
                host.hypervisor_version)

    def request_key(self, request: RequestSpec) -> Hashable:
        img = request.image
        return (img.get("architecture"), img.get("hypervisor_type"), img.get("vm_mode"),
                img.get("hypervisor_version_requires"))


_VERSIONED = re.compile(r"^(pc-i440fx|pc-q35|virt)-[0-9].*$")


def machine_family(machine_type: str) -> str:
    """'pc-q35-7.2' -> 'q35', 'pc-i440fx-7.2' -> 'pc', 'virt-8.0' -> 'virt'; others unchanged."""
    m = _VERSIONED.match(machine_type)
    if not m:
        return machine_type
    return {"pc-i440fx": "pc", "pc-q35": "q35"}.get(m.group(1), m.group(1))


@register_filter
class MachineFirmware(StaticFilter):
    """hw_machine_type (hyperv-gen2 needs Hyper-V >= 6.3), hw_firmware_type=uefi,
    os_secure_boot=required and hw_tpm_version, against what the host's domain capabilities
    offer (https://libvirt.org/formatdomaincaps.html: os/loader, firmware, devices/tpm)."""

    NAME = "MachineFirmware"

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        img = request.image
        reasons: list[Reason] = []
        machine = img.get("hw_machine_type")
        if machine is not None:
            family = machine_family(machine)
            if (family == "hyperv-gen2" and host.hypervisor_type == "hyperv"
                    and not version_at_least(host.hypervisor_version, HYPERV_GEN2_MIN_VERSION)):
                # Generation 2 VMs need Windows Server 2012 R2 (NT 6.3) or later (seed 004)
                reasons.append(_version_reason(
                    "hw_machine_type", ">=" + version_str(HYPERV_GEN2_MIN_VERSION), host))
            elif family not in host.machines:
                reasons.append(PropertyMismatch("hw_machine_type", machine,
                                                ",".join(host.machines)))
        if img.get("hw_firmware_type") == "uefi" and "efi" not in host.firmware:
            reasons.append(PropertyMismatch("hw_firmware_type", "uefi", ",".join(host.firmware)))
        if img.get("os_secure_boot") == "required" and not host.secure_boot:
            reasons.append(PropertyMismatch("os_secure_boot", "required", "no Secure Boot"))
        tpm = img.get("hw_tpm_version")
        if tpm is not None and tpm not in host.tpm_versions:
            reasons.append(PropertyMismatch("hw_tpm_version", tpm,
                                            ",".join(host.tpm_versions) or "no TPM"))
        return self.result(reasons)

    def host_key(self, host: HostView) -> Hashable:
        return (host.hypervisor_type, host.hypervisor_version, host.machines, host.firmware,
                host.secure_boot, host.tpm_versions)

    def request_key(self, request: RequestSpec) -> Hashable:
        img = request.image
        return (img.get("hw_machine_type"), img.get("hw_firmware_type"),
                img.get("os_secure_boot"), img.get("hw_tpm_version"))
