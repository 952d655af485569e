"""Host state filters: the operator enabled it, and its compute service is up."""

from __future__ import annotations

from typing import Hashable

import numpy as np

from kumo.scheduler.model import HostView, RequestSpec
from kumo.scheduler.plugins import (DecisionContext, Filter, FilterResult, StaticFilter,
                                    register_filter)
from kumo.scheduler.reasons import ComputeDown, HostDisabled, Reason


@register_filter
class HostEnabled(StaticFilter):
    """The operator has not disabled the host (``kumo host disable``)."""

    NAME = "HostEnabled"
    HOST_FIELDS = ("enabled", "disabled_reason")

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        if host.enabled:
            return self.result(())
        return self.result((HostDisabled(host.disabled_reason),))

    def host_key(self, host: HostView) -> Hashable:
        return (host.enabled, host.disabled_reason)

    def request_key(self, request: RequestSpec) -> Hashable:
        return ()


@register_filter
class ComputeUp(Filter):
    """The compute service is not forced down and has reported within ``service_down_time``
    seconds (Nova's ComputeFilter with its servicegroup API; default 60 s, Nova's too)."""

    NAME = "ComputeUp"
    OPTIONS = {"service_down_time": 60.0}

    def _down(self, forced: bool, heartbeat: float | None, now: float) -> ComputeDown | None:
        limit = float(self.options["service_down_time"])
        if forced:
            return ComputeDown("forced_down", None, limit)
        if heartbeat is None:
            return ComputeDown("never_reported", None, limit)
        age = now - heartbeat
        if not age <= limit:
            return ComputeDown("stale", age, limit)
        return None

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        down = self._down(host.forced_down, host.last_heartbeat, ctx.now)
        return self.result((down,) if down else ())

    def mask(self, fleet, request: RequestSpec, ctx: DecisionContext) -> np.ndarray | None:
        # (now - heartbeat) <= limit: the same expression as evaluate; NaN (never) compares False
        up = (ctx.now - fleet.heartbeat) <= float(self.options["service_down_time"])
        up &= ~fleet.forced_down
        return up

    def mask_at(self, fleet, request: RequestSpec, ctx: DecisionContext,
                idx: np.ndarray | None, out: np.ndarray) -> bool:
        # mask's expression on the hosts idx, in the fleet's buffers: (now - heartbeat) <= limit
        # on the heartbeat column that reads NaN for a forced-down host (NaN compares False)
        beat = fleet.live_heartbeat
        if idx is not None:
            beat = beat.take(idx, out=fleet.buf_f[0, :out.size])
        age = np.subtract(ctx.now, beat, out=fleet.buf_f[0, :out.size])
        np.less_equal(age, float(self.options["service_down_time"]), out=out)
        return True

    def summarise(self, fleet, request: RequestSpec, ctx: DecisionContext,
                  idx: np.ndarray) -> list[tuple[Reason, int]]:
        # the summary depends only on the cause: one representative host per cause
        forced = fleet.forced_down[idx]
        never = np.isnan(fleet.heartbeat[idx]) & ~forced
        stale = ~forced & ~never
        out = []
        for part in (forced, never, stale):
            members = idx[part]
            if members.size:
                i = int(members[0])
                hb = None if np.isnan(fleet.heartbeat[i]) else float(fleet.heartbeat[i])
                out.append((self._down(bool(fleet.forced_down[i]), hb, ctx.now),
                            int(members.size)))
        return out
