"""An instance's domain configuration: what kumo's rules give it today, and what its host has.

    desired(env, instance, host)   the configuration made from the instance record alone
                                   (kumo.compute.instance_request: frozen properties plus audited
                                   overrides, flavor snapshot, the host's recorded capabilities,
                                   the machine pinned at create) by today's rules and backend.
                                   Create, hard reboot, rebuild and recovery define exactly this
                                   (kumo.compute.spawn.define_and_start); audit compares against
                                   it and reconcile shows its diff and defines it: one answer.
    live(conn, uuid, inactive=...) the domain XML read back from the host and parsed with the
                                   renderer's own mapping (kumo.backends.libvirt_xml), so the two
                                   compare element by element; ``inactive`` reads the defined
                                   configuration the next start uses, else the running one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kumo.backends import get_backend
from kumo.backends.base import LIBVIRT_DOMAIN_XML
from kumo.backends.libvirt_xml import Domain
from kumo.compute import naming
from kumo.compute.env import ComputeEnv
from kumo.compute.instance_request import guest_request
from kumo.db.models import Host, Instance
from kumo.errors import UnsupportedGuest
from kumo.guest.build import build_guest
from kumo.hosts.protocol import HostConnection


@dataclass(frozen=True)
class DesiredConfig:
    """The native configuration kumo's rules give an instance today."""

    #: the document kumo defines (libvirt domain XML, or the Hyper-V VM description)
    text: str
    #: its sha256 hex (stored as the instance's config_digest when defined)
    digest: str
    #: the backend that rendered it ("kvm", "xen", "hyperv")
    backend: str
    media_type: str

    def domain(self) -> Domain:
        """The libvirt document as the mapper's objects (not for a Hyper-V description)."""
        if self.media_type != LIBVIRT_DOMAIN_XML:
            raise UnsupportedGuest(f"a {self.backend} configuration is not a libvirt domain")
        return Domain.from_xml(self.text)  # type: ignore[return-value]


def desired(env: ComputeEnv, instance: Instance, host: Host) -> DesiredConfig:
    """The configuration the instance's record gives on ``host`` by today's rules (see the
    module docstring); what a hard reboot defines."""
    spec = build_guest(guest_request(env, instance, host))
    rendered = get_backend(spec.hypervisor).render(spec)
    return DesiredConfig(rendered.text, hashlib.sha256(rendered.text.encode()).hexdigest(),
                         rendered.backend, rendered.media_type)


def live(conn: HostConnection, uuid: str, *, inactive: bool = False) -> Domain:
    """The instance's domain as its host has it (DomainNotFound when it is gone), parsed with
    the renderer's mapping."""
    return Domain.from_xml(conn.domain_xml(naming.domain_name(uuid),  # type: ignore[return-value]
                                           inactive=inactive))
