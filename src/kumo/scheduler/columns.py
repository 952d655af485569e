"""The fleet's hosts as columns: what a ``Fleet`` is built from, without a ``HostView`` per host.

A fleet of 10,000 hosts has some fifty *kinds* (hypervisor, capabilities, aggregates: one
``HostView`` each) and per host only numbers and a few short strings (``HostView.clone``'s
PER_HOST_FIELDS). A cold start -- the first placement of a CLI create -- builds the fleet once and
decides once: building a view per host cost about a third of it. Here the per-host fields are
arrays (``PerHost``), a host's view is built only when something asks for that host (a reason, a
summary, the chosen host: ``HostColumns.view``), and a fleet built from views
(``HostColumns.from_views``: tests, bench/scheduler.py, a placement restricted to named hosts)
keeps those very views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from kumo.scheduler.model import HostView

#: a host's like-image counts as a view holds them (frozen: kumo.scheduler.model.freeze_counts)
Counts = Mapping[str, Mapping[str, int]]


class PerHost(NamedTuple):
    """The per-host view fields of ``n`` hosts, in one order (the like-image counts apart)."""

    names: tuple[str, ...]
    zone: tuple[str, ...]
    enabled: np.ndarray          # bool
    disabled_reason: tuple[str | None, ...]
    forced_down: np.ndarray      # bool
    heartbeat: np.ndarray        # float64 seconds since the epoch; NaN: never reported
    capacity: np.ndarray         # int64 (n, 3): vCPUs, RAM MiB, disk GiB guests may have
    usage: np.ndarray            # int64 (n, 4): used vCPUs, RAM MiB, disk GiB; instances
    ratio: np.ndarray            # float64 (n, 3): the host's own allocation ratios

    def fields(self, i: int) -> dict[str, Any]:
        """Host ``i``'s view fields as Python values (``HostView.clone``'s keywords)."""
        v, r, d = self.capacity[i].tolist()
        uv, ur, ud, n = self.usage[i].tolist()
        cpu, ram, disk = self.ratio[i].tolist()
        hb = float(self.heartbeat[i])
        return {"name": self.names[i], "availability_zone": self.zone[i],
                "enabled": bool(self.enabled[i]), "disabled_reason": self.disabled_reason[i],
                "forced_down": bool(self.forced_down[i]),
                "last_heartbeat": None if hb != hb else hb,
                "vcpus": v, "ram_mib": r, "disk_gib": d,
                "vcpus_used": uv, "ram_mib_used": ur, "disk_gib_used": ud, "instances": n,
                "cpu_allocation_ratio": cpu, "ram_allocation_ratio": ram,
                "disk_allocation_ratio": disk}

    def column(self, field: str) -> Sequence[Any]:
        """One per-host field of every host, as Python values (``StaticFilter.HOST_FIELDS``)."""
        if field == "availability_zone":
            return self.zone
        if field == "disabled_reason":
            return self.disabled_reason
        if field in ("enabled", "forced_down"):
            return getattr(self, field).tolist()
        raise KeyError(f"PerHost.column: {field!r} is not a static per-host field")


@dataclass(frozen=True, eq=False)
class HostColumns:
    """The hosts of a fleet, sorted by name: their per-host fields (``own``), one view per kind
    (``kinds``) and each host's kind (``kind_codes``), the like-image counts of the hosts that
    have any (``counts``, by index), the usage generation each host's usage was read at
    (``generation``; -1: unknown), and -- when built from views -- those views."""

    own: PerHost
    kinds: tuple[HostView, ...]
    kind_codes: np.ndarray   # int64 (n,)
    counts: Mapping[int, Counts]
    generation: np.ndarray   # int64 (n,)
    views: tuple[HostView, ...] | None = None

    def __len__(self) -> int:
        return len(self.own.names)

    def view(self, i: int) -> HostView:
        """Host ``i``'s view as the columns hold it (usage as read)."""
        if self.views is not None:
            return self.views[i]
        fields = self.own.fields(i)
        counts = self.counts.get(i)
        if counts is not None:
            fields["image_property_counts"] = counts
        return self.kinds[int(self.kind_codes[i])].clone(**fields)

    @classmethod
    def from_views(cls, hosts: Iterable[HostView]) -> "HostColumns":
        """Columns of views (sorted by name): kinds as the views give them (``HostView.kind``)."""
        hs = sorted(hosts, key=lambda h: h.name)
        n = len(hs)
        kind_ids: dict[int, int] = {}
        kinds: list[HostView] = []
        codes = []
        for h in hs:
            k = kind_ids.get(id(h.kind))
            if k is None:
                k = kind_ids[id(h.kind)] = len(kinds)
                kinds.append(h.kind)
            codes.append(k)
        own = PerHost(
            names=tuple(h.name for h in hs), zone=tuple(h.availability_zone for h in hs),
            enabled=np.fromiter((h.enabled for h in hs), dtype=bool, count=n),
            disabled_reason=tuple(h.disabled_reason for h in hs),
            forced_down=np.fromiter((h.forced_down for h in hs), dtype=bool, count=n),
            heartbeat=np.fromiter((np.nan if h.last_heartbeat is None else h.last_heartbeat
                                   for h in hs), dtype=np.float64, count=n),
            capacity=_rows([(h.vcpus, h.ram_mib, h.disk_gib) for h in hs], 3),
            usage=_rows([(h.vcpus_used, h.ram_mib_used, h.disk_gib_used, h.instances)
                         for h in hs], 4),
            ratio=np.array([(h.cpu_allocation_ratio, h.ram_allocation_ratio,
                             h.disk_allocation_ratio) for h in hs],
                           dtype=np.float64).reshape(n, 3))
        counts = {i: h.image_property_counts for i, h in enumerate(hs) if h.image_property_counts}
        return cls(own, tuple(kinds), np.array(codes, dtype=np.int64), counts,
                   np.full(n, -1, dtype=np.int64), tuple(hs))


def _rows(rows: list[tuple[int, ...]], width: int) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


def encode(values: Iterable[Hashable]) -> tuple[np.ndarray, list[int]]:
    """Values dictionary-encoded in order of appearance: a code per value, and the index of
    each code's first value (where the running maximum of the codes grows)."""
    ids: dict[Hashable, int] = {}
    codes = np.array([ids.setdefault(v, len(ids)) for v in values], dtype=np.int64)
    grows = np.diff(np.maximum.accumulate(codes), prepend=-1) > 0
    return codes, np.flatnonzero(grows).tolist()


class LazyViews(Sequence[HostView]):
    """``Fleet.hosts`` of a fleet built from columns: host ``i``'s view, built when first asked
    for (a reason, a summary, the chosen host) and kept."""

    def __init__(self, columns: HostColumns):
        self._columns = columns
        self._made: dict[int, HostView] = {}

    def __len__(self) -> int:
        return len(self._columns)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(len(self))[i]]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        got = self._made.get(i)
        if got is None:
            got = self._made[i] = self._columns.view(i)
        return got
