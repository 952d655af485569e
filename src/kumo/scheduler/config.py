"""Scheduler configuration: which filters run (in order), weigher multipliers, plugin options.

    SchedulerConfig(
        filters=("HostEnabled", "ComputeUp", "VCPU", "RAM", "Disk", ...),   # order = report order
        weighers={"FreeRAM": 1.0, "FreeVCPU": 1.0, "LikeImages": -1.0},     # name -> multiplier
        options={"ComputeUp": {"service_down_time": 60},
                 "AggregateImageIsolation": {"required": {"os_type": ["windows"]}},
                 "LikeImages": {"properties": {"os_type": 1.0}}},
    )

Names are the plugins' stable NAMEs (``kumo.scheduler.plugins.FILTERS`` / ``WEIGHERS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import kumo.scheduler.filters  # noqa: F401  (registers the built-in filters)
import kumo.scheduler.weighers  # noqa: F401  (registers the built-in weighers)
from kumo.errors import InvalidInput
from kumo.scheduler.plugins import FILTERS, WEIGHERS, Filter, Weigher

DEFAULT_FILTERS = ("HostEnabled", "ComputeUp", "AvailabilityZone", "VCPU", "RAM", "Disk",
                   "ImageProperties", "AggregateImageIsolation", "GuestPolicy", "ServerGroup")
#: filters that were replaced, and by what (a config naming one gets this, not "unknown")
RETIRED_FILTERS = {
    "MachineFirmware": "use GuestPolicy, which checks machine type, firmware, Secure Boot and "
                       "TPM with the guest policy's own rules (kumo lint's ids)",
}
#: every built-in weigher at its default multiplier (LikeImages is 0: off until configured)
DEFAULT_WEIGHERS = {name: cls.DEFAULT_MULTIPLIER for name, cls in WEIGHERS.items()}


@dataclass(frozen=True)
class SchedulerConfig:
    filters: tuple[str, ...] = DEFAULT_FILTERS
    weighers: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHERS))
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: decide-and-claim rounds one instance may take when other schedulers win the race
    max_claim_attempts: int = 50
    #: before giving up, re-read every host's usage from the claim store and try once more
    refresh_on_failure: bool = True
    #: next-best hosts kept per instance for create to try when the chosen host fails at
    #: define/start (Nova's [scheduler]max_attempts - 1; 0 turns rescheduling off)
    alternates: int = 2
    #: choose at random among this many best-weighed hosts (Nova's
    #: [filter_scheduler]host_subset_size). 1, the default, always takes the best, as explain
    #: shows it. Several controllers sharing one database decide alike from alike data: with 1
    #: their claims queue on the best host's row lock, one commit after the other; Nova's
    #: documentation advises a larger subset for several schedulers for the same reason
    host_subset_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(self.filters))
        object.__setattr__(self, "weighers", MappingProxyType(dict(self.weighers)))
        object.__setattr__(self, "options", MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in self.options.items()}))
        problems = []
        for name in self.filters:
            if name in RETIRED_FILTERS:
                problems.append(f"filter {name!r} no longer exists: {RETIRED_FILTERS[name]}")
            elif name not in FILTERS:
                problems.append(f"unknown filter {name!r}: allowed {', '.join(sorted(FILTERS))}")
        if len(set(self.filters)) != len(self.filters):
            problems.append("a filter is listed twice")
        for name, mult in self.weighers.items():
            if name not in WEIGHERS:
                problems.append(f"unknown weigher {name!r}: allowed {', '.join(sorted(WEIGHERS))}")
            elif not isinstance(mult, (int, float)) or not math.isfinite(mult):
                problems.append(f"weigher {name} multiplier={mult!r} is invalid: allowed a "
                                "finite number")
        for name in self.options:
            if name not in FILTERS and name not in WEIGHERS:
                problems.append(f"options for unknown plugin {name!r}")
        if not isinstance(self.alternates, int) or isinstance(self.alternates, bool) \
                or self.alternates < 0:
            problems.append(f"alternates={self.alternates!r} is invalid: allowed an integer "
                            ">= 0")
        if not isinstance(self.host_subset_size, int) or isinstance(self.host_subset_size, bool) \
                or self.host_subset_size < 1:
            problems.append(f"host_subset_size={self.host_subset_size!r} is invalid: allowed an "
                            "integer >= 1")
        if problems:
            raise InvalidInput("scheduler configuration: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "SchedulerConfig":
        """From a parsed config file section (e.g. TOML ``[scheduler]``)."""
        known = {"filters", "weighers", "options", "max_claim_attempts", "refresh_on_failure",
                 "alternates", "host_subset_size"}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"scheduler configuration: unknown key(s) "
                               f"{', '.join(sorted(unknown))}; allowed {', '.join(sorted(known))}")
        return cls(**dict(data))

    def build_filters(self) -> list[Filter]:
        return [FILTERS[name](**self.options.get(name, {})) for name in self.filters]

    def build_weighers(self) -> list[tuple[Weigher, float]]:
        """(weigher, configured multiplier) in configuration order."""
        return [(WEIGHERS[name](**self.options.get(name, {})), float(mult))
                for name, mult in self.weighers.items()]
