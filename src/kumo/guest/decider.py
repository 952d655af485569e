"""The Decider: what policy rules write into while they run.

Rules record each decision (with rule id, source and reason) and each finding (an error that
makes the guest impossible, or a warning/info the operator should hear about). The same run
serves ``kumo render`` (errors abort), ``kumo explain`` (decisions) and ``kumo lint`` (findings),
so a rule and its lint live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kumo.guest.spec import Decision

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One lint finding. id is stable (documented in README), fix says what to change."""

    id: str
    severity: str  # error | warning | info
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity, "message": self.message,
                "fix": self.fix}


@dataclass
class Decider:
    decisions: list[Decision] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: False: decisions are not recorded (the scheduler's GuestPolicy filter needs only the
    #: findings; the rules, their values and findings are the same either way)
    record: bool = True

    def decide(self, field_name: str, value: Any, rule: str, source: str,
               source_value: Any, reason: str) -> Any:
        """Record why ``field_name`` is ``value``; returns value for inline use."""
        if self.record:
            self.decisions.append(Decision(field_name, value, rule, source, source_value,
                                           reason))
        return value

    def error(self, id: str, message: str, fix: str) -> None:
        self.findings.append(Finding(id, "error", message, fix))

    def warn(self, id: str, message: str, fix: str) -> None:
        self.findings.append(Finding(id, "warning", message, fix))

    def info(self, id: str, message: str, fix: str) -> None:
        self.findings.append(Finding(id, "info", message, fix))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]
