"""The columnar scheduler: every filter and weigher over every host, as numpy array operations.

Per decision: the static filters' combined mask (cached per distinct request), the dynamic
filters' masks (compute up, free vCPU/RAM/disk, server group), then per weigher a min-max
normalisation over the candidates, times its multiplier, summed in configured order -- the same
floating-point operations, in the same order, as the per-host reference, so the weights and the
choice are bit-for-bit the same. The highest total wins; equal totals go to the smallest name.

Claiming: the decision is made under the scheduler's lock and reserved in its cache; the claim
itself (``ClaimStore.claim``, a database round trip in production) runs outside the lock; the
answer then replaces the cached usage. A refused claim means another scheduler got there first:
the cache now holds the host's real usage and the instance is decided again.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, Hashable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from kumo.scheduler import kernel
from kumo.scheduler.claims import Claim, ClaimStore, HostUsage, Placement
from kumo.scheduler.config import SchedulerConfig
from kumo.scheduler.errors import NoValidHost
from kumo.scheduler.explain import Explanation, explain
from kumo.scheduler.fleet import DISK, RAM, VCPU, Fleet, FrozenView, StaticSet
from kumo.scheduler.model import HostView, RequestSpec, weight_multiplier
from kumo.scheduler.plugins import DecisionContext, Filter, StaticFilter
from kumo.scheduler.reasons import Reason, format_summary
from kumo.scheduler.reference import with_group_members

#: how long a failing decision waits for this scheduler's own claims in flight to settle
SETTLE_TIMEOUT_S = 5.0
#: busy hosts skipped per instance before a claim waits for the row (Claim.skip_busy)
BUSY_SKIPS = 4
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce


class _Names(Sequence[str]):
    """The names of the hosts ``idx`` without building a list: a store that re-reads only the
    rows that changed (the resident inventory) never iterates it."""

    def __init__(self, names: tuple[str, ...], idx: np.ndarray):
        self._names, self._idx = names, idx

    def __len__(self) -> int:
        return int(self._idx.size)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self._names[i] for i in self._idx[k].tolist()]
        return self._names[int(self._idx[k])]

    def __iter__(self) -> Iterator[str]:
        names = self._names
        return (names[i] for i in self._idx.tolist())


def _key_function(keys: Sequence[Callable[[RequestSpec], Hashable]]
                  ) -> Callable[[RequestSpec], tuple]:
    """The static-mask cache's key of a request: ``("static", keys[0](r), keys[1](r), ...)``,
    the static filters' request keys in configured order, written out as one expression --
    a comprehension (a frame of its own in Python 3.11) and the unpacking cost more than the
    keys themselves, on every decision."""
    calls = "".join(f"k{j}(r), " for j in range(len(keys)))
    return eval(f"lambda r: ('static', {calls})", {f"k{j}": k for j, k in enumerate(keys)})


class Scheduler:
    """``Scheduler(config, hosts, claims).select(request) -> Placement`` (or NoValidHost)."""

    def __init__(self, config: SchedulerConfig, hosts: Iterable[HostView], claims: ClaimStore,
                 *, compiled: bool | None = None):
        """``compiled``: decide with the compiled kernel (kumo.scheduler.kernel) -- True loads
        it now (numba's import and compile, for long-running processes), False never, None
        (the default) once something in the process has loaded it (``kumo serve`` does; a
        one-shot command does not, and pays nothing). Both paths decide identically."""
        self.config = config
        self._compiled = compiled
        if compiled:
            kernel.load()
        self.filters = config.build_filters()
        self.weighers = config.build_weighers()
        self.claims = claims
        self._static = [f for f in self.filters if isinstance(f, StaticFilter)]
        self._static_key = _key_function([f.request_key for f in self._static])
        self._dynamic = [f for f in self.filters if not isinstance(f, StaticFilter)]
        #: the dynamic filters that can tell a request fits nowhere (the others say False)
        self._nowhere = [f for f in self._dynamic
                         if type(f).fits_nowhere is not Filter.fits_nowhere]
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._rng = random.Random()  # host_subset_size's pick
        self._in_flight = 0  # our claims sent to the store and not yet answered
        self._settled_total = 0  # our claims answered, ever
        self._waiting = 0  # decisions waiting for them to settle
        self.update_hosts(hosts)

    # --- inventory -------------------------------------------------------------------------------

    def update_hosts(self, hosts: Iterable[HostView], *, keep_usage: bool = False) -> None:
        """Replace the inventory (hosts added/removed, aggregates or capabilities changed).
        ``keep_usage``: hosts the current inventory also has keep its usage where it is newer
        (by generation) than the views', and its liveness."""
        track = tuple(p for w, _ in self.weighers for p in w.tracked_properties())
        fleet = Fleet(hosts, track, [w.AGGREGATE_KEY for w, _ in self.weighers])
        mults, kind_mults = [], []
        for w, default in self.weighers:
            # per host kind (aggregates are the kind's), gathered
            per_kind = np.array([weight_multiplier(k, w.AGGREGATE_KEY, default)
                                 for k in fleet.kinds], dtype=np.float64)
            per_host = per_kind[fleet.kind_codes]
            if per_host.size == 0:
                mults.append(float(default))
            elif bool(np.all(per_host == per_host[0])):
                mults.append(float(per_host[0]))  # no aggregate overrides it: a scalar is cheaper
            else:
                mults.append(per_host)
            kind_mults.append(per_kind if isinstance(mults[-1], np.ndarray) else mults[-1])
        for f in self._static:
            fleet.classes(f)  # encode now, not on the first request
        # (kept with the fleet: a decision does not look them up by the filters' names)
        static = fleet.static_classes(self._static)
        order, ptr = fleet.static_members(self._static)
        static = (*static, order, ptr, np.diff(ptr))
        # (the last static filter's column of the table, one view for Fleet.static_answers)
        last_codes = static[1][:, len(self._static) - 1] if self._static else None
        plan = (None if self._compiled is False else
                kernel.KernelPlan.of(self._dynamic, self.weighers, kind_mults, fleet,
                                     self.config.alternates,
                                     every=self.config.host_subset_size > 1))
        with self._lock:
            old = getattr(self, "fleet", None)
            if keep_usage and old is not None:
                fleet.carry_from(old)
            self.fleet = fleet
            #: the static classes of ``fleet``: codes, table, order, ptr (Fleet.static_members)
            #: and each class's host count
            self._sc = static
            self._last_codes = last_codes
            self._mults = mults
            self._plan = plan

    def apply_changes(self, usage: Mapping[str, HostUsage],
                      liveness: Mapping[str, tuple[float | None, bool]]) -> None:
        """Rows read since the last refresh: usage (newer generations only) and liveness."""
        with self._lock:
            fleet = self.fleet
            if usage:
                fleet.apply_usages(usage)
            for name, (hb, forced) in liveness.items():
                i = fleet.index.get(name)
                if i is not None:
                    fleet.set_liveness(i, hb, forced)

    @property
    def warnings(self) -> list[str]:
        return list(self.fleet.warnings)

    def _refresh_locked(self, among: np.ndarray | None = None) -> None:
        """Re-read the usage of the hosts ``among`` (indices; None: every host)."""
        fleet = self.fleet
        names = fleet.names if among is None else _Names(fleet.names, among)
        fleet.apply_usages(self.claims.usage(names))

    # --- deciding --------------------------------------------------------------------------------

    def _static_set(self, request: RequestSpec, ctx: DecisionContext,
                    key: tuple | None = None) -> StaticSet:
        """The hosts every static filter passes, cached per distinct request.

        On a miss the filters are answered per *static class* -- hosts alike for every static
        filter (Fleet.static_classes) -- in configured order, each filter only for the classes
        the ones before it left (and each class once per filter and request_key:
        Fleet.class_answers): a cold request costs a pass over the classes, not over the
        fleet (the numpy path gathers the host indices once, when it first needs them)."""
        key = self._static_key(request) if key is None else key
        got = self.fleet.cache_get(key)
        return self._new_static_set(request, ctx, key) if got is None else got

    def _new_static_set(self, request: RequestSpec, ctx: DecisionContext,
                        key: tuple) -> StaticSet:
        """``_static_set`` on a cache miss: computed and cached."""
        fleet = self.fleet
        codes, table, _, _, sizes = self._sc
        last = len(self._static) - 1
        if last >= 0:
            # the classes every filter but the last passes, kept per those filters' keys:
            # requests differing only in the last one's (GuestPolicy's: image and flavor)
            # share them, and a cold request then answers one filter, not all -- and that
            # one from its answers gathered onto the static classes (Fleet.static_answers)
            prefix = key[1:last + 1]
            within = fleet.prefix_get(prefix)
            if within is None:
                within = np.ones(table.shape[0], dtype=bool)
                for j in range(last):
                    fcodes = table[:, j]
                    ans = fleet.class_answers(self._static[j], request, ctx,
                                              (fcodes, within), key[j + 1])
                    np.logical_and(within, ans[fcodes], out=within)
                within.flags.writeable = False
                fleet.prefix_put(prefix, within)
            got = fleet.static_set(within, fleet.static_answers(
                self._static[last], request, ctx, self._last_codes, within, prefix,
                key[last + 1]), codes, sizes)
        else:
            got = StaticSet(np.ones(table.shape[0], dtype=bool), codes, sizes)
        fleet.cache_put(key, got)
        return got

    def _static_candidates(self, request: RequestSpec, ctx: DecisionContext,
                           key: tuple | None = None) -> np.ndarray:
        """Indices (ascending) of the hosts every static filter passes."""
        return self._static_set(request, ctx, key).indices()

    def _candidates(self, request: RequestSpec, ctx: DecisionContext) -> np.ndarray:
        """Indices (ascending) of the hosts every filter passes. The dynamic filters run on the
        static candidates only, into the fleet's preallocated buffers; the result is a view of
        one of them, valid until the next decision (callers hold the scheduler's lock)."""
        fleet = self.fleet
        static = self._static_or_none(request, ctx)
        if static is None:
            return fleet.buf_i[:0]
        sidx = static.indices()
        m = sidx.size
        if m == 0:
            return sidx
        idx = None if m == fleet.n else sidx
        ok = fleet.buf_b[0, :m]
        ok.fill(True)
        out = fleet.buf_b[1, :m]
        for f in self._dynamic:
            if f.mask_at(fleet, request, ctx, idx, out):
                np.logical_and(ok, out, out=ok)
        k = int(np.count_nonzero(ok))
        return sidx.compress(ok, out=fleet.buf_i[:k])

    def _weights(self, request: RequestSpec, cand: np.ndarray) -> np.ndarray:
        """Total weight per candidate (``cand``: host indices, ascending), in the fleet's
        preallocated buffers (a view, valid until the next decision)."""
        fleet = self.fleet
        k = cand.size
        idx = None if k == fleet.n else cand
        total = fleet.buf_f[1, :k]
        total.fill(0.0)
        buf = fleet.buf_f[2, :k]
        for (w, _), mult in zip(self.weighers, self._mults):
            raw = w.raw_at(fleet, request, idx, fleet.buf_f[3, :k])
            lo = _MIN(raw)  # (the ufunc reductions: ndarray.min's Python wrapper costs as much
            hi = _MAX(raw)  # as the reduction at a few thousand hosts)
            if lo == hi:
                continue  # every candidate normalises to 0: adds nothing
            # (raw - lo) * (multiplier / (hi - lo)): the reference's exact expression
            np.subtract(raw, lo, out=buf)
            if isinstance(mult, np.ndarray):
                per = fleet.buf_f[0, :k]
                if idx is None:
                    per[:] = mult
                else:
                    mult.take(idx, out=per)
                np.divide(per, hi - lo, out=per)
                np.multiply(buf, per, out=buf)
            else:
                np.multiply(buf, mult / (hi - lo), out=buf)
            np.add(total, buf, out=total)
        return total

    def _static_or_none(self, request: RequestSpec, ctx: DecisionContext) -> StaticSet | None:
        """The static candidates (cached per distinct request), or None when a dynamic filter
        already says no host passes: a cold static mask costs a pass over the classes (and the
        guest policy for the ones it has not seen), not worth it when the flavor is larger
        than any host's free room (the usual NoValidHost)."""
        fleet = self.fleet
        key = self._static_key(request)
        got = fleet.cache_get(key)
        if got is None:
            for f in self._nowhere:
                if f.fits_nowhere(fleet, request, ctx):
                    return None
            got = self._new_static_set(request, ctx, key)
        return got

    def _decide(self, request: RequestSpec, ctx: DecisionContext,
                busy: Sequence[str] = ()) -> tuple[int, float, tuple[str, ...]] | None:
        """(host index, its weight, the alternates' names) or None when no host passes.
        ``busy``: hosts left out this time (another scheduler was claiming on them: decided on
        the numpy path, which a busy answer makes rare)."""
        plan = self._plan
        kern = (None if plan is None or self._compiled is False or busy
                else kernel.loaded())
        if kern is not None:
            static = self._static_or_none(request, ctx)
            if static is None or static.size == 0:
                return None
            fleet = self.fleet
            _, _, order, ptr, _ = self._sc
            k = plan.decide(kern, fleet, request, ctx.now, static.classes, order, ptr)
            if k == 0:
                return None
            if self.config.host_subset_size == 1:
                out = plan.out
                picks = out[:k] if k < out.size else out
                hosts = fleet.buf_i[picks].tolist()  # (Python ints: no numpy scalar per name)
                names = fleet.names
                return (hosts[0], fleet.buf_f.item(1, out.item(0)),
                        tuple([names[h] for h in hosts[1:]]))
            cand, total = fleet.buf_i[:k], fleet.buf_f[1, :k]
            # the kernel's candidates come class by class: in host order for the draw below,
            # so that it picks as the numpy path does (a copy: this option only)
            by_name = np.argsort(cand, kind="stable")
            cand, total = cand[by_name], total[by_name]
            j = 0
        else:
            cand = self._candidates(request, ctx)
            if busy and cand.size:
                skip = [self.fleet.index[n] for n in busy if n in self.fleet.index]
                cand = cand[~np.isin(cand, skip)]
            if cand.size == 0:
                return None
            total = self._weights(request, cand)
            j = int(total.argmax())  # first of the best = smallest name (hosts sorted by name)
        k = self.config.host_subset_size
        if k > 1 and cand.size > 1:  # one of the k best, at random (Nova's host_subset_size)
            best = (np.argpartition(total, -k)[-k:] if k < cand.size
                    else np.arange(cand.size))
            j = int(best[self._rng.randrange(best.size)])
        return int(cand[j]), float(total[j]), self._alternates(cand, total, j)

    def _alternates(self, cand: np.ndarray, total: np.ndarray, j: int) -> tuple[str, ...]:
        """The next ``config.alternates`` candidates after ``j``, by weight then name (the
        reference's order): argmax again with each pick masked out -- argmax takes the first of
        equal maxima, the smallest name. A few microseconds per pick; alternates are few
        (Nova's default max_attempts is 3)."""
        k = min(self.config.alternates, cand.size - 1)
        if k <= 0:
            return ()
        rest = self.fleet.buf_f[0, :total.size]  # (total is row 1: no fleet-sized copy)
        np.copyto(rest, total)
        rest[j] = -np.inf
        out = []
        taken = {j}
        for _ in range(k):
            i = int(rest.argmax())
            if i in taken:  # every total left is -inf, as the picks are: the reference takes
                i = next(t for t in range(cand.size) if t not in taken)  # those by name
            taken.add(i)
            out.append(self.fleet.names[int(cand[i])])
            rest[i] = -np.inf
        return tuple(out)

    def _usage_could_help(self, request: RequestSpec, ctx: DecisionContext) -> bool:
        """Whether fresher usage could make a host pass: not when no host passes the static
        filters, nor when the request exceeds every such host's limit even with nothing used
        (a refresh changes usage only). Spares a fleet-wide usage read on those failures."""
        if not self._within(request, self.fleet.max_limit):
            return False  # beyond every host's limit: no static mask needed to say so
        sidx = self._static_candidates(request, ctx)
        if sidx.size == 0:
            return False
        return self._within(request, self.fleet.limit[sidx].max(axis=0))

    @staticmethod
    def _within(request: RequestSpec, top: np.ndarray) -> bool:
        return bool(request.vcpus <= top[VCPU] and request.ram_mib <= top[RAM]
                    and request.disk_gib <= top[DISK])

    def _no_valid_host(self, request: RequestSpec, ctx: DecisionContext,
                       note: str = "") -> NoValidHost:
        """NoValidHost whose summary is built when first read, from the usage the decision saw
        (Fleet.watch: copied only when the fleet changes before the summary is read)."""
        view = self.fleet.watch()
        return NoValidHost(lambda: self._summary_of(view, request, ctx), note)

    def _summary_of(self, view: FrozenView, request: RequestSpec, ctx: DecisionContext) -> str:
        with self._lock:  # no change can freeze the view meanwhile
            if view.frozen is None:
                return self._summary(request, ctx, view.live)
        snap = view.frozen
        with snap.summary_lock:  # its caches: several summaries may share one snapshot
            return self._summary(request, ctx, snap)

    def _summary(self, request: RequestSpec, ctx: DecisionContext,
                 fleet: Fleet | None = None) -> str:
        """The reference summary, computed from the columns: each rejected host counted once,
        under its first failing filter in configured order."""
        fleet = fleet if fleet is not None else self.fleet
        remaining = np.ones(fleet.n, dtype=bool)
        pairs: list[tuple[Reason, int]] = []
        for f in self.filters:
            if isinstance(f, StaticFilter):
                m = f.mask(fleet, request, ctx, within=remaining)
            else:
                m = f.mask(fleet, request, ctx)
            if m is None:
                continue
            rejected = remaining & ~m
            if rejected.any():
                pairs.extend(f.summarise(fleet, request, ctx, np.flatnonzero(rejected)))
                remaining &= m
        return format_summary(int(remaining.sum()), fleet.n, pairs)

    # --- public ----------------------------------------------------------------------------------

    def passing(self, request: RequestSpec, now: float) -> list[str]:
        with self._lock:
            cand = self._candidates(request, DecisionContext(now))
            return [self.fleet.names[int(i)] for i in cand]

    def scores(self, request: RequestSpec, now: float) -> dict[str, float]:
        """Total weight per candidate host (for tests and debugging)."""
        with self._lock:
            cand = self._candidates(request, DecisionContext(now))
            if cand.size == 0:
                return {}
            total = self._weights(request, cand)
            return {self.fleet.names[int(i)]: float(t) for i, t in zip(cand, total)}

    def explain(self, request: RequestSpec, now: float | None = None) -> Explanation:
        ctx = DecisionContext(time.time() if now is None else now)
        with self._lock:
            views = self.fleet.views()
        return explain(self.filters, self.weighers, views, request, ctx)

    def select(self, request: RequestSpec, now: float | None = None) -> Placement:
        """Choose and claim a host for each of the request's instances, all or none."""
        ctx = DecisionContext(time.time() if now is None else now)
        like = tuple(self.fleet.like_values(request))
        if request.num_instances == 1:  # (the usual: no lists to gather, nothing to undo)
            claim, weight, n, alts = self._place_one(request, ctx, like)
            return Placement((claim.host,), (claim,), (weight,), n, like, (alts,))
        chosen: list[str] = []
        claims: list[Claim] = []
        weights: list[float] = []
        alternates: list[tuple[str, ...]] = []
        attempts = 0
        try:
            for _ in range(request.num_instances):
                claim, weight, n, alts = self._place_one(with_group_members(request, chosen),
                                                         ctx, like)
                attempts += n
                chosen.append(claim.host)
                claims.append(claim)
                weights.append(weight)
                alternates.append(alts)
        except NoValidHost:
            for c in claims:
                self._release_one(c, like)
            raise
        return Placement(tuple(chosen), tuple(claims), tuple(weights), attempts, like,
                         tuple(alternates))

    def release(self, placement: Placement) -> None:
        """Give back a placement's claims (a build that failed, or instances deleted)."""
        for c in placement.claims:
            self._release_one(c, placement.like_values)

    def _release_one(self, claim: Claim, like) -> None:
        usage = self.claims.release(claim)
        with self._lock:
            i = self.fleet.index.get(claim.host)
            if i is not None:
                self.fleet.count_like(i, like, -1)
                self.fleet.apply_usage(i, usage)

    def _place_one(self, request: RequestSpec, ctx: DecisionContext,
                   like) -> tuple[Claim, float, int, tuple[str, ...]]:
        refreshed = waited = False
        attempts = 0
        # hosts another scheduler was claiming on when we tried (refused at once, not waited
        # for: kumo.scheduler.claims.Claim.skip_busy): the next best is tried instead, so two
        # controllers that chose the same host do not queue on its row; when only busy hosts
        # are left, or after BUSY_SKIPS of them, the claim waits for the row as before
        busy: list[str] = []
        patient = False
        vcpus, ram_mib, disk_gib = request.vcpus, request.ram_mib, request.disk_gib
        while True:
            with self._lock:
                fleet = self.fleet
                pick = self._decide(request, ctx, busy)
                if pick is None and busy:
                    busy.clear()
                    patient = True
                    continue
                if pick is None:
                    if self._in_flight and not waited:
                        # our own claims in flight hold capacity they may not get: wait for
                        # those (not for claims started later), then decide again
                        target = self._settled_total + self._in_flight
                        deadline = time.monotonic() + SETTLE_TIMEOUT_S
                        self._waiting += 1
                        try:
                            while self._settled_total < target and time.monotonic() < deadline:
                                self._settled.wait(max(0.0, deadline - time.monotonic()))
                        finally:
                            self._waiting -= 1
                        waited = True
                        continue
                    if (self.config.refresh_on_failure and not refreshed
                            and self._usage_could_help(request, ctx)):
                        # only the hosts the static filters pass: usage cannot help the others
                        self._refresh_locked(self._static_candidates(request, ctx))
                        refreshed = True
                        continue
                    raise self._no_valid_host(request, ctx)
                if attempts >= self.config.max_claim_attempts:
                    raise self._no_valid_host(
                        request, ctx, f"{attempts} claims lost races with other schedulers")
                attempts += 1
                i, weight, alternates = pick
                limit = fleet.limit[i].tolist()
                # (our own claims in flight on the host: wait for them, as packing expects)
                skip_busy = not patient and not fleet.has_pending(i)
                claim = Claim(fleet.names[i], vcpus, ram_mib, disk_gib,
                              limit[VCPU], limit[RAM], limit[DISK], 1, None, skip_busy)
                delta = (vcpus, ram_mib, disk_gib, 1)
                fleet.reserve(i, delta, like)
                self._in_flight += 1
            try:
                result = self.claims.claim(claim)
            except BaseException:
                with self._lock:
                    fleet.unreserve(i, delta, like)
                    self._in_flight -= 1
                    self._settled_total += 1
                    if self._waiting:
                        self._settled.notify_all()
                raise
            with self._lock:
                if fleet is self.fleet:
                    fleet.settle(i, delta, like, result.ok, result.usage)
                else:  # the inventory was replaced meanwhile: tell the new fleet
                    j = self.fleet.index.get(claim.host)
                    if j is not None:
                        if result.ok:
                            self.fleet.count_like(j, like, +1)
                        self.fleet.apply_usage(j, result.usage)
                self._in_flight -= 1
                self._settled_total += 1
                if self._waiting:  # (notify_all costs even when no one waits)
                    self._settled.notify_all()
            if result.ok:
                return claim, weight, attempts, alternates
            if result.busy:  # not refused for want of room: no lost race counted
                attempts -= 1
                busy.append(claim.host)
                patient = len(busy) >= BUSY_SKIPS
