"""Structured reasons a filter gives for rejecting a host (conventions #5, #6).

Every reason is a frozen dataclass whose fields are the facts (resource, requested, used,
capacity; property, required, host value) and whose ``str()`` is the sentence an operator reads.
Reasons group into the one-line summary a failed placement carries, Kubernetes FitError style:

    0/12 hosts: 7 insufficient RAM (requested 8192 MiB, largest free 4096 MiB), 5 Hyper-V version 6.2 < 6.3

``summary_key()`` says which reasons count together and ``summary_text()`` renders one group.
A host is counted once, under the first reason of the first filter (in configured order) that
rejected it, so the counts add up to the hosts that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Hashable, Iterable, Sequence

from kumo.catalog.schema import parse_version_spec
from kumo.scheduler.model import NEGATED, failed_clause, version_str


class Reason:
    """Base of all rejection reasons."""

    def summary_key(self) -> Hashable:
        return (type(self).__name__, str(self))

    @classmethod
    def summary_text(cls, group: Sequence[tuple["Reason", int]]) -> str:
        """One summary entry for ``group``: (reason, number of hosts) pairs sharing a key."""
        return str(group[0][0])


@dataclass(frozen=True)
class InsufficientResource(Reason):
    resource: str  # vCPU | RAM | disk
    requested: int
    used: int
    capacity: int
    unit: str  # vCPU | MiB | GiB
    ratio: float = 1.0
    limit: int = 0  # floor(capacity * ratio), the usable amount

    @property
    def free(self) -> int:
        return self.limit - self.used

    def __str__(self) -> str:
        u = self.unit
        over = f" = {self.capacity} {u} x {self.ratio:g}" if self.ratio != 1.0 else ""
        return (f"insufficient {self.resource} (requested {self.requested} {u}, free "
                f"{max(0, self.free)} {u}: used {self.used} of {self.limit} {u}{over})")

    def summary_key(self) -> Hashable:
        return ("InsufficientResource", self.resource, self.requested, self.unit)

    @classmethod
    def summary_text(cls, group: Sequence[tuple[Reason, int]]) -> str:
        first = group[0][0]
        assert isinstance(first, InsufficientResource)
        largest = max(0, max(r.free for r, _ in group))  # type: ignore[attr-defined]
        return (f"insufficient {first.resource} (requested {first.requested} {first.unit}, "
                f"largest free {largest} {first.unit})")


@dataclass(frozen=True)
class PropertyMismatch(Reason):
    """The image needs ``property=required``; the host offers ``host_value``."""

    property: str
    required: str
    host_value: str

    def __str__(self) -> str:
        return f"image needs {self.property}={self.required}, host has {self.host_value}"


@dataclass(frozen=True)
class VersionMismatch(PropertyMismatch):
    """A hypervisor version constraint (``required``, e.g. '>=6.3,<10.0') the host's version
    (``host_value``) does not meet; rendered as the failing relation: 'Hyper-V version 6.2 < 6.3'."""

    hypervisor: str = ""

    def __str__(self) -> str:
        if self.host_value == "unknown":
            return f"{self.hypervisor} version unknown, image needs {self.required}"
        version = tuple(int(x) for x in self.host_value.split("."))
        failed = failed_clause(version, parse_version_spec(self.required))
        if failed is None:  # not produced by the filters; keep str() total anyway
            return f"{self.hypervisor} version {self.host_value} vs {self.required}"
        op, wanted = failed
        return f"{self.hypervisor} version {self.host_value} {NEGATED[op]} {version_str(wanted)}"


@dataclass(frozen=True)
class PolicyRefusal(Reason):
    """An error finding of the guest policy on this host: the lint id (README, "Lint
    findings"), its message and its fix -- the same words ``kumo lint`` prints."""

    finding: str  # the lint id: secure-boot-unavailable, tpm-unavailable, ...
    message: str
    fix: str = field(default="", compare=False)  # advice, not part of the verdict

    def __str__(self) -> str:
        return f"{self.finding} ({self.message})"

    def summary_key(self) -> Hashable:
        return ("PolicyRefusal", self.finding, self.message)

    @classmethod
    def summary_text(cls, group: Sequence[tuple[Reason, int]]) -> str:
        return f"policy: {group[0][0]}"


@dataclass(frozen=True)
class HostDisabled(Reason):
    disabled_reason: str | None = None

    def __str__(self) -> str:
        return "host disabled" + (f" ({self.disabled_reason})" if self.disabled_reason else "")

    def summary_key(self) -> Hashable:
        return ("HostDisabled",)

    @classmethod
    def summary_text(cls, group: Sequence[tuple[Reason, int]]) -> str:
        return "host disabled"


@dataclass(frozen=True)
class ComputeDown(Reason):
    """The compute service is forced down, never reported, or its heartbeat is stale."""

    cause: str  # forced_down | never_reported | stale
    heartbeat_age_s: float | None = None
    service_down_time_s: float = 60.0

    TEXT: ClassVar[dict[str, str]] = {"forced_down": "compute forced down",
                                      "never_reported": "compute down (never reported)"}

    def __str__(self) -> str:
        if self.cause == "stale":
            return (f"compute down (last heartbeat {self.heartbeat_age_s:.0f} s ago, limit "
                    f"{self.service_down_time_s:g} s)")
        return self.TEXT[self.cause]

    def summary_key(self) -> Hashable:
        return ("ComputeDown", self.cause, self.service_down_time_s)

    @classmethod
    def summary_text(cls, group: Sequence[tuple[Reason, int]]) -> str:
        first = group[0][0]
        assert isinstance(first, ComputeDown)
        if first.cause == "stale":
            return f"compute down (no heartbeat for {first.service_down_time_s:g} s)"
        return cls.TEXT[first.cause]


@dataclass(frozen=True)
class AggregateIsolation(Reason):
    """Aggregate isolation by image property.

    rule "pinned":   the host's aggregates take only ``allowed`` values of ``property``
    rule "strict":   ... and (kumo_isolation=strict) not images that leave it unset
    rule "required": the image's value may only run in an aggregate pinned to it
    """

    property: str
    image_value: str | None
    rule: str
    aggregates: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    def __str__(self) -> str:
        p = self.property
        if self.rule == "required":
            return (f"{p}={self.image_value} runs only in an aggregate with {p}="
                    f"{self.image_value}; host is in none")
        where = f"aggregate {','.join(self.aggregates)} takes only {p} {','.join(self.allowed)}"
        if self.rule == "strict":
            return f"{where}, image sets no {p}"
        return f"{where}, image has {self.image_value}"


@dataclass(frozen=True)
class ZoneMismatch(Reason):
    requested: str
    host_zone: str

    def __str__(self) -> str:
        return f"host is in availability zone {self.host_zone}, not {self.requested}"

    def summary_key(self) -> Hashable:
        return ("ZoneMismatch", self.requested)

    @classmethod
    def summary_text(cls, group: Sequence[tuple[Reason, int]]) -> str:
        first = group[0][0]
        assert isinstance(first, ZoneMismatch)
        return f"not in availability zone {first.requested}"


@dataclass(frozen=True)
class GroupPolicyViolation(Reason):
    group: str
    policy: str  # affinity | anti-affinity
    members_on_host: int = 0
    max_per_host: int = 1
    member_hosts: tuple[str, ...] = ()  # affinity: where the members run

    def __str__(self) -> str:
        if self.policy == "anti-affinity":
            return (f"anti-affinity group {self.group}: host already runs "
                    f"{self.members_on_host} member(s) (max {self.max_per_host})")
        hosts = sorted(set(self.member_hosts))
        shown = ", ".join(hosts[:3]) + (f" and {len(hosts) - 3} more" if len(hosts) > 3 else "")
        return f"affinity group {self.group}: members run on {shown}, not here"

    def summary_key(self) -> Hashable:
        return ("GroupPolicyViolation", self.group, self.policy)

    @classmethod
    def summary_text(cls, group: Sequence[tuple[Reason, int]]) -> str:
        first = group[0][0]
        assert isinstance(first, GroupPolicyViolation)
        return f"would break {first.policy} of server group {first.group}"


def format_summary(passed: int, total: int, pairs: Iterable[tuple[Reason, int]]) -> str:
    """'0/12 hosts: 7 insufficient RAM (...), 5 Hyper-V version 6.2 < 6.3': groups ordered by
    host count (largest first), then by text."""
    groups: dict[Hashable, list[tuple[Reason, int]]] = {}
    for reason, count in pairs:
        groups.setdefault(reason.summary_key(), []).append((reason, count))
    entries = sorted(((sum(c for _, c in g), type(g[0][0]).summary_text(g))
                      for g in groups.values()), key=lambda e: (-e[0], e[1]))
    head = f"{passed}/{total} hosts"
    if not entries:
        return head
    return head + ": " + ", ".join(f"{count} {text}" for count, text in entries)
