"""The straightforward scheduler: every plugin's per-host rule, host by host.

It is the definition the columnar engine must match exactly (the equivalence test runs both on
random fleets), and what ``explain`` uses to show each host's reasons and weights. It is about
three orders of magnitude slower than ``Scheduler`` at 10,000 hosts; do not serve requests with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from kumo.scheduler.claims import Claim, ClaimStore, Placement
from kumo.scheduler.config import SchedulerConfig
from kumo.scheduler.errors import NoValidHost
from kumo.scheduler.fleet import host_limits
from kumo.scheduler.model import HostView, RequestSpec, request_value, weight_multiplier
from kumo.scheduler.plugins import DecisionContext, Filter, FilterResult, Weigher
from kumo.scheduler.reasons import Reason, format_summary


def first_failure(filters: Sequence[Filter], host: HostView, request: RequestSpec,
                  ctx: DecisionContext) -> FilterResult | None:
    for f in filters:
        r = f.evaluate(host, request, ctx)
        if not r.passed:
            return r
    return None


def summary(filters: Sequence[Filter], hosts: Sequence[HostView], request: RequestSpec,
            ctx: DecisionContext) -> str:
    """The summary line: each rejected host counted under its first failing filter's first
    reason."""
    pairs: list[tuple[Reason, int]] = []
    passed = 0
    for h in hosts:
        r = first_failure(filters, h, request, ctx)
        if r is None:
            passed += 1
        else:
            pairs.append((r.reasons[0], 1))
    return format_summary(passed, len(hosts), pairs)


@dataclass(frozen=True)
class WeightDetail:
    weigher: str
    raw: float
    normalised: float
    multiplier: float
    contribution: float


def weigh(weighers: Sequence[tuple[Weigher, float]], hosts: Sequence[HostView],
          request: RequestSpec) -> list[tuple[float, tuple[WeightDetail, ...]]]:
    """(total, details) per candidate host: per weigher, min-max normalised over ``hosts``
    (0 for all when they score alike), times the host's multiplier, summed in weigher order.

    The contribution is computed as ``(raw - lo) * (multiplier / (hi - lo))`` -- equal to
    ``multiplier * (raw - lo) / (hi - lo)`` up to rounding, and the exact expression the columnar
    engine evaluates, so both give bit-identical totals."""
    totals = [0.0] * len(hosts)
    details: list[list[WeightDetail]] = [[] for _ in hosts]
    for w, default in weighers:
        raws = [w.raw(h, request) for h in hosts]
        if not raws:
            continue
        lo, hi = min(raws), max(raws)
        for k, h in enumerate(hosts):
            mult = weight_multiplier(h, w.AGGREGATE_KEY, default)
            if hi == lo:
                norm = contribution = 0.0
            else:
                norm = (raws[k] - lo) / (hi - lo)
                # = mult * norm; written so that it is one rounding per step, as the columns do
                contribution = (raws[k] - lo) * (mult / (hi - lo))
            totals[k] += contribution
            details[k].append(WeightDetail(w.NAME, raws[k], norm, mult, contribution))
    return [(totals[k], tuple(details[k])) for k in range(len(hosts))]


def best(hosts: Sequence[HostView], totals: Sequence[float]) -> int:
    """Index of the highest total; equal totals go to the smallest host name."""
    pick = None
    for k, h in enumerate(hosts):
        if (pick is None or totals[k] > totals[pick]
                or (totals[k] == totals[pick] and h.name < hosts[pick].name)):
            pick = k
    assert pick is not None
    return pick


def with_group_members(request: RequestSpec, chosen: Sequence[str]) -> RequestSpec:
    """The request for a later instance of a multi-instance request: earlier ones count as
    group members."""
    if request.group is None or not chosen:
        return request
    g = request.group
    return replace(request, group=replace(g, member_hosts=g.member_hosts + tuple(chosen)))


def make_claim(host: HostView, request: RequestSpec) -> Claim:
    (_, _, vl), (_, _, rl), (_, _, dl) = host_limits(host)
    return Claim(host.name, request.vcpus, request.ram_mib, request.disk_gib, vl, rl, dl)


class ReferenceScheduler:
    """Same contract as ``Scheduler``, evaluated host by host on ``HostView`` values."""

    def __init__(self, config: SchedulerConfig, hosts: Iterable[HostView], claims: ClaimStore):
        self.config = config
        self.filters = config.build_filters()
        self.weighers = config.build_weighers()
        self.track = tuple(p for w, _ in self.weighers for p in w.tracked_properties())
        self.hosts = sorted(hosts, key=lambda h: h.name)
        self.claims = claims

    def passing(self, request: RequestSpec, now: float) -> list[HostView]:
        ctx = DecisionContext(now)
        return [h for h in self.hosts if first_failure(self.filters, h, request, ctx) is None]

    def scores(self, request: RequestSpec, now: float) -> dict[str, float]:
        cands = self.passing(request, now)
        return {h.name: t for h, (t, _) in zip(cands, weigh(self.weighers, cands, request))}

    def _like(self, request: RequestSpec) -> list[tuple[str, str]]:
        out = []
        for p in self.track:
            v = request_value(request, p)
            if v is not None:
                out.append((p, v))
        return out

    def _update(self, name: str, usage, like: Sequence[tuple[str, str]], delta: int) -> None:
        k = next(i for i, h in enumerate(self.hosts) if h.name == name)
        h = self.hosts[k]
        counts = {p: dict(v) for p, v in h.image_property_counts.items()}
        for p, v in like:
            counts.setdefault(p, {})[v] = max(0, counts.get(p, {}).get(v, 0) + delta)
        self.hosts[k] = replace(h, vcpus_used=usage.vcpus, ram_mib_used=usage.ram_mib,
                                disk_gib_used=usage.disk_gib, instances=usage.instances,
                                image_property_counts=counts)

    def select(self, request: RequestSpec, now: float | None = None) -> Placement:
        ctx = DecisionContext(time.time() if now is None else now)
        like = self._like(request)
        chosen: list[str] = []
        claims: list[Claim] = []
        weights: list[float] = []
        alternates: list[tuple[str, ...]] = []
        attempts = 0
        try:
            for _ in range(request.num_instances):
                req = with_group_members(request, chosen)
                while True:
                    attempts += 1
                    cands = [h for h in self.hosts
                             if first_failure(self.filters, h, req, ctx) is None]
                    if not cands:
                        raise NoValidHost(summary(self.filters, self.hosts, req, ctx))
                    totals = [t for t, _ in weigh(self.weighers, cands, req)]
                    k = best(cands, totals)
                    claim = make_claim(cands[k], req)
                    result = self.claims.claim(claim)
                    self._update(claim.host, result.usage, like if result.ok else (), +1)
                    if result.ok:
                        break
                chosen.append(claim.host)
                claims.append(claim)
                weights.append(totals[k])
                ranked = sorted(range(len(cands)), key=lambda i: (-totals[i], cands[i].name))
                alternates.append(tuple(cands[i].name for i in ranked if i != k)
                                  [:self.config.alternates])
        except NoValidHost:
            for c in claims:
                self._update(c.host, self.claims.release(c), like, -1)
            raise
        return Placement(tuple(chosen), tuple(claims), tuple(weights), attempts, tuple(like),
                         tuple(alternates))
