"""The built-in weighers.

Scores are normalised per weigher over the candidate hosts (min-max to 0..1, all 0 when every
candidate scores the same, as Nova's ``nova.weights.normalize``) and multiplied by the weigher's
multiplier -- from configuration, or from the host's aggregate metadata key ``AGGREGATE_KEY``
(the smallest value wins when several aggregates set it, as Nova's get_weight_multiplier).

Unlike Nova, where NumInstancesWeigher and ImagePropertiesWeigher pack with positive
multipliers, every kumo weigher spreads with a positive multiplier and packs with a negative one:
the scores are "room left" (free vCPU/RAM/disk, minus the instance count, minus the count of
instances with the same image properties).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from kumo.scheduler.fleet import DISK, RAM, VCPU, host_limits
from kumo.scheduler.model import HostView, RequestSpec, request_value
from kumo.scheduler.plugins import Weigher, register_weigher


class _FreeWeigher(Weigher):
    COLUMN: ClassVar[int]
    USED: ClassVar[str]

    def raw(self, host: HostView, request: RequestSpec) -> float:
        return float(host_limits(host)[self.COLUMN][2] - getattr(host, self.USED))

    def raw_vector(self, fleet, request: RequestSpec) -> np.ndarray:
        return fleet.free[self.COLUMN]


@register_weigher
class FreeRAM(_FreeWeigher):
    """Free RAM after the allocation ratio (MiB)."""

    NAME, AGGREGATE_KEY = "FreeRAM", "free_ram_weight_multiplier"
    COLUMN, USED = RAM, "ram_mib_used"


@register_weigher
class FreeVCPU(_FreeWeigher):
    """Free vCPUs after the allocation ratio."""

    NAME, AGGREGATE_KEY = "FreeVCPU", "free_vcpu_weight_multiplier"
    COLUMN, USED = VCPU, "vcpus_used"


@register_weigher
class FreeDisk(_FreeWeigher):
    """Free disk after the allocation ratio (GiB)."""

    NAME, AGGREGATE_KEY = "FreeDisk", "free_disk_weight_multiplier"
    COLUMN, USED = DISK, "disk_gib_used"


@register_weigher
class InstanceCount(Weigher):
    """Minus the number of instances on the host: positive spreads instances out."""

    NAME, AGGREGATE_KEY = "InstanceCount", "instance_count_weight_multiplier"

    def raw(self, host: HostView, request: RequestSpec) -> float:
        return -float(host.instances)

    def raw_vector(self, fleet, request: RequestSpec) -> np.ndarray:
        return fleet.neg_instances


@register_weigher
class LikeImages(Weigher):
    """Minus the number of instances on the host whose image has the same value of each
    property in option ``properties`` (name -> weight), e.g. ``{"os_type": 1.0}``.

    A negative multiplier packs like images together -- Windows guests onto the hosts already
    licensed and running Windows (Nova's ImagePropertiesWeigher, 2024.2, for the same reason);
    set it on the licensed aggregate only with ``like_images_weight_multiplier``. Off (0) unless
    configured.
    """

    NAME, AGGREGATE_KEY = "LikeImages", "like_images_weight_multiplier"
    DEFAULT_MULTIPLIER = 0.0
    OPTIONS = {"properties": {"os_type": 1.0}}

    def __init__(self, **options):
        super().__init__(**options)
        self.properties = {str(p): float(w) for p, w in dict(self.options["properties"]).items()}

    def tracked_properties(self) -> tuple[str, ...]:
        return tuple(self.properties)

    def raw(self, host: HostView, request: RequestSpec) -> float:
        acc = 0.0
        for prop, w in self.properties.items():
            value = request_value(request, prop)
            if value is None:
                continue
            acc += w * float(host.image_property_counts.get(prop, {}).get(value, 0))
        return -acc

    def raw_vector(self, fleet, request: RequestSpec) -> np.ndarray:
        acc = None
        for prop, w in self.properties.items():
            value = request_value(request, prop)
            col = None if value is None else fleet.like_counts.get((prop, value))
            if col is None:
                continue  # every host counts 0: adds w * 0.0, which changes no sum
            acc = w * col if acc is None else acc + w * col
        if acc is None:
            return np.zeros(fleet.n)
        return -acc

    def raw_at(self, fleet, request: RequestSpec, idx: np.ndarray | None,
               out: np.ndarray) -> np.ndarray:
        # raw_vector's operations on the gathered counts (w * count per property, summed in
        # order, negated), in ``out`` and the fleet's scratch row: no allocation per decision
        if idx is None:
            return self.raw_vector(fleet, request)
        first = True
        part = fleet.buf_f[0, :out.size]
        for prop, w in self.properties.items():
            value = request_value(request, prop)
            col = None if value is None else fleet.like_counts.get((prop, value))
            if col is None:
                continue
            if first:
                np.multiply(col.take(idx, out=out), w, out=out)
                first = False
            else:
                np.multiply(col.take(idx, out=part), w, out=part)
                np.add(out, part, out=out)
        if first:
            out.fill(0.0)
            return out
        np.negative(out, out=out)
        return out
