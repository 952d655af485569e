"""The state one policy run shares between its rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kumo.catalog.properties import ImageProperties
from kumo.guest.decider import Decider
from kumo.guest.request import GuestRequest
from kumo.osinfo.identity import OSIdentity


@dataclass
class Context:
    req: GuestRequest
    #: the image's properties with the flavor's extra specs applied
    props: ImageProperties
    os: OSIdentity
    d: Decider = field(default_factory=Decider)
    #: results of earlier rules that later rules read (os_type, machine, firmware, ...)
    chosen: dict[str, Any] = field(default_factory=dict)

    @property
    def hypervisor(self) -> str:
        return self.req.host.hypervisor

    @property
    def windows(self) -> bool:
        return self.chosen["os_type"] == "windows"

    def prop(self, name: str) -> tuple[str, Any]:
        """(name as written, value as written) of a set property, for a Decision's source."""
        return self.props.source(name)

    def drivers(self) -> frozenset[str]:
        """Drivers the guest has: the OS's inbox ones plus those the image declares."""
        return self.os.inbox_drivers | frozenset(self.props.get("kumo_guest_drivers", ()))

    def declared_drivers(self) -> tuple[str, ...] | None:
        """kumo_guest_drivers as declared, None when the image does not declare any."""
        return self.props.get("kumo_guest_drivers")

    def driver_source(self, driver: str) -> tuple[str, Any]:
        """Where knowledge of ``driver`` comes from, for a Decision."""
        if driver in self.os.inbox_drivers:
            return ("os", f"{self.os.name} ships {driver}")
        return self.prop("kumo_guest_drivers")
