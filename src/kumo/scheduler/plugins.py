"""Filter and weigher plugins: base classes and the one registry (conventions #7, #8).

Every plugin has a stable ``NAME``; configuration enables filters and weights weighers by that
name. Each plugin has two implementations of one rule:

* ``evaluate(host, request, ctx)`` / ``raw(host, request)``: the straightforward per-host
  version. It is the reference, and what ``explain`` shows.
* ``mask(fleet, request, ctx)`` / ``raw_vector(fleet, request)``: the columnar version over every
  host at once (numpy arrays in ``Fleet``), which ``Scheduler.select`` uses. The test suite
  checks on random fleets that both give identical pass/fail sets, weights and choices.

``StaticFilter`` is the columnar version for rules that read only a host's static attributes
(hypervisor, version, capabilities, aggregates, zone, enabled): hosts are dictionary-encoded by
the attributes the rule reads (``host_key``), the rule runs once per distinct class, and the
per-class answer is gathered into a mask -- cached per distinct request (``request_key``).

Plugins never mutate the host views or requests they are given; they return results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Hashable, Mapping, Sequence

import numpy as np

from kumo.errors import InvalidInput
from kumo.scheduler.model import HostView, RequestSpec
from kumo.scheduler.reasons import Reason

if TYPE_CHECKING:  # pragma: no cover
    from kumo.scheduler.fleet import Fleet


@dataclass(frozen=True)
class DecisionContext:
    """What a decision depends on besides hosts and request: the clock (seconds since epoch)."""

    now: float


@dataclass(frozen=True)
class FilterResult:
    """A filter's verdict on one host (Kubernetes' Status: code, reasons, plugin)."""

    plugin: str
    passed: bool
    reasons: tuple[Reason, ...] = ()

    def __str__(self) -> str:
        if self.passed:
            return f"{self.plugin}: pass"
        return f"{self.plugin}: " + "; ".join(str(r) for r in self.reasons)


class _Plugin:
    NAME: ClassVar[str]
    #: option name -> default value
    OPTIONS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **options: Any):
        unknown = set(options) - set(self.OPTIONS)
        if unknown:
            allowed = ", ".join(sorted(self.OPTIONS)) or "none"
            raise InvalidInput(f"{self.NAME}: unknown option(s) {', '.join(sorted(unknown))}; "
                               f"allowed {allowed}")
        self.options = {**self.OPTIONS, **options}


class Filter(_Plugin):
    """A yes/no rule per host, with reasons when no."""

    def result(self, reasons: Sequence[Reason]) -> FilterResult:
        return FilterResult(self.NAME, not reasons, tuple(reasons))

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        raise NotImplementedError

    def mask(self, fleet: "Fleet", request: RequestSpec,
             ctx: DecisionContext) -> np.ndarray | None:
        """Boolean array over the fleet's hosts (True = passes), or None when all pass."""
        raise NotImplementedError

    def mask_at(self, fleet: "Fleet", request: RequestSpec, ctx: DecisionContext,
                idx: np.ndarray | None, out: np.ndarray) -> bool:
        """``mask`` for the hosts ``idx`` only (None: every host), written into ``out`` (one
        entry per host in ``idx``); False when every host passes (``out`` untouched). The
        engine's per-decision path: filters override it to work in preallocated buffers."""
        m = self.mask(fleet, request, ctx)
        if m is None:
            return False
        if idx is None:
            out[:] = m
        else:
            m.take(idx, out=out)
        return True

    def fits_nowhere(self, fleet: "Fleet", request: RequestSpec, ctx: DecisionContext) -> bool:
        """True only when no host of the fleet passes, checked without masks (the engine asks
        before computing a static mask it does not have cached). Default: False (unknown)."""
        return False

    def summarise(self, fleet: "Fleet", request: RequestSpec, ctx: DecisionContext,
                  idx: np.ndarray) -> list[tuple[Reason, int]]:
        """(first reason, host count) pairs for the hosts ``idx`` this filter rejected, with the
        same summary as evaluating each of them. Default: evaluate each one."""
        out = []
        for i in idx:
            out.append((self.evaluate(fleet.view(int(i)), request, ctx).reasons[0], 1))
        return out


class StaticFilter(Filter):
    """A filter whose verdict depends only on static host attributes and the request."""

    #: ``host_key`` reads only what views of one kind share (HostView.kind: hypervisor,
    #: capabilities, aggregates -- none of HostView.clone's PER_HOST_FIELDS), so the fleet
    #: computes it once per kind
    KIND_ONLY: ClassVar[bool] = False
    #: or: ``host_key`` reads only these per-host fields (HostView.clone's PER_HOST_FIELDS that
    #: kumo.scheduler.columns.PerHost.column gives), so the fleet computes it once per distinct
    #: combination of their values -- from its columns, without a view per host. None: unknown
    HOST_FIELDS: ClassVar[tuple[str, ...] | None] = None

    def host_key(self, host: HostView) -> Hashable:
        """Every host attribute ``evaluate`` reads."""
        raise NotImplementedError

    def request_key(self, request: RequestSpec) -> Hashable:
        """Every request attribute ``evaluate`` reads."""
        raise NotImplementedError

    def class_ok(self, fleet: "Fleet", request: RequestSpec, ctx: DecisionContext,
                 needed: "Sequence[int] | range") -> np.ndarray:
        """Per class of ``fleet.classes(self)``, whether its hosts pass; only the classes in
        ``needed`` are evaluated (the others read False)."""
        _codes, reps = fleet.classes(self)
        ok = np.zeros(len(reps), dtype=bool)
        for c in needed:
            ok[c] = self.evaluate(reps[c], request, ctx).passed
        return ok

    def mask(self, fleet: "Fleet", request: RequestSpec, ctx: DecisionContext,
             within: np.ndarray | None = None) -> np.ndarray | None:
        """``within``: the hosts still candidates (the filters before this one passed them);
        a filter may leave the others unevaluated and False. This default evaluates all."""
        key = (self.NAME, self.request_key(request))
        cached = fleet.cache_get(key)
        if cached is not None:
            return cached
        codes, reps = fleet.classes(self)
        ok = np.fromiter((self.evaluate(rep, request, ctx).passed for rep in reps),
                         dtype=bool, count=len(reps))
        mask = ok[codes]
        mask.flags.writeable = False
        fleet.cache_put(key, mask)
        return mask

    def summarise(self, fleet: "Fleet", request: RequestSpec, ctx: DecisionContext,
                  idx: np.ndarray) -> list[tuple[Reason, int]]:
        codes, reps = fleet.classes(self)
        found, counts = np.unique(codes[idx], return_counts=True)
        return [(self.evaluate(reps[int(c)], request, ctx).reasons[0], int(n))
                for c, n in zip(found, counts)]


class Weigher(_Plugin):
    """A score per host; scores are min-max normalised over the candidate hosts and multiplied.

    kumo's convention, for every weigher: a positive multiplier spreads (prefers the host with
    more room / fewer instances / fewer like images), a negative one packs.
    """

    #: aggregate metadata key that overrides the multiplier for the aggregate's hosts
    AGGREGATE_KEY: ClassVar[str]
    DEFAULT_MULTIPLIER: ClassVar[float] = 1.0

    def raw(self, host: HostView, request: RequestSpec) -> float:
        raise NotImplementedError

    def raw_vector(self, fleet: "Fleet", request: RequestSpec) -> np.ndarray:
        raise NotImplementedError

    def raw_at(self, fleet: "Fleet", request: RequestSpec, idx: np.ndarray | None,
               out: np.ndarray) -> np.ndarray:
        """``raw_vector`` for the hosts ``idx`` (None: all; then possibly the fleet's own
        column, not to be written), gathered into ``out`` (one entry per host in ``idx``)."""
        raw = self.raw_vector(fleet, request)
        return raw if idx is None else raw.take(idx, out=out)

    def tracked_properties(self) -> tuple[str, ...]:
        """Image properties whose per-host instance counts this weigher needs."""
        return ()


FILTERS: dict[str, type[Filter]] = {}
WEIGHERS: dict[str, type[Weigher]] = {}


def register_filter(cls: type[Filter]) -> type[Filter]:
    if cls.NAME in FILTERS and FILTERS[cls.NAME] is not cls:
        raise ValueError(f"filter name {cls.NAME!r} registered twice")
    FILTERS[cls.NAME] = cls
    return cls


def register_weigher(cls: type[Weigher]) -> type[Weigher]:
    if cls.NAME in WEIGHERS and WEIGHERS[cls.NAME] is not cls:
        raise ValueError(f"weigher name {cls.NAME!r} registered twice")
    WEIGHERS[cls.NAME] = cls
    return cls
