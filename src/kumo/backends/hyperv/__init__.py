"""Hyper-V backend: GuestSpec -> a Hyper-V VM description (JSON) and the PowerShell creating it.

    describe(spec) -> VmDescription   the VM as plain values; .to_json() / VmDescription.from_json
    render(spec) -> str               the PowerShell script (RenderedConfig.text)
    render_json(spec) -> str          the description as JSON

The RenderedConfig's text is the PowerShell, because that is what an operator reviews and what a
host runs; the JSON is the same VM as data (for storing, auditing and diffing) and round-trips
through ``parse``. Both are rendered from the one VmDescription, so they cannot disagree.
"""

from __future__ import annotations

from typing import ClassVar

from kumo.backends.base import Backend, RenderedConfig
from kumo.backends.hyperv import powershell
from kumo.backends.hyperv.model import VmDescription
from kumo.backends.hyperv.translate import describe
from kumo.guest.spec import GuestSpec

#: no registered media type exists for PowerShell; this is the conventional spelling
POWERSHELL = "text/x-powershell"
VM_DESCRIPTION_JSON = "application/json"


def render(spec: GuestSpec) -> str:
    return powershell.render(describe(spec))


def render_json(spec: GuestSpec) -> str:
    return describe(spec).to_json()


def parse(text: str | bytes) -> VmDescription:
    """A description written by ``render_json`` (InvalidInput when it is not one)."""
    return VmDescription.from_json(text)


class HypervBackend(Backend):
    name: ClassVar[str] = "hyperv"
    hypervisors: ClassVar[tuple[str, ...]] = ("hyperv",)

    def render(self, spec: GuestSpec) -> RenderedConfig:
        return RenderedConfig(text=render(spec), media_type=POWERSHELL, backend=self.name,
                              hypervisor=spec.hypervisor, guest_name=spec.name)

    def render_json(self, spec: GuestSpec) -> RenderedConfig:
        return RenderedConfig(text=render_json(spec), media_type=VM_DESCRIPTION_JSON,
                              backend=self.name, hypervisor=spec.hypervisor,
                              guest_name=spec.name)

    def describe(self, spec: GuestSpec) -> VmDescription:
        return describe(spec)

    def parse(self, text: str | bytes) -> VmDescription:
        return parse(text)


__all__ = ["HypervBackend", "VmDescription", "describe", "parse", "render", "render_json"]
