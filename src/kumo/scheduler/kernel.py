"""One decision as compiled loops over the static candidates (numba), for long-running
processes.

The numpy engine (``Scheduler._candidates`` / ``_weights``) makes about fifty array passes per
decision, each over every static candidate; at 10,000 hosts their per-call overhead and memory
traffic, not arithmetic, bound it to some 6,000-8,000 decisions per CPU-second. This kernel
does the same work in a few branch-free passes over each static class's hosts, which the
compiler vectorises (the dynamic filters -- ComputeUp, VCPU, RAM, Disk, ServerGroup -- with
the bounds of the weighers' raw scores, reading runs of ``Fleet.mirror``'s columns; then a
pass per weigher for the totals), then one pass for the best and the alternates, all into
preallocated buffers. It evaluates the very same floating-point
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

import math
import threading
from typing import Any, Callable

import numpy as np

from kumo.scheduler.fleet import P_FREE, P_HEARTBEAT, P_LIKE, P_NEG_INSTANCES
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

            global _better, _offer, _rank, _widen
            _better = numba.njit(cache=True, nogil=True, inline="always")(_better)
            _offer = numba.njit(cache=True, nogil=True, inline="always")(_offer)
            _widen = numba.njit(cache=True, nogil=True, inline="always")(_widen)
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
    cols = np.zeros((8, n))
    like = np.zeros(n)
    keys = np.zeros(10, dtype=np.int64)
    fn(classes, np.arange(n, dtype=np.int64), np.arange(n + 1, dtype=np.int64),
       cols, cols.view(np.int64), 0.0, 60.0, True, np.zeros(3), np.zeros(n, dtype=np.int8), False,
       np.zeros(1, dtype=np.int64) + P_LIKE, np.ones(1), 1,
       np.array([S_FREE + 1, S_LIKE], dtype=np.int64), np.zeros(w, dtype=np.bool_),
       np.ones(w), np.zeros(n, dtype=np.int64), np.ones((1, w)), np.zeros(1), False,
       np.zeros((2, n), dtype=np.int64), like, like.view(np.int64), np.zeros(n, dtype=np.bool_), np.zeros(n), keys,
       keys.view(np.float64), np.zeros(n, dtype=np.int64), np.zeros(n),
       np.zeros(3, dtype=np.int64), np.zeros(3), np.zeros(3, dtype=np.int64))


#: the raw scores a weigher can have: free vCPU/RAM/disk from S_FREE, minus the instance
#: count (the mirror's column P_FREE + S_* for these), minus the like-image sum
S_FREE, S_NEG_INSTANCES, S_LIKE = 0, 3, 4
assert P_FREE + S_NEG_INSTANCES == P_NEG_INSTANCES
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


def _offer(v: float, i: int, u: int, pos: Any, val: Any, ids: Any, f: int, m: int) -> int:
    """Offer total ``v`` of host ``i`` (at position ``u``) to the list of the best so far,
    ``f`` of at most ``m``, in ranking order (_better): positions in ``pos``, totals in
    ``val``, hosts in ``ids``. Answers the new length."""
    if f == m:
        if not _better(v, i, val[m - 1], ids[m - 1]):
            return f
        j = m - 1
    else:
        j = f
        f += 1
    while j > 0 and _better(v, i, val[j - 1], ids[j - 1]):  # move down the ones it beats
        pos[j], val[j], ids[j] = pos[j - 1], val[j - 1], ids[j - 1]
        j -= 1
    pos[j], val[j], ids[j] = u, v, i
    return f


def _rank(total: Any, cand: Any, k: int, out: Any, val: Any, ids: Any) -> None:
    """The best of the ``k`` candidates and the alternates, as positions into ``cand`` in
    ``out`` (as many as it has room for, fewer when candidates are fewer), in the reference's
    order (ReferenceScheduler: by total, highest first, then by name = host index; NaN, which
    that order leaves undefined, counts as the highest, as numpy's argmax takes it).

    Kept in one pass as a short sorted list (``val`` and ``ids``, as long as ``out``, hold its
    totals and hosts): a pass per pick over every candidate cost more than the filters at
    100,000 hosts."""
    m = 1 + min(out.shape[0] - 1, k - 1)
    f = 0
    # once the list is full, the total of its last: a total below it cannot enter, and most
    # totals are below it -- one comparison each instead of _better's several (-inf until the
    # list is full, and a NaN floor, compare false with every total: the long way)
    floor = -np.inf
    for t in range(k):
        v = total[t]
        if v < floor:
            continue
        f = _offer(v, cand[t], t, out, val, ids, f, m)
        if f == m:
            floor = val[m - 1]


#: a float64's bits as an int64 whose order is the float's (for every value but NaN: -0.0
#: orders before +0.0, which no decision can tell apart -- see _decide): sign-magnitude to
#: two's complement. Its own inverse.
_KEY_FLIP = 0x7FFFFFFFFFFFFFFF
_KEY_MAX = 0x7FFFFFFFFFFFFFFF
_KEY_MIN = -0x7FFFFFFFFFFFFFFF - 1
#: slots the ranking tests at once for a total that could enter the list
_BLOCK = 32


def _widen(lo: int, hi: int, bits: int, good: bool) -> tuple[int, int]:
    """The bounds ``lo``, ``hi`` (ordered keys) widened by the float whose bits are ``bits``
    when ``good`` (no branch: vectorises)."""
    z = bits ^ ((bits >> 63) & _KEY_FLIP)
    return min(lo, z if good else _KEY_MAX), max(hi, z if good else _KEY_MIN)


def _decide(classes: Any, order: Any, ptr: Any, cols: Any, icols: Any, now: float,
            down_time: float, use_up: bool, need: Any, rmark: Any, only_marked: bool,
            like_col: Any, like_coef: Any, n_like: int,
            wsrc: Any, per_kind: Any, mult: Any, row_mcls: Any, mcls_mult: Any, mcls_scale: Any,
            every: bool, runs: Any, like: Any, ilike: Any, ok: Any, tot: Any, keys: Any,
            bounds: Any,
            cand: Any, total: Any, out: Any, val: Any, ids: Any) -> int:
    """Decide among the static candidates: the hosts of the static classes ``classes``, class
    c's being ``order[ptr[c]:ptr[c + 1]]`` (Fleet.static_members), mirror rows ``ptr[c]`` to
    ``ptr[c + 1]``: host ``order[p]``'s dynamic columns are ``cols[col, p]`` (Fleet.mirror
    transposed, one contiguous row per column: P_HEARTBEAT, P_FREE.., P_NEG_INSTANCES, the
    like-image counts; ``icols`` the same memory as int64).

    Writes the chosen host into ``cand[0]``, its total into ``total[0]``, the alternates
    after them (as many as ``out`` has room for, fewer when candidates are fewer), and their
    positions in ``cand`` into ``out``; with ``every``, all the candidates (host indices,
    class by class) and their totals, ``out`` then holding the picks' positions among them.
    Returns the candidate count (0: no host passes). Every array is preallocated by the
    caller: nothing is allocated here. Scratch, one slot per static candidate (the classes'
    rows one after another, so that each decision reuses the same few cache lines): ``like``
    and ``ilike`` (the like-image raw score, as float64 and its bits), ``ok`` (passes), ``tot``
    (total); ``runs`` (2 x as many as the classes: each run's first and end row); ``keys`` and
    ``bounds`` (int64 and float64 views of 10 slots: lo[S_*], then hi[S_*]),
    ``mcls_scale``, ``val`` and ``ids`` (as long as ``out``).

    Filters: ComputeUp when ``use_up`` (``now - heartbeat <= down_time``, NaN -- never
    reported or forced down -- fails), VCPU/RAM/Disk (``free >= need``; a filter not configured
    has need -inf), ServerGroup: rows whose ``rmark`` is set fail, or with ``only_marked``
    only they pass. Weighers in configured order: weigher w's raw score is source ``wsrc[w]``
    (S_*; the like-image one is minus the sum of ``like_coef[j] * column like_col[j]`` over
    the first ``n_like``), its multiplier ``mult[w]`` or, where ``per_kind[w]``,
    ``mcls_mult[q, w]`` for the row's multiplier class q (``row_mcls[p]``: KernelPlan -- hosts
    whose kinds have the same per-kind multipliers).

    The filters and the weighers' passes run over a class's rows as contiguous columns with no
    branch in their bodies, which the compiler vectorises (several rows per instruction):
    measured at 100,000 hosts two to three times faster than one loop over the candidates
    with a branch per filter. The minimum and maximum are taken over the raw scores' bits as
    ordered integers (float min and max do not vectorise without fast-math, which would also
    reorder the arithmetic): the same values, as no passing host's raw score is NaN -- a NaN
    free column fails its filter (``NaN >= need`` is false even for need -inf), instance and
    image counts are integers and KernelPlan.of keeps LikeImages with a non-finite weight on
    the numpy path -- and a zero's sign in a minimum or maximum changes no total (``x -
    (-0.0)`` equals ``x - 0.0`` unless x is -0.0, and then the term is a zero, which adds
    nothing to a total that starts at +0.0)."""
    need_v, need_r, need_d = need[0], need[1], need[2]
    not_up = not use_up
    # the classes' rows as runs: classes adjacent in code are adjacent in the mirror (the static
    # filters' answers sort them: a request's classes mostly come in a few runs -- 47 classes
    # in 4 runs on average in the benchmark's spread), and every pass below works run by run
    n_runs = 0
    for c in classes:
        s, e = ptr[c], ptr[c + 1]
        if e == s:
            continue
        if n_runs > 0 and runs[1, n_runs - 1] == s:
            runs[1, n_runs - 1] = e
        else:
            runs[0, n_runs], runs[1, n_runs] = s, e
            n_runs += 1
    if n_runs == 0:
        return 0
    hb, fv, fr, fd = cols[P_HEARTBEAT], cols[P_FREE], cols[P_FREE + 1], cols[P_FREE + 2]
    iv, ir, idk, ini = icols[P_FREE], icols[P_FREE + 1], icols[P_FREE + 2], icols[P_NEG_INSTANCES]
    # 1. per class: the like-image raw score (the numpy path's LikeImages.raw_vector: w1 * count1
    # (+ w2 * count2 ...), negated), then the filters and the bounds of the passing rows
    lo_v = lo_r = lo_d = lo_n = lo_l = _KEY_MAX
    hi_v = hi_r = hi_d = hi_n = hi_l = _KEY_MIN
    k = 0
    o = 0  # the class's first scratch slot
    for ri in range(n_runs):
        s, e = runs[0, ri], runs[1, ri]
        lk, ilk = like[o:o + e - s], ilike[o:o + e - s]
        if n_like == 0:
            for t in range(e - s):
                lk[t] = 0.0
        else:
            x = cols[like_col[0]][s:e]
            coef = like_coef[0]
            for t in range(e - s):
                lk[t] = coef * x[t]
            for j in range(1, n_like):
                x = cols[like_col[j]][s:e]
                coef = like_coef[j]
                for t in range(e - s):
                    lk[t] = lk[t] + coef * x[t]
            for t in range(e - s):
                lk[t] = -lk[t]
        h, v, r, d = hb[s:e], fv[s:e], fr[s:e], fd[s:e]
        kv, kr, kd, kn = iv[s:e], ir[s:e], idk[s:e], ini[s:e]
        mk, okc = rmark[s:e], ok[o:o + e - s]
        n_ok = 0
        for t in range(e - s):  # (& not and: no branch)
            good = ((not_up | (now - h[t] <= down_time)) & (v[t] >= need_v) & (r[t] >= need_r)
                    & (d[t] >= need_d) & ((mk[t] != 0) == only_marked))
            okc[t] = good
            n_ok += good
            lo_v, hi_v = _widen(lo_v, hi_v, kv[t], good)
            lo_r, hi_r = _widen(lo_r, hi_r, kr[t], good)
            lo_d, hi_d = _widen(lo_d, hi_d, kd[t], good)
            lo_n, hi_n = _widen(lo_n, hi_n, kn[t], good)
            lo_l, hi_l = _widen(lo_l, hi_l, ilk[t], good)
        k += n_ok
        o += e - s
    if k == 0:
        return 0
    # the bounds back to floats: lo[S_*] is bounds[S_*], hi[S_*] is bounds[5 + S_*]
    keys[S_FREE], keys[S_FREE + 1], keys[S_FREE + 2], keys[S_NEG_INSTANCES], keys[S_LIKE] = (
        lo_v, lo_r, lo_d, lo_n, lo_l)
    keys[5 + S_FREE], keys[5 + S_FREE + 1], keys[5 + S_FREE + 2] = hi_v, hi_r, hi_d
    keys[5 + S_NEG_INSTANCES], keys[5 + S_LIKE] = hi_n, hi_l
    for j in range(10):
        keys[j] ^= (keys[j] >> 63) & _KEY_FLIP
    # 2. the totals, a pass per weigher in configured order from 0.0, as the numpy path adds
    # them: (raw - lo) * (multiplier / (hi - lo)), nothing for a weigher every candidate
    # scores alike on (rows that failed a filter get a total too, never read). A per-kind
    # multiplier's quotient is the same number for every host of a multiplier class: computed
    # once per class, chosen by comparisons among up to four classes (vectorises), by lookup
    # among more, and per row when the classes outnumber the candidates
    n_slots = o
    for u in range(n_slots):
        tot[u] = 0.0
    n_cls = mcls_mult.shape[0]
    for w in range(wsrc.shape[0]):
        src = wsrc[w]
        if src == S_ZERO:
            continue
        a, b = bounds[src], bounds[5 + src]
        if a == b:
            continue
        kind = per_kind[w]
        if kind and n_cls <= k:
            for q in range(n_cls):
                mcls_scale[q] = mcls_mult[q, w] / (b - a)
        s0 = mult[w] / (b - a) if not kind else mcls_scale[0]
        s1 = mcls_scale[1] if kind and 1 < n_cls <= k else s0
        s2 = mcls_scale[2] if kind and 2 < n_cls <= k else s0
        s3 = mcls_scale[3] if kind and 3 < n_cls <= k else s0
        o = 0
        for ri in range(n_runs):
            s, e = runs[0, ri], runs[1, ri]
            x = like[o:o + e - s] if src == S_LIKE else cols[P_FREE + src][s:e]
            tc, mc = tot[o:o + e - s], row_mcls[s:e]
            o += e - s
            if not kind:
                for t in range(e - s):
                    tc[t] = tc[t] + (x[t] - a) * s0
            elif n_cls <= 4 and n_cls <= k:
                for t in range(e - s):
                    q = mc[t]
                    sq = s0 if q == 0 else (s1 if q == 1 else (s2 if q == 2 else s3))
                    tc[t] = tc[t] + (x[t] - a) * sq
            elif n_cls <= k:
                for t in range(e - s):
                    tc[t] = tc[t] + (x[t] - a) * mcls_scale[mc[t]]
            else:
                for t in range(e - s):
                    tc[t] = tc[t] + (x[t] - a) * (mcls_mult[mc[t], w] / (b - a))
    # 3. the best and the alternates (_rank's order, kept over the passing rows as they come);
    # all the candidates only when asked for
    m = 1 + min(out.shape[0] - 1, k - 1)
    f = 0
    floor = -np.inf  # (as in _rank)
    # the run of the slot at hand: run ci, its slots cs to ce, its first row rs
    ci, cs, rs = 0, 0, runs[0, 0]
    ce = runs[1, 0] - rs
    for u0 in range(0, n_slots if not every else 0, _BLOCK):
        # a block of slots where no passing total reaches the floor is passed over with one
        # vectorised test: with the list full, nearly every block
        u1 = min(u0 + _BLOCK, n_slots)
        okb, tb = ok[u0:u1], tot[u0:u1]
        hit = False
        for t in range(u1 - u0):
            v = tb[t]
            hit |= okb[t] & (not v < floor)
        if not hit:
            continue
        for u in range(u0, u1):
            if not ok[u]:
                continue
            v = tot[u]
            if v < floor:
                continue
            while u >= ce:
                ci += 1
                cs, rs = ce, runs[0, ci]
                ce = cs + runs[1, ci] - rs
            f = _offer(v, order[rs + u - cs], u, out, val, ids, f, m)
            if f == m:
                floor = val[m - 1]
    if not every:
        for j in range(f):
            cand[j], total[j], out[j] = ids[j], val[j], j
        return k
    k = 0
    o = 0
    for ri in range(n_runs):
        s, e = runs[0, ri], runs[1, ri]
        for t in range(e - s):
            cand[k] = order[s + t]
            total[k] = tot[o + t]
            k += ok[o + t]  # (written always, kept when it passes: no branch to mispredict)
        o += e - s
    _rank(total, cand, k, out, val, ids)
    return k


class KernelPlan:
    """The engine's filters and weighers as the kernel's arguments, with the work buffers of
    one fleet: built once per inventory (``Scheduler.update_hosts``), filled per decision with
    the request's few numbers only.

    ``KernelPlan.of`` answers None when a filter or weigher is not one the kernel knows (a
    plugin registered by someone else): that scheduler keeps the numpy path."""

    def __init__(self, dynamic: list, weighers: list, kind_mults: list, fleet: Any,
                 alternates: int, every: bool = False):
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
        #: each host's mirror row (``order``'s inverse)
        self._row_of = np.zeros(n, dtype=np.int64)
        #: the kernel's scratch for a request's runs of rows (sized by KernelPlan._classes)
        self.runs = np.zeros((2, 1), dtype=np.int64)
        self.need = np.full(3, -np.inf)
        #: per mirror row: a ServerGroup's mark, set for one decision
        self.rmark = np.zeros(n, dtype=np.int8)
        # per-row scratch (the like-image raw score as float64 and its bits, passes, total)
        self.like_raw = np.zeros(n)
        self.like_bits = self.like_raw.view(np.int64)
        self.ok = np.zeros(n, dtype=np.bool_)
        self.tot = np.zeros(n)
        self.keys = np.zeros(10, dtype=np.int64)
        self.bounds = self.keys.view(np.float64)
        self.out = np.zeros(1 + alternates, dtype=np.int64)
        self.out_val = np.zeros(1 + alternates)
        self.out_ids = np.zeros(1 + alternates, dtype=np.int64)
        #: whether a decision writes every candidate (Scheduler's host_subset_size > 1 draws
        #: among them), not just the picks
        self.every = every
        #: the mirror the kernel last read, as (mirror, its columns, their bits)
        self._cols: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, dynamic: list, weighers: list, kind_mults: list, fleet: Any,
           alternates: int, every: bool = False) -> "KernelPlan | None":
        """``kind_mults``: per weigher, its multiplier (a float) or, when aggregates set it for
        some hosts, an array of it per host kind (``Fleet.kinds``). ``every``: each decision
        writes all the candidates and their totals, not only the picks."""
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
        # (the kernel takes bounds on raw scores that are never NaN: a LikeImages weight of
        # inf makes inf * 0 = NaN; nan is NaN)
        if any(not all(math.isfinite(c) for c in w.properties.values())
               for w, _ in weighers if type(w) is LikeImages):
            return None
        return cls(dynamic, weighers, kind_mults, fleet, alternates, every)

    def decide(self, kern: Callable[..., int], fleet: Any, request: Any, now: float,
               classes: np.ndarray, order: np.ndarray, ptr: np.ndarray) -> int:
        """Run the kernel for ``request`` on the static candidates (the hosts of ``classes``,
        Fleet.static_members' ``order`` and ``ptr``): the candidate count; the picks' (or with
        ``every``, all the candidates') hosts in ``fleet.buf_i`` and totals in
        ``fleet.buf_f[1]``, the picks' positions there in ``out``."""
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
        if self._row_order is not order:
            self._classes(order, ptr)
        row_of = self._row_of
        for i in marked:
            self.rmark[row_of[i]] = 1
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
        mirror = fleet.mirror(order)
        got = self._cols
        if got is None or got[0] is not mirror:
            cols = mirror.T  # (Fleet.mirror is column-major: each column contiguous)
            got = self._cols = (mirror, cols, cols.view(np.int64))
        try:
            return kern(classes, order, ptr, got[1], got[2], now, self.down_time, self.use_up,
                        need, self.rmark, mode == GROUP_ONLY, self.like_col, self.like_coef,
                        n_like, self.wsrc, self.per_kind, self.mult, self.row_mcls,
                        self.mcls_mult, self.mcls_scale, self.every, self.runs, self.like_raw,
                        self.like_bits, self.ok, self.tot, self.keys, self.bounds, fleet.buf_i,
                        fleet.buf_f[1], self.out, self.out_val, self.out_ids)
        finally:
            for i in marked:
                self.rmark[row_of[i]] = 0

    def _classes(self, order: np.ndarray, ptr: np.ndarray) -> None:
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
        self._row_of[order] = np.arange(order.size, dtype=np.int64)
        self.runs = np.zeros((2, max(1, ptr.size - 1)), dtype=np.int64)
        self._row_order = order
