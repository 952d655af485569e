"""One decision as one compiled pass over the static candidates (numba), for long-running
processes.

The numpy engine (``Scheduler._candidates`` / ``_weights``) makes about fifty array passes per
decision, each over every static candidate; at 10,000 hosts their per-call overhead and memory
traffic, not arithmetic, bound it to some 8,000 decisions per CPU-second. This kernel does the
same work in two loops: the dynamic filters (ComputeUp, VCPU, RAM, Disk, ServerGroup) with the
weighers' raw scores and their minimum and maximum, then the totals, the best and the
alternates. It evaluates the very same floating-point expressions in the same order as the
numpy path and the per-host reference -- ``(raw - lo) * (multiplier / (hi - lo))`` summed in
configured weigher order from 0.0, the first of equal maxima winning -- so the decisions are
bit-for-bit the same (tests/scheduler/test_equivalence.py runs every path against the
reference). numba's default is strict IEEE semantics: no fast-math, no contraction into fused
multiply-add, no reassociation.

Why numba and why lazily: importing it costs about half a second and compiling this kernel a
few more (cached on disk after the first time, ``cache=True``), which a one-shot CLI create must
not pay -- its single decision takes a millisecond on the numpy path. So nothing imports this
module's compiler until ``load()`` is called: ``kumo serve`` and the benchmarks call it, and a
``Scheduler`` left on ``compiled=None`` uses the kernel only once it is loaded in the process.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any, Callable

import numpy as np

#: the compiled function, once ``load`` has run in this process
_KERNEL: Callable[..., int] | None = None
_LOCK = threading.Lock()

#: raw-score sources of a weigher (``Scheduler`` fills ``wsrc`` with them)
SRC_FREE_VCPU, SRC_FREE_RAM, SRC_FREE_DISK, SRC_NEG_INSTANCES, SRC_LIKE, SRC_ZERO = range(6)
#: ServerGroup modes: no constraint, hosts marked are full (anti-affinity), only hosts marked
#: may take it (affinity)
GROUP_NONE, GROUP_BLOCK, GROUP_ONLY = 0, 1, 2


def available() -> bool:
    """Whether numba is installed (without importing it)."""
    return importlib.util.find_spec("numba") is not None


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
    f8 = np.zeros
    sidx = np.arange(n, dtype=np.int64)
    sidx.flags.writeable = False  # as the engine's cached static candidates are
    fn(sidx, n, f8(n), 0.0, 60.0, True, f8((3, n)), f8(3),
       np.zeros(n, dtype=np.int8), GROUP_NONE, f8(n),
       np.array([SRC_FREE_RAM, SRC_LIKE], dtype=np.int64), np.zeros(w, dtype=np.int64),
       np.ones(w, dtype=np.int64), np.zeros(1, dtype=np.int64), np.ones(1), f8((1, n)),
       np.zeros(w, dtype=np.bool_), np.ones(w), f8((w, n)),
       np.zeros(n, dtype=np.int64), f8((w, n)), f8(w), f8(w), f8(n), f8(n),
       np.zeros(3, dtype=np.int64))


def _decide(sidx: Any, m: int, heartbeat: Any, now: float, down_time: float, use_up: bool,
            free: Any, need: Any, marks: Any, group_mode: int, neg_instances: Any,
            wsrc: Any, term_lo: Any, term_hi: Any, term_row: Any, term_coef: Any, like: Any,
            per_host: Any, mult: Any, mult_rows: Any,
            cand: Any, raw: Any, lo: Any, hi: Any, total: Any, rest: Any, out: Any) -> int:
    """Decide among the static candidates ``sidx[:m]`` (host indices, ascending).

    Writes the candidates into ``cand``, their totals into ``total``, the chosen position
    (into ``cand``) into ``out[0]`` and the alternates' positions into ``out[1:]`` (as many as
    ``out`` has room for, fewer when candidates are fewer); returns the candidate count (0: no
    host passes). Every array is preallocated by the caller: nothing is allocated here.

    Filters: ComputeUp when ``use_up`` (``now - heartbeat <= down_time``, NaN -- never
    reported or forced down -- fails), VCPU/RAM/Disk (``free >= need``; a filter not configured
    has need -inf), ServerGroup by ``group_mode`` over ``marks``. Weighers in configured order:
    ``wsrc`` says where the raw score comes from (a free row, minus the instance count, minus
    a weighted sum of like-image count rows ``term_row[term_lo:term_hi]`` with weights
    ``term_coef``, or all zeros); the multiplier is ``mult[w]`` or, where ``per_host[w]``, the
    host's entry of ``mult_rows[w]``."""
    # (one loop per step, as the numpy path does them, but without temporaries: a loop that
    # does one thing compiles to tight code; one fused loop with a branch per weigher per
    # host measured three times slower)
    need_v, need_r, need_d = need[0], need[1], need[2]
    k = 0
    for j in range(m):
        i = sidx[j]
        if use_up and not (now - heartbeat[i] <= down_time):
            continue
        if not (free[0, i] >= need_v and free[1, i] >= need_r and free[2, i] >= need_d):
            continue
        if group_mode == GROUP_BLOCK and marks[i] != 0:
            continue
        if group_mode == GROUP_ONLY and marks[i] == 0:
            continue
        cand[k] = i
        k += 1
    if k == 0:
        return 0
    n_w = wsrc.shape[0]
    for w in range(n_w):
        src = wsrc[w]
        row = raw[w]
        if src <= SRC_FREE_DISK:
            col = free[src]
            for t in range(k):
                row[t] = col[cand[t]]
        elif src == SRC_NEG_INSTANCES:
            for t in range(k):
                row[t] = neg_instances[cand[t]]
        elif src == SRC_LIKE:
            # LikeImages.raw_vector: w1 * count1 (+ w2 * count2 ...), negated
            first = like[term_row[term_lo[w]]]
            coef = term_coef[term_lo[w]]
            for t in range(k):
                row[t] = coef * first[cand[t]]
            for u in range(term_lo[w] + 1, term_hi[w]):
                col = like[term_row[u]]
                coef = term_coef[u]
                for t in range(k):
                    row[t] = row[t] + coef * col[cand[t]]
            for t in range(k):
                row[t] = -row[t]
        else:
            for t in range(k):
                row[t] = 0.0
        a, b = row[0], row[0]
        for t in range(1, k):
            v = row[t]
            if v < a:
                a = v
            if v > b:
                b = v
        lo[w], hi[w] = a, b
    for t in range(k):
        total[t] = 0.0
    for w in range(n_w):
        a, b = lo[w], hi[w]
        if a == b:
            continue  # every candidate normalises to 0: adds nothing
        row = raw[w]
        if per_host[w]:
            mrow = mult_rows[w]
            for t in range(k):
                total[t] = total[t] + (row[t] - a) * (mrow[cand[t]] / (b - a))
        else:
            scale = mult[w] / (b - a)
            for t in range(k):
                total[t] = total[t] + (row[t] - a) * scale
    # numpy's argmax: the first of equal maxima (the smallest name); then the alternates as
    # the numpy path takes them: argmax again with each pick set to -inf
    best = 0
    for t in range(1, k):
        if total[t] > total[best]:
            best = t
    out[0] = best
    n_alt = min(out.shape[0] - 1, k - 1)
    if n_alt > 0:
        for t in range(k):
            rest[t] = total[t]
        rest[best] = -np.inf
        for a in range(n_alt):
            top = 0
            for t in range(1, k):
                if rest[t] > rest[top]:
                    top = t
            out[1 + a] = top
            rest[top] = -np.inf
    return k


class KernelPlan:
    """The engine's filters and weighers as the kernel's arguments, with the work buffers of
    one fleet: built once per inventory (``Scheduler.update_hosts``), filled per decision with
    the request's few numbers only.

    ``KernelPlan.of`` answers None when a filter or weigher is not one the kernel knows (a
    plugin registered by someone else): that scheduler keeps the numpy path."""

    def __init__(self, dynamic: list, weighers: list, mults: list, fleet: Any,
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
        self.wsrc = np.full(n_w, SRC_ZERO, dtype=np.int64)
        self.like: list[tuple[int, LikeImages]] = []
        n_terms = 0
        for w, (weigher, _) in enumerate(weighers):
            if isinstance(weigher, _FreeWeigher):
                self.wsrc[w] = weigher.COLUMN  # SRC_FREE_* are the free rows' numbers
            elif isinstance(weigher, InstanceCount):
                self.wsrc[w] = SRC_NEG_INSTANCES
            elif isinstance(weigher, LikeImages):
                self.like.append((w, weigher))
                n_terms += len(weigher.properties)
        self.term_lo = np.zeros(n_w, dtype=np.int64)
        self.term_hi = np.zeros(n_w, dtype=np.int64)
        self.term_row = np.zeros(max(1, n_terms), dtype=np.int64)
        self.term_coef = np.zeros(max(1, n_terms))
        self.per_host = np.array([isinstance(m, np.ndarray) for m in mults], dtype=np.bool_)
        self.mult = np.array([0.0 if isinstance(m, np.ndarray) else m for m in mults])
        self.mult_rows = np.zeros((n_w, n if self.per_host.any() else 0))
        for w, m in enumerate(mults):
            if isinstance(m, np.ndarray):
                self.mult_rows[w] = m
        self.need = np.full(3, -np.inf)
        self.marks = np.zeros(n, dtype=np.int8)
        self.raw = np.empty((n_w, n))
        self.lo = np.empty(n_w)
        self.hi = np.empty(n_w)
        self.out = np.zeros(1 + alternates, dtype=np.int64)

    @classmethod
    def of(cls, dynamic: list, weighers: list, mults: list, fleet: Any,
           alternates: int) -> "KernelPlan | None":
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
        return cls(dynamic, weighers, mults, fleet, alternates)

    def decide(self, kern: Callable[..., int], fleet: Any, request: Any, now: float,
               sidx: np.ndarray) -> int:
        """Run the kernel for ``request`` on the static candidates ``sidx``: the candidate
        count; candidates in ``fleet.buf_i``, totals in ``fleet.buf_f[1]``, picks in ``out``."""
        from kumo.scheduler.model import request_value

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
        t = 0
        for w, weigher in self.like:
            self.term_lo[w] = t
            for prop, coef in weigher.properties.items():
                value = request_value(request, prop)
                row = None if value is None else fleet.like_rows.get((prop, value))
                if row is not None:
                    self.term_row[t] = row
                    self.term_coef[t] = coef
                    t += 1
            self.term_hi[w] = t
            self.wsrc[w] = SRC_LIKE if t > self.term_lo[w] else SRC_ZERO
        try:
            return kern(sidx, sidx.size, fleet.live_heartbeat, now, self.down_time,
                        self.use_up, fleet.free, need, self.marks, mode, fleet.neg_instances,
                        self.wsrc, self.term_lo, self.term_hi, self.term_row, self.term_coef,
                        fleet.like_mat, self.per_host, self.mult, self.mult_rows,
                        fleet.buf_i, self.raw, self.lo, self.hi, fleet.buf_f[1],
                        fleet.buf_f[0], self.out)
        finally:
            for i in marked:
                self.marks[i] = 0
