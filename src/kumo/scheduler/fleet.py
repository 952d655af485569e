"""The fleet as columns: one numpy array per attribute the columnar plugins read.

Hosts are sorted by name, so a host's index order is its name order and "the first of the best"
(numpy's argmax) is the deterministic tie-break: equal weights go to the smallest host name.

Usage is cached here as ``base`` (the claim store's last word per host, with its generation)
plus ``pending`` (this process's claims in flight), so ``used = base + pending`` and the free
arrays the filters and weighers read are ``limit - used``. The static part of each host stays
available as the ``HostView`` it was built from; ``view(i)`` gives it with current usage.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Hashable, Iterable, Mapping, Sequence

import numpy as np

from kumo.errors import InvalidInput
from kumo.scheduler.claims import HostUsage
from kumo.scheduler.columns import HostColumns, LazyViews, encode
from kumo.scheduler.model import (HostView, aggregate_floats, effective_ratio, request_value,
                                  resource_limit)

if TYPE_CHECKING:  # pragma: no cover
    from kumo.scheduler.plugins import StaticFilter

#: resource columns: (name in HostView, aggregate ratio key, ratio attribute)
RESOURCES = (("vcpus", "cpu_allocation_ratio"), ("ram_mib", "ram_allocation_ratio"),
             ("disk_gib", "disk_allocation_ratio"))
VCPU, RAM, DISK, INSTANCES = 0, 1, 2, 3
#: columns of ``Fleet.mirror``, one row per host: the live heartbeat, free vCPU/RAM/disk (three
#: columns from P_FREE), minus the instance count, the host's kind code, then the like-image
#: counts (column P_LIKE + ``like_rows[pair]``)
P_HEARTBEAT, P_FREE, P_NEG_INSTANCES, P_KIND, P_LIKE = 0, 1, 4, 5, 6
MASK_CACHE_SIZE = 256
#: per-class answers kept (one small array per static filter and distinct request_key)
ANSWER_CACHE_SIZE = 4096
#: a static filter with at most this many classes is answered for all of them at once
EAGER_CLASSES = 16
#: and at most this many bytes of cached candidate arrays (at 100,000 hosts an array of every
#: host's index is 800 kB: the count alone would not bound the memory)
MASK_CACHE_BYTES = 64 * 2**20
#: and at most this many bytes of the classes the static filters but the last pass (one
#: bool per static class each: 4,096 entries at 4,096 classes)
PREFIX_CACHE_BYTES = 16 * 2**20


#: a host's pending row when no claim of ours is in flight on it
_NOTHING = (0, 0, 0, 0)
#: an incremental read with at most this many changed rows is applied host by host
_FEW_USAGES = 16


def host_limits(host: HostView) -> tuple[tuple[int, float, int], ...]:
    """(capacity, effective ratio, limit) for vCPU, RAM, disk."""
    out = []
    for attr, key in RESOURCES:
        cap = getattr(host, attr)
        ratio = effective_ratio(host, key, getattr(host, key))
        out.append((cap, ratio, resource_limit(cap, ratio)))
    return tuple(out)


def _bad_metadata(hosts: Sequence[HostView], keys: Iterable[str]) -> list[str]:
    warnings = []
    keys = tuple(keys)
    seen = set()
    for h in hosts:
        for agg in h.aggregates:
            if agg.name in seen:
                continue
            seen.add(agg.name)
            for k in keys:
                raw = agg.metadata.get(k)
                if raw is None:
                    continue
                try:
                    float(raw)
                except ValueError:
                    warnings.append(f"aggregate {agg.name}: {k}={raw!r} is not a number; ignored")
    return warnings


class Fleet:
    def __init__(self, hosts: "Iterable[HostView] | HostColumns", track_properties: Sequence[str] = (),
                 multiplier_keys: Iterable[str] = ()):
        """``hosts``: views, or columns (kumo.scheduler.columns: a fleet read from the database
        builds no view per host; ``hosts[i]`` is then made when something asks for it)."""
        cols = hosts if isinstance(hosts, HostColumns) else HostColumns.from_views(hosts)
        own = cols.own
        #: what the fleet was built from (the static per-host fields: StaticFilter.HOST_FIELDS)
        self.columns = cols
        self.hosts: Sequence[HostView] = (cols.views if cols.views is not None
                                          else LazyViews(cols))
        self.names = own.names
        self.index = dict(zip(self.names, range(len(self.names))))
        if len(self.index) != len(self.names):
            dupes = sorted({n for n in self.names if self.names.count(n) > 1})
            raise InvalidInput(f"host names must be unique; repeated: {', '.join(dupes)}")
        n = self.n = len(self.names)
        self.track = tuple(track_properties)
        #: host kinds (HostView.kind): a code per host and one view per code
        self.kind_codes = cols.kind_codes
        self.kinds: list[HostView] = list(cols.kinds)
        self.capacity = own.capacity
        # aggregate ratio overrides per kind (aggregates are the kind's), the limits as one
        # array expression: floor(capacity * ratio), as host_limits computes them
        self.ratio = own.ratio
        if n:
            agg = np.array([[min(v) if (v := aggregate_floats(kind, key)) else np.nan
                             for _, key in RESOURCES] for kind in self.kinds],
                           dtype=np.float64)
            a = agg[self.kind_codes]
            self.ratio = np.where(np.isnan(a), own.ratio, a)
        self.limit = np.floor(self.capacity * self.ratio).astype(np.int64)
        self.base = own.usage.copy()
        #: per host with claims of ours in flight, what they add (vCPU, RAM, disk, instances)
        #: as Python ints -- a claim changes one host's few numbers, where numpy's per-element
        #: overhead costs more than the arithmetic (``pending``: the same as an array)
        self._pending: dict[int, list[int]] = {}
        self.generation = cols.generation.copy()
        self.heartbeat = own.heartbeat.copy()
        self.forced_down = own.forced_down.copy()
        #: the heartbeat, NaN when forced down: ComputeUp's one column (NaN compares False)
        self.live_heartbeat = np.where(self.forced_down, np.nan, self.heartbeat)
        #: the largest limit per resource over every host (a request beyond it fits nowhere)
        self.max_limit = (self.limit.max(axis=0) if n else np.full(3, -1, dtype=np.int64))
        #: free units per resource row (float64: exact for integers below 2**53)
        self.free = (self.limit - self.base[:, :3]).T.astype(np.float64).copy()
        #: minus the instance count (the InstanceCount weigher's score)
        self.neg_instances = -(self.base[:, INSTANCES].astype(np.float64))
        # the compiled kernel's copy of these columns, one row per host (Fleet.mirror)
        self._mirror: np.ndarray | None = None
        #: flat memoryviews of the usage columns a claim writes (Fleet._set_used), made on
        #: first use and again whenever one of the arrays is replaced
        self._writers: _Writers | None = None
        self._mirror_pos: np.ndarray | None = None
        self._mirror_row: list[int] = []
        self._mirror_order: np.ndarray | None = None
        #: (property, value) -> instances per host whose image has that value
        self.like_counts: dict[tuple[str, str], np.ndarray] = {}
        #: (property, value) -> its column in the mirror (P_LIKE + it)
        self.like_rows: dict[tuple[str, str], int] = {}
        tracked = set(self.track)
        for i, counts in sorted(cols.counts.items()):
            for prop, values in counts.items():
                if prop not in tracked:
                    continue
                for value, count in values.items():
                    self._like_col((prop, value))[i] = count
        # (a host's aggregates are its kind's)
        self.warnings = _bad_metadata(self.kinds,
                                      [k for _, k in RESOURCES] + list(multiplier_keys))
        self._classes: dict[str, tuple[np.ndarray, list[HostView]]] = {}
        self._static_classes: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._static_members: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._cache: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._answers: OrderedDict[Hashable, list] = OrderedDict()
        #: Fleet.static_answers': per (filter, request_key), (static classes' codes under the
        #: filter, the answers gathered onto the static classes, the prefixes answered)
        self._static_answers: OrderedDict[Hashable, tuple] = OrderedDict()
        #: their gathered answers, one array per distinct content (by its bytes)
        self._distinct_answers: dict[bytes, np.ndarray] = {}
        #: Fleet.static_set's: per pair of arrays' ids, (the arrays, their static set)
        self._sets: OrderedDict[tuple[int, int], tuple] = OrderedDict()
        self._cache_bytes = 0
        #: per request keys of the static filters but the last, the classes they pass
        #: (Scheduler._static_set): a bool per static class each, at most PREFIX_CACHE_BYTES
        self._prefix: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        # work buffers for one decision at a time (the engine decides under its lock): no
        # fleet-sized allocation per decision. Rows of buf_b: candidates, a filter's answer;
        # buf_f: a filter's scratch / per-host multipliers, total weight, one weigher's
        # normalised score, one weigher's raw score; buf_i: candidate indices.
        #: lazy NoValidHost summaries still alive that read this fleet as it is (FrozenView)
        self._watchers: list[weakref.ref] = []
        self.buf_b = np.empty((3, n), dtype=bool)
        self.buf_f = np.empty((4, n), dtype=np.float64)
        self.buf_i = np.empty(n, dtype=np.int64)

    # --- static classes and cached masks -------------------------------------------------------

    def classes(self, f: "StaticFilter") -> tuple[np.ndarray, list[HostView]]:
        """Hosts dictionary-encoded by ``f.host_key``: a code per host and one host per code."""
        got = self._classes.get(f.NAME)
        if got is None:
            reps: list[HostView] = []
            if f.KIND_ONLY:  # a key per kind, gathered
                codes = _keys(f, self.kinds, reps)[self.kind_codes]
            elif f.HOST_FIELDS is not None:  # a key per distinct value of those fields, whose
                # first host's view stands for it
                per_host, firsts = encode(zip(*(self.columns.own.column(name)
                                                for name in f.HOST_FIELDS)))
                codes = _keys(f, (self.hosts[i] for i in firsts), reps)[per_host]
            else:
                codes = _keys(f, self.hosts, reps)
            got = self._classes[f.NAME] = (codes, reps)
        return got

    def static_classes(self, filters: "Sequence[StaticFilter]") -> tuple[np.ndarray, np.ndarray]:
        """Hosts encoded by their class under every filter of ``filters`` at once: a code per
        host, and per code the class it has under each filter (columns in ``filters`` order)."""
        key = tuple(f.NAME for f in filters)
        got = self._static_classes.get(key)
        if got is None:
            if self.n == 0:
                got = (np.zeros(0, dtype=np.int64), np.zeros((0, len(filters)), np.int64))
            elif not filters:
                got = (np.zeros(self.n, dtype=np.int64), np.zeros((1, 0), np.int64))
            else:
                table, codes = _distinct_rows([self.classes(f) for f in filters])
                # (Fortran order: a filter's column is contiguous, read once per cold request)
                got = (codes, np.asfortranarray(table))
            self._static_classes[key] = got
        return got

    def static_members(self, filters: "Sequence[StaticFilter]") -> tuple[np.ndarray, np.ndarray]:
        """The hosts grouped by ``static_classes`` code: ``order`` (host indices, ascending
        within a class) and ``ptr`` -- class c's hosts are ``order[ptr[c]:ptr[c + 1]]``. What
        the compiled kernel walks: a request's static candidates are a list of classes."""
        key = tuple(f.NAME for f in filters)
        got = self._static_members.get(key)
        if got is None:
            codes, table = self.static_classes(filters)
            order = np.argsort(codes, kind="stable").astype(np.int64)
            ptr = np.zeros(table.shape[0] + 1, dtype=np.int64)
            np.cumsum(np.bincount(codes, minlength=table.shape[0]), out=ptr[1:])
            got = self._static_members[key] = (order, ptr)
        return got

    def class_answers(self, f: "StaticFilter", request, ctx,
                      used: np.ndarray | tuple[np.ndarray, np.ndarray],
                      request_key: Hashable | None = None) -> np.ndarray:
        """Per class of ``fleet.classes(f)``, whether ``f`` passes it for ``request``, answered
        for (at least) the classes in ``used`` (codes, or (codes, mask): the codes where mask
        holds, selected only if needed; the others may read False). ``request_key``:
        ``f.request_key(request)`` when the caller has it already.

        Kept per (filter, request_key), and filled in as requests need more classes: a static
        mask missing from the cache costs only the classes no request with the same key asked
        about before (a zone, an image or a flavor shared with earlier requests is answered).
        A filter with few classes (HostEnabled, AvailabilityZone, ...) is answered for all of
        them at once, so its answer is complete and later requests skip the bookkeeping; the
        guest policy, with dozens of capability classes, runs only for the classes needed."""
        return self._answer_entry(f, request, ctx, used, request_key)[0]

    def _answer_entry(self, f: "StaticFilter", request, ctx,
                      used: np.ndarray | tuple[np.ndarray, np.ndarray],
                      request_key: Hashable | None) -> list:
        """``class_answers``' cache entry for (``f``, request_key): [answers per class, which
        classes are answered, whether all are], filled in for the classes ``used``."""
        key = (f.NAME, f.request_key(request) if request_key is None else request_key)
        got = self._answers.get(key)
        if got is None:
            n_classes = len(self.classes(f)[1])
            ans, done = np.zeros(n_classes, dtype=bool), np.zeros(n_classes, dtype=bool)
            if n_classes <= EAGER_CLASSES:
                ans[:] = f.class_ok(self, request, ctx, range(n_classes))
                done[:] = True
            got = [ans, done, n_classes <= EAGER_CLASSES]
            self._answers[key] = got
            if len(self._answers) > ANSWER_CACHE_SIZE:
                self._answers.popitem(last=False)
        else:
            self._answers.move_to_end(key)
        ans, done, complete = got
        if complete:
            return got
        if isinstance(used, tuple):
            used = used[0][used[1]]
        missing = used[~done[used]]
        if missing.size:
            # the distinct class codes, sorted: np.unique would do, but numpy 2's unique asks
            # np.ma.is_masked and so imports numpy.ma (~15 ms) on a fresh process's first
            # placement (a CLI create's cold start)
            needed = np.flatnonzero(np.bincount(missing))
            ans[needed] = f.class_ok(self, request, ctx, needed.tolist())[needed]
            done[needed] = True
            got[2] = bool(done.all())
        return got

    def static_answers(self, f: "StaticFilter", request, ctx, fcodes: np.ndarray,
                       within: np.ndarray, within_key: Hashable,
                       request_key: Hashable) -> np.ndarray:
        """``class_answers`` of ``f`` gathered onto the static classes (``fcodes``: each static
        class's class under ``f``, a column of ``static_classes``' table): per static class,
        whether ``f`` passes it -- answered at least where ``within`` holds (the others may
        read False). ``within_key`` names ``within`` (equal keys, equal arrays: the prefix's
        request keys, Scheduler._static_set).

        Kept per (``f``, ``request_key``) with the ``within_key``s it has answered: a cold
        static mask whose last filter's request key and prefix came before (the usual case: a
        spread of images, flavors and zones repeats each) costs a look-up here instead of a
        gather and the bookkeeping of which classes still need an answer. Read only."""
        key = (f.NAME, request_key)
        got = self._static_answers.get(key)
        if got is not None:
            if got[0] is fcodes and (got[2] is None or within_key in got[2]):
                self._static_answers.move_to_end(key)
                return got[1]
            if got[0] is not fcodes:
                got = None
        entry = self._answer_entry(f, request, ctx, (fcodes, within), request_key)
        gathered = entry[0].take(fcodes)
        if entry[2]:  # every class answered: right for any within
            covered = None
        else:
            covered = {within_key}
            if got is not None and got[2] is not None and len(got[2]) < 64:
                # (answers are facts: where either array answered, it answered right -- the
                # class answers may have been forgotten and asked again since)
                np.logical_or(gathered, got[1], out=gathered)
                covered |= got[2]
        gathered.flags.writeable = False
        # one array per distinct content (the policy's verdict rarely depends on the flavor's
        # sizes): Fleet.static_set shares the static sets of requests that differ only there
        distinct = self._distinct_answers
        if len(distinct) >= ANSWER_CACHE_SIZE:
            distinct.clear()
        gathered = distinct.setdefault(gathered.tobytes(), gathered)
        self._static_answers[key] = (fcodes, gathered, covered)
        self._static_answers.move_to_end(key)
        if len(self._static_answers) > ANSWER_CACHE_SIZE:
            self._static_answers.popitem(last=False)
        return gathered

    def static_set(self, within: np.ndarray, answers: np.ndarray, codes: np.ndarray,
                   sizes: np.ndarray) -> "StaticSet":
        """The static set of the static classes where ``within`` and ``answers`` both hold
        (``codes``, ``sizes``: StaticSet's), one per pair of arrays -- read-only arrays the
        fleet keeps (``prefix_get``'s and ``static_answers``', the latter one per distinct
        content): requests whose keys differ but whose prefix and answers are the same share
        one (a StaticSet is read only), and a cold static mask then costs a look-up here, not
        the set's arrays."""
        key = (id(within), id(answers))
        got = self._sets.get(key)
        # (the entry holds both arrays: while it exists, no other array can take their ids)
        if got is not None and got[0] is within and got[1] is answers:
            self._sets.move_to_end(key)
            return got[2]
        made = StaticSet(np.logical_and(within, answers), codes, sizes)
        self._sets[key] = (within, answers, made)
        if len(self._sets) > MASK_CACHE_SIZE:
            self._sets.popitem(last=False)
        return made

    def prefix_get(self, key: Hashable) -> np.ndarray | None:
        """The static classes every static filter but the last passes for requests with
        those filters' ``key`` (read only), or None."""
        ok = self._prefix.get(key)
        if ok is not None:
            self._prefix.move_to_end(key)
        return ok

    def prefix_put(self, key: Hashable, ok: np.ndarray) -> None:
        self._prefix[key] = ok
        while len(self._prefix) * max(1, ok.nbytes) > PREFIX_CACHE_BYTES and self._prefix:
            self._prefix.popitem(last=False)

    def cache_get(self, key: Hashable) -> np.ndarray | None:
        m = self._cache.get(key)
        if m is not None:
            self._cache.move_to_end(key)
        return m

    def cache_put(self, key: Hashable, mask: np.ndarray) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= old.nbytes
        self._cache[key] = mask
        self._cache_bytes += mask.nbytes
        while self._cache and (len(self._cache) > MASK_CACHE_SIZE
                               or self._cache_bytes > MASK_CACHE_BYTES):
            _, dropped = self._cache.popitem(last=False)
            self._cache_bytes -= dropped.nbytes

    # --- usage ----------------------------------------------------------------------------------

    @property
    def pending(self) -> np.ndarray:
        """Our claims in flight per host, (hosts, 4): vCPU, RAM, disk, instances (a copy)."""
        return self._pending_at(np.arange(self.n))

    def _pending_at(self, ix: np.ndarray) -> np.ndarray:
        """``pending[ix]`` without a fleet-sized array: few hosts have claims in flight."""
        out = np.zeros((len(ix), 4), dtype=np.int64)
        pend = self._pending
        if pend:
            if len(pend) * 8 < len(ix):
                for i, row in pend.items():
                    out[ix == i] = row
            else:
                for k, i in enumerate(ix.tolist()):
                    row = pend.get(i)
                    if row is not None:
                        out[k] = row
        return out

    def used(self, i: int) -> np.ndarray:
        return self.base[i] + np.array(self._pending.get(i, _NOTHING), dtype=np.int64)

    def _recompute(self, i: int) -> None:
        self._set_used(i, self.base[i].tolist(), self._pending.get(i, _NOTHING))

    def _set_used(self, i: int, b: Sequence[int], p: Sequence[int]) -> None:
        """Host ``i``'s free and instance columns (and the mirror's) from its ``base`` row
        ``b`` and ``pending`` row ``p`` (Python ints: one host's handful of numbers costs less
        than numpy's per-call overhead)."""
        limit = self.limit[i].tolist()
        fv, fr, fd = limit[0] - b[0] - p[0], limit[1] - b[1] - p[1], limit[2] - b[2] - p[2]
        neg = -float(b[INSTANCES] + p[INSTANCES])
        w = self._writers or self._make_writers()
        free, n = w.free, self.n  # (integers, exact in float64)
        free[i], free[n + i], free[2 * n + i] = fv, fr, fd
        w.neg_instances[i] = neg
        m = w.mirror
        if m is not None:
            r = self._mirror_row[i] * w.mirror_row_step
            o = w.mirror_usage  # (the offsets of P_FREE.. and P_NEG_INSTANCES in a row)
            m[r + o[0]], m[r + o[1]], m[r + o[2]], m[r + o[3]] = fv, fr, fd, neg

    def _make_writers(self) -> "_Writers":
        self._writers = _Writers(self)
        return self._writers

    def _add_pending(self, i: int, delta: Sequence[int], sign: int) -> Sequence[int]:
        """``pending[i] += sign * delta``; the new row."""
        pend = self._pending
        row = pend.get(i, _NOTHING)
        row = [row[0] + sign * delta[0], row[1] + sign * delta[1], row[2] + sign * delta[2],
               row[3] + sign * delta[3]]
        if row[0] or row[1] or row[2] or row[3]:
            pend[i] = row
        else:
            pend.pop(i, None)
        return row

    def has_pending(self, i: int) -> bool:
        """Whether a claim of ours is in flight on host ``i``."""
        return i in self._pending

    def _take_usage(self, i: int, usage: HostUsage) -> tuple[int, int, int, int] | None:
        """The store's ``usage`` as host ``i``'s base row, unless the fleet holds a newer
        generation: the row written (Python ints), or None. The caller recomputes the host."""
        if usage.generation < self.generation.item(i):
            return None
        b = (usage.vcpus, usage.ram_mib, usage.disk_gib, usage.instances)
        base, k = (self._writers or self._make_writers()).base, 4 * i
        base[k], base[k + 1], base[k + 2], base[k + 3] = b
        self.generation[i] = usage.generation
        return b

    def apply_usage(self, i: int, usage: HostUsage) -> None:
        """The store's usage for host ``i``, unless the cache already holds a newer one."""
        if self._watchers:
            self._freeze_watchers()
        b = self._take_usage(i, usage)
        if b is not None:
            self._set_used(i, b, self._pending.get(i, _NOTHING))

    def apply_usages(self, usages: Mapping[str, HostUsage]) -> None:
        """``apply_usage`` for many hosts at once (a full refresh from the store, or the rows
        an incremental read found changed)."""
        if self._watchers:
            self._freeze_watchers()
        if len(usages) <= _FEW_USAGES:
            # the usual incremental read: a claim or two since the last placement (one of
            # another controller's). Host by host in Python ints: the vectorised path below
            # makes ten numpy calls whatever the count: 44 us per placement, against 9 here
            index = self.index
            for name, u in usages.items():
                i = index.get(name)
                if i is not None:
                    self.apply_usage(i, u)
            return
        idx, rows, gens = [], [], []
        for name, u in usages.items():
            i = self.index.get(name)
            if i is not None:
                idx.append(i)
                rows.append((u.vcpus, u.ram_mib, u.disk_gib, u.instances))
                gens.append(u.generation)
        if not idx:
            return
        ix = np.array(idx, dtype=np.int64)
        g = np.array(gens, dtype=np.int64)
        newer = g >= self.generation[ix]
        ix = ix[newer]
        self.base[ix] = np.array(rows, dtype=np.int64)[newer]
        self.generation[ix] = g[newer]
        self._recompute_at(ix)

    def _recompute_at(self, ix: np.ndarray) -> None:
        """``_recompute`` for the hosts ``ix`` (indices) at once: their free and instance
        columns, and the mirror's, from their base and pending rows."""
        used = self.base[ix] + self._pending_at(ix)
        for k in range(3):
            self.free[k, ix] = (self.limit[ix, k] - used[:, k]).astype(np.float64)
        self.neg_instances[ix] = -(used[:, INSTANCES].astype(np.float64))
        self._sync_usage(ix)

    def like_values(self, request) -> list[tuple[str, str]]:
        """(property, value) pairs of ``request`` (a RequestSpec) for the tracked properties,
        resolved ones (os_type) from its facts."""
        out = []
        for p in self.track:
            v = request_value(request, p)
            if v is not None:
                out.append((p, v))
        return out

    def mirror(self, order: np.ndarray) -> np.ndarray:
        """Every per-host column a decision reads (P_* columns: live heartbeat, free, minus
        instances, kind, like-image counts) in one row per host, rows in ``order`` (a
        permutation of the hosts: Fleet.static_members'), built on first use and kept in step
        with every change from then on. What the compiled kernel walks: a static class's hosts
        are adjacent rows, so each column of theirs is one contiguous run (column-major), read
        in sequence (at 100,000 hosts, columns in host order would scatter a class's hosts over
        the fleet, a cache miss each). The numpy path reads the separate columns: it never pays
        for the mirror."""
        if self._mirror is None or self._mirror_order is not order:
            n = self.n
            m = _columns(n, P_LIKE + 2 * max(1, len(self.like_rows)))  # room to grow
            m[:, P_HEARTBEAT] = self.live_heartbeat[order]
            m[:, P_FREE:P_FREE + 3] = self.free[:, order].T
            m[:, P_NEG_INSTANCES] = self.neg_instances[order]
            m[:, P_KIND] = self.kind_codes[order]
            for pv, r in self.like_rows.items():
                m[:, P_LIKE + r] = self.like_counts[pv][order]
            pos = np.empty(n, dtype=np.int64)
            pos[order] = np.arange(n, dtype=np.int64)
            self._mirror, self._mirror_pos, self._mirror_order = m, pos, order
            self._writers = None  # (they write the old mirror's rows)
            #: (as Python ints: one host's row found per claim, without numpy scalars)
            self._mirror_row = pos.tolist()
        return self._mirror

    def _sync_usage(self, ix) -> None:
        """Host(s) ``ix``'s free and instance columns changed: the mirror's too."""
        if self._mirror is not None:
            r = self._mirror_pos[ix]
            self._mirror[r, P_FREE:P_FREE + 3] = self.free[:, ix].T
            self._mirror[r, P_NEG_INSTANCES] = self.neg_instances[ix]

    def _like_col(self, pv: tuple[str, str]) -> np.ndarray:
        """The count column of ``pv``, a new zero column when the fleet has none yet."""
        col = self.like_counts.get(pv)
        if col is None:
            col = self.like_counts[pv] = np.zeros(self.n)
            self.like_rows[pv] = r = len(self.like_rows)
            if self._mirror is not None and P_LIKE + r >= self._mirror.shape[1]:
                self._mirror = self._writers = None  # full: rebuilt, wider, when next asked for
        return col

    def count_like(self, i: int, values: Sequence[tuple[str, str]], delta: int) -> None:
        if self._watchers:
            self._freeze_watchers()
        counts = self.like_counts
        for pv in values:
            col = counts.get(pv)
            if col is None:
                col = self._like_col(pv)
            c = col.item(i) + delta  # (a Python float: numpy scalar arithmetic costs more)
            col[i] = c = c if c > 0.0 else 0.0
            if self._mirror is not None:
                self._mirror[self._mirror_row[i], P_LIKE + self.like_rows[pv]] = c

    def reserve(self, i: int, delta: Sequence[int], like: Sequence[tuple[str, str]]) -> None:
        """A claim of ours is in flight on host ``i``: count it as used now."""
        if self._watchers:
            self._freeze_watchers()
        self._set_used(i, self.base[i].tolist(), self._add_pending(i, delta, +1))
        if like:
            self.count_like(i, like, +1)

    def unreserve(self, i: int, delta: Sequence[int], like: Sequence[tuple[str, str]]) -> None:
        """A claim of ours never reached the store (it raised): forget it."""
        if self._watchers:
            self._freeze_watchers()
        self._add_pending(i, delta, -1)
        self.count_like(i, like, -1)
        self._recompute(i)

    def settle(self, i: int, delta: Sequence[int], like: Sequence[tuple[str, str]],
               ok: bool, usage: HostUsage) -> None:
        """The store answered the claim: drop it from pending, take the store's usage."""
        if self._watchers:
            self._freeze_watchers()
        p = self._add_pending(i, delta, -1)
        if not ok and like:
            self.count_like(i, like, -1)
        b = self._take_usage(i, usage)  # (apply_usage, recomputing once)
        self._set_used(i, self.base[i].tolist() if b is None else b, p)

    def carry_from(self, old: "Fleet") -> None:
        """Take ``old``'s usage (where its generation is newer) and liveness for the hosts both
        fleets have: a rebuilt inventory keeps the claims answered since its views were read.
        (Liveness is not carried: the views are at least as fresh.)"""
        pairs = [(i, old.index[name]) for i, name in enumerate(self.names) if name in old.index]
        if not pairs:
            return
        new_ix = np.array([p[0] for p in pairs], dtype=np.int64)
        old_ix = np.array([p[1] for p in pairs], dtype=np.int64)
        newer = old.generation[old_ix] > self.generation[new_ix]
        take_new, take_old = new_ix[newer], old_ix[newer]
        self.base[take_new] = old.base[take_old]
        self.generation[take_new] = old.generation[take_old]
        self._recompute_at(take_new)

    def set_liveness(self, i: int, heartbeat: float | None, forced_down: bool) -> None:
        """Host ``i``'s heartbeat and forced-down flag: dynamic columns, in no cache key."""
        if self._watchers:
            self._freeze_watchers()
        self.heartbeat[i] = np.nan if heartbeat is None else heartbeat
        self.forced_down[i] = forced_down
        self.live_heartbeat[i] = np.nan if heartbeat is None or forced_down else heartbeat
        if self._mirror is not None:
            self._mirror[self._mirror_row[i], P_HEARTBEAT] = self.live_heartbeat[i]

    # --- what a decision saw ---------------------------------------------------------------------

    def watch(self) -> "FrozenView":
        """This fleet as it is now, for a NoValidHost summary read later: copied only if the
        fleet changes while the view is still alive (copy-on-write). A caller that never reads
        the summary lets the exception, and with it the view, go -- and nothing is copied; one
        that reads it before the next change reads the live columns."""
        view = FrozenView(self)
        if len(self._watchers) >= 64:  # summaries never read and no change since: forget them
            self._watchers = [r for r in self._watchers if r() is not None]
        self._watchers.append(weakref.ref(view))
        return view

    def _freeze_watchers(self) -> None:
        """Before a change: hand the views still alive one snapshot of the fleet as it is."""
        alive = [v for v in (ref() for ref in self._watchers) if v is not None]
        self._watchers.clear()
        if alive:
            snap = self.snapshot()
            for v in alive:
                v.frozen = snap

    def snapshot(self) -> "Fleet":
        """A copy whose dynamic columns (usage, liveness, like-image counts) are frozen as they
        are now and whose static part is shared: what a late NoValidHost summary reads, so it
        describes the decision, not later claims. Copies O(hosts) numbers, builds no views."""
        snap = object.__new__(Fleet)
        snap.__dict__.update(self.__dict__)
        for attr in ("base", "generation", "free", "neg_instances", "heartbeat",
                     "forced_down", "live_heartbeat"):
            setattr(snap, attr, getattr(self, attr).copy())
        snap._pending = {i: list(row) for i, row in self._pending.items()}
        snap.like_counts = {k: v.copy() for k, v in self.like_counts.items()}
        snap.like_rows = dict(self.like_rows)
        snap._mirror = snap._writers = None  # (a summary does not decide)
        # its own caches: it is read outside the scheduler's lock
        snap._classes = dict(self._classes)
        snap._static_classes = dict(self._static_classes)
        snap._static_members = dict(self._static_members)
        snap._cache = OrderedDict(self._cache)
        snap._answers = OrderedDict()  # (the summary does not use them)
        snap._static_answers = OrderedDict()
        snap._distinct_answers = {}
        snap._sets = OrderedDict()
        snap._prefix = OrderedDict()
        snap._watchers = []  # never changed: nothing to freeze
        snap.summary_lock = threading.Lock()
        # (the work buffers are shared: a summary does not decide, it uses none of them)
        return snap

    def view(self, i: int) -> HostView:
        """Host ``i``'s view with the cached usage, liveness and like-image counts."""
        h = self.hosts[i]
        used = self.used(i)
        counts: dict[str, dict[str, int]] = {p: dict(v) for p, v in h.image_property_counts.items()}
        for (p, v), col in self.like_counts.items():
            c = int(col[i])
            if c or v in counts.get(p, {}):
                counts.setdefault(p, {})[v] = c
        hb = float(self.heartbeat[i])
        return h.clone(vcpus_used=int(used[VCPU]), ram_mib_used=int(used[RAM]),
                       disk_gib_used=int(used[DISK]), instances=int(used[INSTANCES]),
                       last_heartbeat=None if np.isnan(hb) else hb,
                       forced_down=bool(self.forced_down[i]), image_property_counts=counts)

    def views(self) -> list[HostView]:
        return [self.view(i) for i in range(self.n)]


def _keys(f: "StaticFilter", views: Iterable[HostView], reps: list[HostView]) -> np.ndarray:
    """``f.host_key`` of each view, dictionary-encoded: a code per view, and in ``reps`` the
    first view of each code."""
    ids: dict[Hashable, int] = {}
    out = []
    for h in views:
        key = f.host_key(h)
        c = ids.get(key)
        if c is None:
            c = ids[key] = len(reps)
            reps.append(h)
        out.append(c)
    return np.array(out, dtype=np.int64)


def _distinct_rows(classes: "list[tuple[np.ndarray, list[HostView]]]"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the hosts' class codes (one column per filter), sorted, and each
    host's row among them: ``np.unique(axis=0, return_inverse=True)``, computed on one integer
    per host (the codes in mixed radix: the integers sort as the rows do), which costs a
    tenth of it (the row-wise unique sorts a structured view of the rows)."""
    radix = [max(1, len(reps)) for _, reps in classes]
    if float(np.prod(np.array(radix, dtype=np.float64))) >= 2.0 ** 62:  # (overflow: rows)
        stacked = np.stack([codes for codes, _ in classes], axis=1)
        table, inverse = np.unique(stacked, axis=0, return_inverse=True)
        return table.astype(np.int64), inverse.reshape(-1).astype(np.int64)
    combined = np.zeros(classes[0][0].shape[0], dtype=np.int64)
    for (codes, _), r in zip(classes, radix):
        combined *= r
        combined += codes
    order = np.argsort(combined, kind="stable")
    ordered = combined[order]
    starts = np.empty(ordered.shape[0], dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    distinct = ordered[starts]
    inverse = np.empty_like(combined)
    inverse[order] = np.cumsum(starts) - 1
    table = np.empty((distinct.shape[0], len(classes)), dtype=np.int64)
    rest = distinct.copy()
    for j in range(len(classes) - 1, -1, -1):
        table[:, j] = rest % radix[j]
        rest //= radix[j]
    return table, inverse


def _columns(n: int, width: int) -> np.ndarray:
    """A zeroed (n, width) float64 array stored column by column (each column contiguous: the
    compiled kernel reads a static class's rows of one column as a run, several per
    instruction)."""
    return np.zeros((width, n)).T


class _Writers:
    """Flat memoryviews of a fleet's usage columns, for writing one host's few numbers: an
    element written through a memoryview costs a third of numpy's indexing (which parses
    the index and converts the value through the array's machinery). Only for arrays the
    fleet keeps for its lifetime (it changes them in place) and the mirror of the moment."""

    __slots__ = ("free", "neg_instances", "base", "mirror", "mirror_row_step", "mirror_usage")

    def __init__(self, fleet: Fleet):
        self.free = _flat(fleet.free)
        self.neg_instances = _flat(fleet.neg_instances)
        self.base = _flat(fleet.base)
        m = fleet._mirror
        self.mirror = None
        if m is not None:
            # row r, column c of the mirror is element r * row step + c * column step of the
            # flat view (row-major or column-major, whichever the kernel reads best)
            row, col = (s // m.itemsize for s in m.strides)
            self.mirror = _flat(m if m.flags.c_contiguous else m.T)
            self.mirror_row_step = row
            self.mirror_usage = tuple(c * col for c in (P_FREE, P_FREE + 1, P_FREE + 2,
                                                        P_NEG_INSTANCES))


def _flat(a: np.ndarray) -> memoryview:
    """A C-contiguous array as a one-dimensional memoryview of its elements."""
    assert a.flags.c_contiguous  # (so the flat view is a view, not a copy)
    return memoryview(a.reshape(-1))


class StaticSet:
    """The hosts every static filter passes for one request (what the static-mask cache
    holds): the static classes that pass (``classes``, ascending codes; the kernel walks their
    members, so a cold request costs a pass over the classes, not over the hosts) and, built
    the first time the numpy path or a refresh asks, the hosts' indices in ascending order."""

    __slots__ = ("classes", "size", "nbytes", "_ok", "_codes", "_idx")

    def __init__(self, ok: np.ndarray, codes: np.ndarray, sizes: np.ndarray):
        """``ok``: per static class, whether it passes; ``codes``: each host's class;
        ``sizes``: each class's host count."""
        classes = ok.nonzero()[0]  # (flatnonzero's wrapper costs twice this)
        classes.flags.writeable = False
        self.classes = classes
        #: how many hosts pass
        self.size = int(np.add.reduce(sizes.take(classes)))
        self._ok, self._codes = ok, codes
        self._idx: np.ndarray | None = None
        #: what the cache counts against its byte budget (the indices included, built or not)
        self.nbytes = classes.nbytes + ok.nbytes + 8 * self.size

    def indices(self) -> np.ndarray:
        if self._idx is None:
            idx = np.flatnonzero(self._ok[self._codes])
            idx.flags.writeable = False
            self._idx = idx
        return self._idx


class FrozenView:
    """A fleet as one decision saw it (``Fleet.watch``): ``frozen`` is None while the fleet has
    not changed since, else a snapshot taken just before the first change."""

    __slots__ = ("live", "frozen", "__weakref__")

    def __init__(self, live: Fleet):
        self.live = live
        self.frozen: Fleet | None = None
