"""Why each host was or was not chosen: a row per host and the summary line.

Built from the per-host (reference) plugins on the hosts as they stand, so every filter runs on
every host and a row lists all of its reasons, not only the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from kumo.scheduler.model import HostView, RequestSpec
from kumo.scheduler.plugins import DecisionContext, Filter, FilterResult, Weigher
from kumo.scheduler.reference import WeightDetail, best, summary, weigh


@dataclass(frozen=True)
class HostRow:
    host: str
    passed: bool
    #: every filter that rejected the host, in configured order
    failed: tuple[FilterResult, ...] = ()
    weights: tuple[WeightDetail, ...] = ()
    total: float | None = None

    def details(self) -> str:
        if not self.passed:
            return "; ".join(f"{r.plugin}: {reason}" for r in self.failed for reason in r.reasons)
        return ", ".join(f"{w.weigher} {w.normalised:.3f}x{w.multiplier:g}" for w in self.weights)


@dataclass(frozen=True)
class Explanation:
    rows: tuple[HostRow, ...]
    summary: str
    chosen: str | None

    def table(self) -> str:
        head = ("HOST", "RESULT", "WEIGHT", "REASONS / WEIGHTS")
        body = [(r.host, ("chosen" if r.host == self.chosen else "pass") if r.passed else "FAIL",
                 f"{r.total:.4f}" if r.total is not None else "-", r.details()) for r in self.rows]
        widths = [max(len(x[c]) for x in [head, *body]) for c in range(3)]
        lines = ["  ".join(x[c].ljust(widths[c]) for c in range(3)) + "  " + x[3]
                 for x in [head, *body]]
        return "\n".join(lines + ["", self.summary])

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "chosen": self.chosen,
            "hosts": [{
                "host": r.host, "passed": r.passed, "total": r.total,
                "failed": [{"plugin": f.plugin,
                            "reasons": [{"type": type(x).__name__, "text": str(x),
                                         **vars(x)} for x in f.reasons]} for f in r.failed],
                "weights": [vars(w) for w in r.weights],
            } for r in self.rows],
        }


def explain(filters: Sequence[Filter], weighers: Sequence[tuple[Weigher, float]],
            hosts: Sequence[HostView], request: RequestSpec, ctx: DecisionContext) -> Explanation:
    evaluated = []
    for h in hosts:
        failed = tuple(r for r in (f.evaluate(h, request, ctx) for f in filters) if not r.passed)
        evaluated.append((h, failed))
    cands = [h for h, failed in evaluated if not failed]
    scored = dict(zip((h.name for h in cands), weigh(weighers, cands, request)))
    chosen = cands[best(cands, [scored[h.name][0] for h in cands])].name if cands else None
    rows = []
    for h, failed in evaluated:
        if failed:
            rows.append(HostRow(h.name, False, failed))
        else:
            total, details = scored[h.name]
            rows.append(HostRow(h.name, True, (), details, total))
    rows.sort(key=lambda r: (not r.passed, -(r.total or 0.0) if r.passed else 0.0, r.host))
    return Explanation(tuple(rows), summary(filters, hosts, request, ctx), chosen)
