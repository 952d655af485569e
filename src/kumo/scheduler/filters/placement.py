"""Where a guest may go: aggregate isolation by image property, availability zone, server group."""

from __future__ import annotations

from typing import Hashable

import numpy as np

from kumo.scheduler.model import HostView, RequestSpec, request_value
from kumo.scheduler.plugins import (DecisionContext, Filter, FilterResult, StaticFilter,
                                    register_filter)
from kumo.scheduler.reasons import (AggregateIsolation, GroupPolicyViolation, Reason,
                                    ZoneMismatch)

#: aggregate metadata: kumo_isolation=strict keeps images that leave a pinned property unset out
STRICT_KEY = "kumo_isolation"


def _pins(host: HostView, prop: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(aggregates pinning ``prop``, the values they allow, whether any of them is strict)."""
    names: list[str] = []
    allowed: set[str] = set()
    strict = False
    for agg in host.aggregates:
        raw = agg.metadata.get(prop)
        if raw is None:
            continue
        names.append(agg.name)
        allowed.update(v.strip().lower() for v in raw.split(",") if v.strip())
        strict = strict or agg.metadata.get(STRICT_KEY, "").strip().lower() == "strict"
    return tuple(sorted(names)), tuple(sorted(allowed)), strict


@register_filter
class AggregateImageIsolation(StaticFilter):
    """Aggregate metadata pins image properties to hosts, both ways.

    * aggregate ``os_type=windows``: its hosts take only images whose os_type is windows (images
      that do not set os_type still pass, as in Nova's AggregateImagePropertiesIsolation) ...
      os_type is the resolved one (kumo.guest.facts): an image with only os_distro=windows is
      Windows here as it is to the guest policy (seed 000), where Nova would read it as unset.
    * ... unless the aggregate also has ``kumo_isolation=strict``: then nothing else goes there.
    * option ``required={"os_type": ["windows"]}``: an image with os_type=windows runs only on
      hosts in an aggregate pinned to windows (Windows guests only on licensed hosts).

    Only the properties named in option ``properties`` are considered, so other aggregate
    metadata (ratios, multipliers, zone) never isolates by accident.
    """

    NAME = "AggregateImageIsolation"
    KIND_ONLY = True  # hypervisor, capabilities, aggregates
    OPTIONS = {"properties": ("os_type",), "required": {}}

    def __init__(self, **options):
        super().__init__(**options)
        self.properties = tuple(self.options["properties"])
        self.required = {p: tuple(str(v).lower() for v in vals)
                         for p, vals in dict(self.options["required"]).items()}

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        reasons: list[Reason] = []
        for prop in self.properties:
            value = request_value(request, prop)
            aggs, allowed, strict = _pins(host, prop)
            if aggs and value is not None and value not in allowed:
                reasons.append(AggregateIsolation(prop, value, "pinned", aggs, allowed))
            elif aggs and value is None and strict:
                reasons.append(AggregateIsolation(prop, None, "strict", aggs, allowed))
            elif value is not None and value in self.required.get(prop, ()) and not aggs:
                reasons.append(AggregateIsolation(prop, value, "required"))
        return self.result(reasons)

    def host_key(self, host: HostView) -> Hashable:
        return tuple(_pins(host, p) for p in self.properties)

    def request_key(self, request: RequestSpec) -> Hashable:
        props = self.properties
        if len(props) == 1:  # (the usual, os_type: no generator, a decision asks every time)
            return (request_value(request, props[0]),)
        return tuple([request_value(request, p) for p in props])


@register_filter
class AvailabilityZone(StaticFilter):
    NAME = "AvailabilityZone"
    HOST_FIELDS = ("availability_zone",)

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        az = request.availability_zone
        if az is None or host.availability_zone == az:
            return self.result(())
        return self.result((ZoneMismatch(az, host.availability_zone),))

    def host_key(self, host: HostView) -> Hashable:
        return host.availability_zone

    def request_key(self, request: RequestSpec) -> Hashable:
        return request.availability_zone


@register_filter
class ServerGroup(Filter):
    """Hard affinity (all members on one host) and anti-affinity (at most
    ``max_server_per_host`` members per host), as Nova's ServerGroup(Anti)AffinityFilter."""

    NAME = "ServerGroup"

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        g = request.group
        if g is None:
            return self.result(())
        here = g.member_hosts.count(host.name)
        if g.policy == "anti-affinity":
            if here < g.max_server_per_host:
                return self.result(())
            return self.result((GroupPolicyViolation(g.name, g.policy, here,
                                                     g.max_server_per_host),))
        if not g.member_hosts or here > 0:
            return self.result(())
        return self.result((GroupPolicyViolation(g.name, g.policy,
                                                 member_hosts=g.member_hosts),))

    def mask(self, fleet, request: RequestSpec, ctx: DecisionContext) -> np.ndarray | None:
        g = request.group
        if g is None or not g.member_hosts:
            return None
        counts = np.zeros(fleet.n, dtype=np.int64)
        for name in g.member_hosts:
            i = fleet.index.get(name)
            if i is not None:
                counts[i] += 1
        if g.policy == "anti-affinity":
            return counts < g.max_server_per_host
        return counts > 0

    def mask_at(self, fleet, request: RequestSpec, ctx: DecisionContext,
                idx: np.ndarray | None, out: np.ndarray) -> bool:
        # mask's answer without a fleet-sized count: only the members' hosts differ from the
        # rest (idx ascending: a member's position by binary search)
        g = request.group
        if g is None or not g.member_hosts:
            return False
        counts: dict[int, int] = {}
        for name in g.member_hosts:
            i = fleet.index.get(name)
            if i is not None:
                counts[i] = counts.get(i, 0) + 1
        anti = g.policy == "anti-affinity"
        out.fill(anti)  # anti-affinity: all but full hosts pass; affinity: only members' hosts
        for i, c in counts.items():
            if anti and c < g.max_server_per_host:
                continue
            if idx is None:
                out[i] = not anti
            else:
                p = int(np.searchsorted(idx, i))
                if p < idx.size and int(idx[p]) == i:
                    out[p] = not anti
        return True

    def summarise(self, fleet, request: RequestSpec, ctx: DecisionContext,
                  idx: np.ndarray) -> list[tuple[Reason, int]]:
        # the summary names only the group and policy: one host stands for all
        rep = self.evaluate(fleet.hosts[int(idx[0])], request, ctx).reasons[0]
        return [(rep, int(idx.size))]
