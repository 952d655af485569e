"""The one small interface every hypervisor backend implements (conventions.md #1).

A backend translates a GuestSpec into the hypervisor's native configuration and makes no policy
decisions (conventions.md #2). It never opens a connection: applying the configuration is the
hosts layer's job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from kumo.guest.spec import GuestSpec

#: media type of a libvirt domain XML document
LIBVIRT_DOMAIN_XML = "application/xml"


@dataclass(frozen=True)
class RenderedConfig:
    """A guest's native configuration, ready for the hosts layer.

    text:       the document (libvirt domain XML, a Hyper-V VM description, ...)
    media_type: how to read ``text`` ("application/xml" for libvirt)
    backend:    the backend's stable name ("kvm")
    hypervisor: the GuestSpec's hypervisor it was rendered for ("kvm", "qemu", ...)
    guest_name: the guest's name inside the document
    """

    text: str
    media_type: str
    backend: str
    hypervisor: str
    guest_name: str


class Backend(ABC):
    """GuestSpec -> native configuration for one hypervisor family."""

    #: stable name, used in the registry and in messages
    name: ClassVar[str]
    #: GuestSpec.hypervisor values this backend renders
    hypervisors: ClassVar[tuple[str, ...]]

    @abstractmethod
    def render(self, spec: GuestSpec) -> RenderedConfig:
        """Translate ``spec``; raise ``kumo.errors.UnsupportedGuest`` for what it cannot express."""
