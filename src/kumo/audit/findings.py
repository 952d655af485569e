"""One audit finding: what differs, its consequence, how bad it is, what fixes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: severities, worst first; ``kumo audit`` exits 1 when any finding is an error
SEVERITIES = ("error", "warning", "info")
#: what a finding compares (the checks of kumo.audit)
KINDS = ("properties", "config", "record", "clock")


@dataclass(frozen=True)
class Finding:
    """``message`` is the difference and its consequence in plain words; ``fix`` the command
    that mends it. ``instance`` is None for a finding about a host (it did not answer)."""

    id: str
    severity: str
    kind: str
    message: str
    fix: str
    instance: str | None = None
    name: str | None = None
    host: str | None = None
    project: str | None = None

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES and self.kind in KINDS, self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def worst(findings: list[Finding]) -> str | None:
    """The worst severity among ``findings`` (None when there are none)."""
    seen = {f.severity for f in findings}
    return next((s for s in SEVERITIES if s in seen), None)


def order(f: Finding) -> tuple:
    """Worst first, then by host, instance name and id: a stable report."""
    return (SEVERITIES.index(f.severity), f.host or "", f.name or "", f.instance or "", f.kind,
            f.id, f.message)
