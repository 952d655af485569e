"""Xen backend: GuestSpec -> libvirt domain XML for the Xen (libxl) driver, and back.

    render(spec) -> str        the XML (pretty-printed, deterministic)
    to_domain(spec) -> Domain  the same as a ``kumo.backends.libvirt_xml.Domain``
    parse(xml) -> Domain       kumo's XML or libvirt's dumpxml (unmodelled content ignored)
"""

from __future__ import annotations

from typing import ClassVar

from kumo.backends.base import LIBVIRT_DOMAIN_XML, Backend, RenderedConfig
from kumo.backends.libvirt_xml import Domain
from kumo.backends.xen.render import parse, render, to_domain
from kumo.guest.spec import GuestSpec


class XenBackend(Backend):
    name: ClassVar[str] = "xen"
    hypervisors: ClassVar[tuple[str, ...]] = ("xen",)

    def render(self, spec: GuestSpec) -> RenderedConfig:
        return RenderedConfig(text=render(spec), media_type=LIBVIRT_DOMAIN_XML, backend=self.name,
                              hypervisor=spec.hypervisor, guest_name=spec.name)

    def parse(self, xml: str | bytes) -> Domain:
        return parse(xml)


__all__ = ["XenBackend", "parse", "render", "to_domain"]
