"""One decision as compiled loops over the static candidates (numba), for long-running
processes.

The numpy engine (``Scheduler._candidates`` / ``_weights``) makes about fifty array passes per
decision, each over every static candidate; at 10,000 hosts their per-call overhead and memory
traffic, not arithmetic, bound it to some 6,000-8,000 decisions per CPU-second. This kernel
does the same work in one pass over the candidates (the dynamic filters -- ComputeUp, VCPU,
RAM, Disk, ServerGroup -- with the weighers' raw scores and their minimum and maximum, reading
one row per host of ``Fleet.mirror``), then a pass per weigher for the totals, then the best
and the alternates, all into preallocated buffers. It evaluates the very same floating-point
expressions in the same order as the numpy path and the per-host reference -- ``(raw - lo) *
(multiplier / (hi - lo))`` summed in configured weigher order from 0.0, the first of equal
maxima in host order winning -- so the decisions are bit-for-bit the same
(tests/scheduler/test_equivalence.py runs both paths against the reference). numba's default
is strict IEEE semantics: no fast-math, no contraction into fused multiply-add, no
reassociation.

Why numba and why lazily: importing it costs about half a second and compiling this kernel a
few more (cached on disk after the first time, ``cache=True``), which a one-shot CLI create must
not pay -- its single decision takes a millisecond on the numpy path. So nothing imports this
module's compiler until ``load()`` is called: ``kumo serve`` (and its API workers) call it in
a background thread at start, the benchmarks before measuring, and a ``Scheduler`` left on
``compiled=None`` uses the kernel only once it is loaded in the process.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from kumo.scheduler.fleet import P_FREE, P_HEARTBEAT, P_KIND, P_LIKE, P_NEG_INSTANCES
from kumo.scheduler.model import request_value

#: the compiled function, once ``load`` has run in this process
_KERNEL: Callable[..., int] | None = None
_LOCK = threading.Lock()

#: ServerGroup modes: no constraint, hosts marked are full (anti-affinity), only hosts marked
#: may take it (affinity)
GROUP_NONE, GROUP_BLOCK, GROUP_ONLY = 0, 1, 2


def loaded() -> Callable[..., int] | None:
    """The compiled kernel if ``load`` has run in this process, else None (never compiles)."""
    return _KERNEL


def load() -> Callable[..., int]:
    """Import numba, compile the kernel (or read it from numba's on-disk cache) and run it
    once; every ``Scheduler`` on ``compiled=None`` then uses it. Idempotent, thread-safe."""
    global _KERNEL
    with _LOCK:
        if _KERNEL is None:
            import numba  # lazy: half a second of import a one-shot command never pays

            global _better, _rank
            _better = numba.njit(cache=True, nogil=True, inline="always")(_better)
            _rank = numba.njit(cache=True, nogil=True)(_rank)
            fn = numba.njit(cache=True, nogil=True)(_decide)
            _exercise(fn)
            _KERNEL = fn
    return _KERNEL


def load_in_background(on_error: Callable[[BaseException], None]) -> threading.Thread:
    """``load`` in a daemon thread, for a service starting up: decisions take the numpy path
    until it is done (they are identical), and a failure (numba missing or broken) leaves the
    service on the numpy path, reported through ``on_error``."""
    def run() -> None:
        try:
            load()
        except Exception as e:  # noqa: BLE001 -- any failure leaves the numpy path in place
            on_error(e)

    t = threading.Thread(target=run, name="kumo-scheduler-kernel", daemon=True)
    t.start()
    return t


def _exercise(fn: Callable[..., int]) -> None:
    """Call the kernel on a two-host fleet with the argument types the engine passes, so the
    compile happens here and not inside the first decision."""
    n, w = 2, 2
    classes = np.arange(n, dtype=np.int64)
    classes.flags.writeable = False  # as the engine's cached static sets are
    fn(classes, np.arange(n, dtype=np.int64), np.arange(n + 1, dtype=np.int64),
       np.zeros((n, 8)), 0.0, 60.0, True, np.zeros(3), np.zeros(n, dtype=np.int8), GROUP_NONE,
       np.zeros(1, dtype=np.int64) + P_LIKE, np.ones(1), 1,
       np.array([S_FREE + 1, S_LIKE], dtype=np.int64), np.zeros(w, dtype=np.bool_),
       np.ones(w), np.zeros(n, dtype=np.int64), np.ones((1, w)), np.zeros(1),
       np.zeros(n, dtype=np.int64), np.zeros((N_SOURCES, n)), np.zeros(n, dtype=np.int64),
       np.zeros(N_SOURCES), np.zeros(N_SOURCES), np.zeros(n), np.zeros(n),
       np.zeros(3, dtype=np.int64))


#: rows of the kernel's per-candidate buffer ``src``: the raw scores a weigher can have (free
#: vCPU/RAM/disk from S_FREE, minus the instance count, minus the like-image sum)
S_FREE, S_NEG_INSTANCES, S_LIKE = 0, 3, 4
N_SOURCES = 5
#: a weigher whose raw score is 0 for every host (LikeImages with nothing to count): skipped
S_ZERO = -1


def _better(v: float, i: int, cur: float, j: int) -> bool:
    """Whether total ``v`` of host ``i`` ranks before total ``cur`` of host ``j``: numpy's
    argmax order -- higher first, NaN the highest, of equal ones the smaller host index."""
    if v > cur:
        return True
    if cur != cur:
        return v != v and i < j
    return v != v or (v == cur and i < j)


def _rank(total: Any, cand: Any, k: int, rest: Any, out: Any) -> None:
    """The best of the ``k`` candidates and the alternates, as positions into ``cand`` in
    ``out`` (as many as it has room for, fewer when candidates are fewer): the best as numpy's
    argmax over the candidates in host order takes it -- the highest total, of equal ones the
    smallest host index (= name), NaN counting as the highest -- then the alternates as the
    numpy path takes them, the same again with each pick at -inf.

    That is the first m in that order (a strict one: host indices differ), kept in one pass
    as a short sorted list (m passes over every candidate cost more than the filters at
    100,000 hosts) -- unless a total is -inf, where a pick set to -inf could be picked again:
    then the m passes, as the numpy path makes them (``rest``: their scratch)."""
    m = 1 + min(out.shape[0] - 1, k - 1)
    f = 0
    # once the list is full, the total of its last: a total below it cannot enter, and most
    # totals are below it -- one comparison each instead of _better's several (-inf until the
    # list is full, and a NaN floor, compare false with every total: the long way, as before)
    floor = -np.inf
    for t in range(k):
        v = total[t]
        if v < floor:
            if v == -np.inf:
                f = -1
                break
            continue
        if v == -np.inf:
            f = -1
            break
        if f == m:
            b = out[m - 1]
            if not _better(v, cand[t], total[b], cand[b]):
                continue
            j = m - 1
        else:
            j = f
            f += 1
        while j > 0:  # insert at j, moving down the ones t beats
            b = out[j - 1]
            if not _better(v, cand[t], total[b], cand[b]):
                break
            out[j] = b
            j -= 1
        out[j] = t
        if f == m:
            floor = total[out[m - 1]]
    if f == -1:
        for t in range(k):
            rest[t] = total[t]
        for pick in range(m):
            top = 0
            for t in range(1, k):
                if _better(rest[t], cand[t], rest[top], cand[top]):
                    top = t
            out[pick] = top
            rest[top] = -np.inf


def _decide(classes: Any, order: Any, ptr: Any, rows: Any, now: float, down_time: float,
            use_up: bool, need: Any, marks: Any, group_mode: int,
            like_col: Any, like_coef: Any, n_like: int,
            wsrc: Any, per_kind: Any, mult: Any, row_mcls: Any, mcls_mult: Any, mcls_scale: Any,
            cand: Any, src: Any, mcls: Any, lo: Any, hi: Any, total: Any, rest: Any,
            out: Any) -> int:
    """Decide among the static candidates: the hosts of the static classes ``classes``, class
    c's being ``order[ptr[c]:ptr[c + 1]]`` (Fleet.static_members); host ``order[p]``'s dynamic
    columns are row p of ``rows`` (Fleet.mirror, rows in that order: P_HEARTBEAT, P_FREE..,
    P_NEG_INSTANCES, P_KIND, the like-image counts).

    Writes the candidates (host indices, class by class) into ``cand``, their totals into
    ``total``, the chosen position (into ``cand``) into ``out[0]`` and the alternates'
    positions into ``out[1:]`` (as many as ``out`` has room for, fewer when candidates are
    fewer); returns the candidate count (0: no host passes). Every array is preallocated by
    the caller: nothing is allocated here.

    Filters: ComputeUp when ``use_up`` (``now - heartbeat <= down_time``, NaN -- never
    reported or forced down -- fails), VCPU/RAM/Disk (``free >= need``; a filter not configured
    has need -inf), ServerGroup by ``group_mode`` over ``marks``. Weighers in configured order:
    weigher w's raw score is source ``wsrc[w]`` (S_*; the like-image one is minus the sum of
    ``like_coef[j] * column like_col[j]`` over the first ``n_like``), its multiplier ``mult[w]``
    or, where ``per_kind[w]``, ``mcls_mult[q, w]`` for the host's multiplier class q
    (``row_mcls[p]``: KernelPlan -- hosts whose kinds have the same per-kind multipliers;
    ``mcls_scale``, one per class, and ``mcls``, one per candidate, are scratch).

    (Measured: the passes below -- one over the hosts with straight-line code, then one per
    weigher over contiguous buffers, which vectorise -- are two to five times faster than
    one loop with a loop over the weighers inside.)"""
    need_v, need_r, need_d = need[0], need[1], need[2]
    any_kind = per_kind.any()
    # 1. the dynamic filters; each passing host's raw scores and their minimum and maximum,
    # while its row is at hand (rows[p, col], not a row view: a view per host costs
    # reference counting)
    lo_v = lo_r = lo_d = lo_n = lo_l = np.inf
    hi_v = hi_r = hi_d = hi_n = hi_l = -np.inf
    k = 0
    for c in classes:
        for p in range(ptr[c], ptr[c + 1]):
            if use_up and not (now - rows[p, P_HEARTBEAT] <= down_time):
                continue
            fv, fr, fd = rows[p, P_FREE], rows[p, P_FREE + 1], rows[p, P_FREE + 2]
            if not (fv >= need_v and fr >= need_r and fd >= need_d):
                continue
            i = order[p]
            if group_mode == GROUP_BLOCK and marks[i] != 0:
                continue
            if group_mode == GROUP_ONLY and marks[i] == 0:
                continue
            ni = rows[p, P_NEG_INSTANCES]
            # LikeImages.raw_vector: w1 * count1 (+ w2 * count2 ...), negated
            li = 0.0
            if n_like > 0:
                acc = like_coef[0] * rows[p, like_col[0]]
                for j in range(1, n_like):
                    acc = acc + like_coef[j] * rows[p, like_col[j]]
                li = -acc
            src[S_FREE, k] = fv
            src[S_FREE + 1, k] = fr
            src[S_FREE + 2, k] = fd
            src[S_NEG_INSTANCES, k] = ni
            src[S_LIKE, k] = li
            if any_kind:
                mcls[k] = row_mcls[p]
            lo_v, hi_v = min(lo_v, fv), max(hi_v, fv)
            lo_r, hi_r = min(lo_r, fr), max(hi_r, fr)
            lo_d, hi_d = min(lo_d, fd), max(hi_d, fd)
            lo_n, hi_n = min(lo_n, ni), max(hi_n, ni)
            lo_l, hi_l = min(lo_l, li), max(hi_l, li)
            cand[k] = i
            k += 1
    if k == 0:
        return 0
    lo[S_FREE], lo[S_FREE + 1], lo[S_FREE + 2], lo[S_NEG_INSTANCES], lo[S_LIKE] = (
        lo_v, lo_r, lo_d, lo_n, lo_l)
    hi[S_FREE], hi[S_FREE + 1], hi[S_FREE + 2], hi[S_NEG_INSTANCES], hi[S_LIKE] = (
        hi_v, hi_r, hi_d, hi_n, hi_l)
    # 2. the totals, a pass per weigher in configured order from 0.0, as the numpy path adds
    # them: (raw - lo) * (multiplier / (hi - lo)), nothing for a weigher every candidate
    # scores alike on. A per-kind multiplier's quotient is the same number for every host of
    # a multiplier class: computed once per class (a division per candidate costs more than
    # the rest of its pass), unless the classes outnumber the candidates
    n_cls = mcls_mult.shape[0]
    for t in range(k):
        total[t] = 0.0
    for w in range(wsrc.shape[0]):
        s = wsrc[w]
        if s == S_ZERO:
            continue
        a, b = lo[s], hi[s]
        if a == b:
            continue
        if per_kind[w] and n_cls <= k:
            for q in range(n_cls):
                mcls_scale[q] = mcls_mult[q, w] / (b - a)
            if n_cls <= 4:
                # a few classes (the usual: an aggregate or two setting multipliers): the
                # quotient chosen by comparisons, which vectorise, not a table lookup
                s0 = mcls_scale[0]
                s1 = mcls_scale[1] if n_cls > 1 else s0
                s2 = mcls_scale[2] if n_cls > 2 else s0
                s3 = mcls_scale[3] if n_cls > 3 else s0
                for t in range(k):
                    q = mcls[t]
                    sq = s0 if q == 0 else (s1 if q == 1 else (s2 if q == 2 else s3))
                    total[t] = total[t] + (src[s, t] - a) * sq
            else:
                for t in range(k):
                    total[t] = total[t] + (src[s, t] - a) * mcls_scale[mcls[t]]
        elif per_kind[w]:
            for t in range(k):
                total[t] = total[t] + (src[s, t] - a) * (mcls_mult[mcls[t], w] / (b - a))
        else:
            scale = mult[w] / (b - a)
            for t in range(k):
                total[t] = total[t] + (src[s, t] - a) * scale
    # 3. the best and the alternates
    _rank(total, cand, k, rest, out)
    return k


class KernelPlan:
    """The engine's filters and weighers as the kernel's arguments, with the work buffers of
    one fleet: built once per inventory (``Scheduler.update_hosts``), filled per decision with
    the request's few numbers only.

    ``KernelPlan.of`` answers None when a filter or weigher is not one the kernel knows (a
    plugin registered by someone else): that scheduler keeps the numpy path."""

    def __init__(self, dynamic: list, weighers: list, kind_mults: list, fleet: Any,
                 alternates: int):
        from kumo.scheduler.filters.host import ComputeUp
        from kumo.scheduler.filters.placement import ServerGroup
        from kumo.scheduler.filters.resources import _ResourceFilter
        from kumo.scheduler.weighers import InstanceCount, LikeImages, _FreeWeigher

        n = fleet.n
        self.use_up = False
        self.down_time = 0.0
        self.group = False
        #: the resource filters configured, by column (need is -inf for the others)
        self.resources: list[tuple[int, _ResourceFilter]] = []
        for f in dynamic:
            if isinstance(f, ComputeUp):
                self.use_up = True
                self.down_time = float(f.options["service_down_time"])
            elif isinstance(f, _ResourceFilter):
                self.resources.append((f.COLUMN, f))
            elif isinstance(f, ServerGroup):
                self.group = True
        n_w = len(weighers)
        self.wsrc = np.full(n_w, S_ZERO, dtype=np.int64)
        #: the LikeImages weigher (a name is configured once) and its place
        self.like: tuple[int, LikeImages] | None = None
        n_terms = 1
        for w, (weigher, _) in enumerate(weighers):
            if isinstance(weigher, _FreeWeigher):
                self.wsrc[w] = S_FREE + weigher.COLUMN
            elif isinstance(weigher, InstanceCount):
                self.wsrc[w] = S_NEG_INSTANCES
            elif isinstance(weigher, LikeImages):
                self.like = (w, weigher)
                n_terms = max(1, len(weigher.properties))
        self.like_col = np.zeros(n_terms, dtype=np.int64)
        self.like_coef = np.zeros(n_terms)
        #: per weigher: its multiplier per host kind (aggregates set it), or one for all
        self.per_kind = np.array([isinstance(m, np.ndarray) for m in kind_mults],
                                 dtype=np.bool_)
        self.mult = np.array([0.0 if isinstance(m, np.ndarray) else m for m in kind_mults])
        #: the per-kind multipliers, kept until the first decision turns them into classes
        self._kind_mults = kind_mults
        self._kind_codes = fleet.kind_codes
        #: per multiplier class, per weigher: its multiplier (KernelPlan._classes)
        self.mcls_mult = np.zeros((1, n_w))
        self.mcls_scale = np.empty(1)
        #: each mirror row's multiplier class, for the mirror order it was made for
        self.row_mcls = np.zeros(n, dtype=np.int64)
        self._row_order: np.ndarray | None = None
        self.mcls = np.zeros(n, dtype=np.int64)
        self.need = np.full(3, -np.inf)
        self.marks = np.zeros(n, dtype=np.int8)
        self.src = np.empty((N_SOURCES, n))
        self.lo = np.empty(N_SOURCES)
        self.hi = np.empty(N_SOURCES)
        self.out = np.zeros(1 + alternates, dtype=np.int64)

    @classmethod
    def of(cls, dynamic: list, weighers: list, kind_mults: list, fleet: Any,
           alternates: int) -> "KernelPlan | None":
        """``kind_mults``: per weigher, its multiplier (a float) or, when aggregates set it for
        some hosts, an array of it per host kind (``Fleet.kinds``)."""
        from kumo.scheduler.filters.host import ComputeUp
        from kumo.scheduler.filters.placement import ServerGroup
        from kumo.scheduler.filters.resources import RAM, VCPU, Disk
        from kumo.scheduler.weighers import FreeDisk, FreeRAM, FreeVCPU, InstanceCount, LikeImages

        known_f = (ComputeUp, ServerGroup, VCPU, RAM, Disk)
        known_w = (FreeRAM, FreeVCPU, FreeDisk, InstanceCount, LikeImages)
        # exact types: a subclass may change the rule the kernel hard-codes
        if any(type(f) not in known_f for f in dynamic):
            return None
        if any(type(w) not in known_w for w, _ in weighers):
            return None
        return cls(dynamic, weighers, kind_mults, fleet, alternates)

    def decide(self, kern: Callable[..., int], fleet: Any, request: Any, now: float,
               classes: np.ndarray, order: np.ndarray, ptr: np.ndarray) -> int:
        """Run the kernel for ``request`` on the static candidates (the hosts of ``classes``,
        Fleet.static_members' ``order`` and ``ptr``): the candidate count; candidates in
        ``fleet.buf_i``, totals in ``fleet.buf_f[1]``, picks in ``out``."""
        need = self.need
        for col, f in self.resources:
            need[col] = f.requested(request)
        mode, marked = GROUP_NONE, ()
        g = request.group if self.group else None
        if g is not None and g.member_hosts:
            counts: dict[int, int] = {}
            for name in g.member_hosts:
                i = fleet.index.get(name)
                if i is not None:
                    counts[i] = counts.get(i, 0) + 1
            if g.policy == "anti-affinity":
                mode = GROUP_BLOCK
                marked = tuple(i for i, c in counts.items() if c >= g.max_server_per_host)
            else:
                mode, marked = GROUP_ONLY, tuple(counts)
            for i in marked:
                self.marks[i] = 1
        n_like = 0
        if self.like is not None:
            w, weigher = self.like
            for prop, coef in weigher.properties.items():
                value = request_value(request, prop)
                r = None if value is None else fleet.like_rows.get((prop, value))
                if r is not None:  # (a pair no host counts adds w * 0.0: nothing)
                    self.like_col[n_like] = P_LIKE + r
                    self.like_coef[n_like] = coef
                    n_like += 1
            self.wsrc[w] = S_LIKE if n_like else S_ZERO
        if self._row_order is not order:
            self._classes(order)
        try:
            return kern(classes, order, ptr, fleet.mirror(order), now, self.down_time, self.use_up,
                        need, self.marks, mode, self.like_col, self.like_coef, n_like,
                        self.wsrc, self.per_kind, self.mult, self.row_mcls, self.mcls_mult,
                        self.mcls_scale, fleet.buf_i, self.src, self.mcls, self.lo, self.hi,
                        fleet.buf_f[1], fleet.buf_f[0], self.out)
        finally:
            for i in marked:
                self.marks[i] = 0

    def _classes(self, order: np.ndarray) -> None:
        """The multiplier classes: host kinds alike in every per-kind multiplier (bit for bit),
        numbered, with each class's multipliers (``mcls_mult``) and each mirror row's class
        (``row_mcls``, rows in ``order``). Aggregates set multipliers for a few groups of hosts:
        a handful of classes where kinds may number one per host. (Sorting, not np.unique:
        that imports numpy.ma, which a fresh process need not pay for.)"""
        cols = [w for w, m in enumerate(self._kind_mults) if isinstance(m, np.ndarray)]
        if cols:
            per_kind = np.stack([self._kind_mults[w] for w in cols], axis=1)
            bits = np.ascontiguousarray(per_kind).view(np.int64)
            by = np.lexsort(bits.T[::-1])
            ranked = bits[by]
            new = np.ones(by.size, dtype=bool)
            new[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
            kind_cls = np.empty(by.size, dtype=np.int64)
            kind_cls[by] = np.cumsum(new) - 1
            table = np.zeros((int(new.sum()), self.mult.size))
            table[:, cols] = per_kind[by[new]]
            self.mcls_mult = table
            self.mcls_scale = np.empty(table.shape[0])
            self.row_mcls = kind_cls[self._kind_codes[order]]
        self._row_order = order
