"""vCPU, RAM and disk with allocation ratios: ``used + requested <= floor(capacity * ratio)``.

The ratio is the host's own unless one of its aggregates sets ``cpu_allocation_ratio``,
``ram_allocation_ratio`` or ``disk_allocation_ratio`` (the smallest wins, as Nova's
AggregateCoreFilter/AggregateRamFilter/AggregateDiskFilter). Disk counts root plus ephemeral.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from kumo.scheduler.fleet import DISK, RAM, VCPU, host_limits
from kumo.scheduler.model import HostView, RequestSpec
from kumo.scheduler.plugins import DecisionContext, Filter, FilterResult, register_filter
from kumo.scheduler.reasons import InsufficientResource, Reason


class _ResourceFilter(Filter):
    COLUMN: ClassVar[int]
    RESOURCE: ClassVar[str]
    UNIT: ClassVar[str]
    USED: ClassVar[str]

    def requested(self, request: RequestSpec) -> int:
        raise NotImplementedError

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        cap, ratio, limit = host_limits(host)[self.COLUMN]
        used = getattr(host, self.USED)
        want = self.requested(request)
        if used + want <= limit:
            return self.result(())
        return self.result((InsufficientResource(self.RESOURCE, want, used, cap, self.UNIT,
                                                 ratio, limit),))

    def mask(self, fleet, request: RequestSpec, ctx: DecisionContext) -> np.ndarray | None:
        # limit - used >= want  <=>  used + want <= limit (integers, exact in float64)
        return fleet.free[self.COLUMN] >= self.requested(request)

    def mask_at(self, fleet, request: RequestSpec, ctx: DecisionContext,
                idx: np.ndarray | None, out: np.ndarray) -> bool:
        free = fleet.free[self.COLUMN]
        if idx is not None:
            free = free.take(idx, out=fleet.buf_f[0, :out.size])
        np.greater_equal(free, self.requested(request), out=out)
        return True

    def fits_nowhere(self, fleet, request: RequestSpec, ctx: DecisionContext) -> bool:
        # beyond every host's limit: free = limit - used <= limit, as usage is never negative
        # (stores release only what a host holds); O(1), the limits are static
        return fleet.n > 0 and self.requested(request) > int(fleet.max_limit[self.COLUMN])

    def summarise(self, fleet, request: RequestSpec, ctx: DecisionContext,
                  idx: np.ndarray) -> list[tuple[Reason, int]]:
        # the summary reports the largest free amount: the host with the most free stands for all
        best = int(idx[int(np.argmax(fleet.free[self.COLUMN][idx]))])
        reason = self.evaluate(fleet.view(best), request, ctx).reasons[0]
        return [(reason, int(idx.size))]


@register_filter
class VCPU(_ResourceFilter):
    NAME = "VCPU"
    COLUMN, RESOURCE, UNIT, USED = VCPU, "vCPU", "vCPU", "vcpus_used"

    def requested(self, request: RequestSpec) -> int:
        return request.vcpus


@register_filter
class RAM(_ResourceFilter):
    NAME = "RAM"
    COLUMN, RESOURCE, UNIT, USED = RAM, "RAM", "MiB", "ram_mib_used"

    def requested(self, request: RequestSpec) -> int:
        return request.ram_mib


@register_filter
class Disk(_ResourceFilter):
    NAME = "Disk"
    COLUMN, RESOURCE, UNIT, USED = DISK, "disk", "GiB", "disk_gib_used"

    def requested(self, request: RequestSpec) -> int:
        return request.disk_gib
