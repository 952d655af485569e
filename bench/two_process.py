"""Two controller processes placing against one PostgreSQL, against one process alone.

    .venv/bin/python bench/two_process.py [--hosts 10000] [--placements 2000] [--threads 1 4]
                                          [--subsets 1 4] [--rounds 3] [--nowhere 0.1]

(``bench/placement.py --two-process`` runs it after its own figures.) One database of ``--hosts``
hosts (bench/scheduler.py's mixed fleet), then per host_subset_size and thread count,
``--rounds`` rounds of: one process placing ``--placements`` requests, and two processes placing
half of them each -- in alternating order (1 2, 2 1, 1 2, ...) so both configurations see the
same minutes of the machine's load. Every run places on the same fleet and measures placing
alone, from processes as warm as a controller that has been running a while:

  1. the hosts' usage is put back as it was written;
  2. each process loads its inventory (its cold start) and places ``--warmup`` requests of the
     same mix (default: as many as ``--placements``; a seed of its own) -- its caches of
     request kinds (static answers per distinct image, flavor and zone) then hold as much
     history in either configuration. Without it, each of two processes would place half the
     requests on caches half as warm: about twice the share of first sightings (16 % against
     9 % at 2,000 hosts and 1,000 placements), each costing 0.03-0.6 ms of static answers;
  3. the usage is put back again, each process places once more (reading those changes), and
     the clock starts at a barrier.

Printed per run and as the median with its spread:

  placements/s   all requests placed (NoValidHost included) over the wall time from the barrier
  py ms          CPU of the placing processes per placement
  pg ms          CPU of the PostgreSQL backends serving them per placement (from /proc: this
                 machine is the database's host)
  machine        cores busy during the run (all processes, from /proc/stat): on 2 shared cores,
                 what the others left is what the two processes can use
  cold           share of the placements whose request kind the process had not seen (its
                 static answers computed, not found in its cache)
  claims         claim statements per placement; of them busy (another controller's claim held
                 the row: SKIP LOCKED), refused (the row as committed had no room)
  stmts          statements per placement (claims, inventory change reads, ...)
  claim ms       median wall time of a claim statement (its round trip and its commit's flush)
  checkpoints    the cluster's during the run: other databases' DROP DATABASE forces one, its
                 fsyncs slow the WAL flush of every commit, and each page first written after
                 it is logged whole -- a claim's cost rises with them
  vacuums        of the hosts table during the run: 0, as autovacuum is off on the bench's
                 table -- the runs vacuum it before they start, and an autovacuum or
                 autoanalyze (due after ~1,000 updated rows, so after every run) must not fall
                 into one of them and take CPU and disk from that configuration alone
  paired         share of the run in which each process and its backend last ran on one CPU
                 and the two processes on different CPUs (``Colocation``; the kernel's choice).
                 With one thread each, the two-process rounds are then split by it: on this
                 2-CPU machine a round paired for most of its run reaches 1.8-1.9x, one whose
                 pairs share CPUs 1.25-1.5x -- the figure measures where the kernel put four
                 alternating tasks as much as it measures kumo

``--unflushed`` then repeats the one-thread comparison (first host_subset_size) with the bench
database's commits not waiting for the WAL flush -- a diagnosis of what the queued flushes of two
processes cost, never a setting for kumo (see ``unflushed``).

``--pinned`` then repeats it twice with the two processes' tasks pinned to CPUs -- each process
with its own backend, then each process's backend on the other CPU: a diagnosis of what the
kernel's placement decides, never a setting for kumo (see ``pinned``).

Then the exactly-capacity check per host_subset_size: 40 hosts with room for exactly 4 small
instances each, 100 placements from each of two processes at once: exactly 160 granted, no host
over its limit.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing as mp
import os
import random
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import create_engine, func, insert, make_url, select  # noqa: E402

from kumo.catalog.flavor import Flavor  # noqa: E402
from kumo.db import Database, upgrade  # noqa: E402
from kumo.db.models import Host  # noqa: E402
from kumo.scheduler import NoValidHost, RequestSpec, service  # noqa: E402

import placement as bench  # noqa: E402  (bench/placement.py: databases, fleet, requests)
import scheduler as fleetgen  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (so field 3, the state, is
    ``[0]``), or None when the process is gone. The name is cut at the last ")": it may hold
    spaces and parentheses itself."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system: fields 14 and 15) of process ``pid``; 0 when it is gone."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _TICK


def _machine_busy() -> float:
    """CPU seconds all cores have been busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK


class Backends:
    """The PostgreSQL backends serving one database: their CPU, sampled from /proc."""

    def __init__(self, url: str):
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.name = self.engine.url.database
        with self.engine.connect() as conn:
            self.own = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()

    def vacuums(self) -> int:
        """(Auto)vacuums and (auto)analyzes of the hosts table so far: every run updates
        thousands of its rows, past autovacuum's threshold, and one that starts during a run
        competes with it for the two cores and the disk."""
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT vacuum_count + autovacuum_count + analyze_count + autoanalyze_count "
                "FROM pg_stat_user_tables WHERE relname = 'hosts'").scalar_one()

    def checkpoints(self) -> int:
        """Checkpoints the cluster has made (every database's: another's DROP DATABASE forces
        one, and the pages first written after it are logged whole)."""
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT checkpoints_timed + checkpoints_req FROM "
                                        "pg_stat_bgwriter").scalar_one()

    def cpu(self) -> dict[int, float]:
        with self.engine.connect() as conn:
            pids = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = %(d)s AND pid <> "
                "pg_backend_pid()", {"d": self.name}).scalars().all()
        return {pid: _proc_cpu(pid) for pid in pids}

    def ports(self) -> dict[int, int]:
        """The backends of the database by their client's TCP port."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT client_port, pid FROM pg_stat_activity WHERE datname = %(d)s AND pid <> "
                "pg_backend_pid() AND client_port IS NOT NULL", {"d": self.name}).all()
        return {port: pid for port, pid in rows}

    def close(self) -> None:
        self.engine.dispose()


def _last_cpu(pid: int) -> int | None:
    """The CPU ``pid`` last ran on (/proc/<pid>/stat field 39), None when it is gone."""
    fields = _stat(pid)
    return None if fields is None else int(fields[36])


def _socket_ports(pid: int) -> set[int]:
    """The local TCP ports of ``pid``'s sockets (its fds' inodes looked up in /proc/net/tcp*)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


class Colocation:
    """Where the placing processes and their PostgreSQL backends run, sampled from /proc.

    Each process and its backend take turns (a statement is sent, the process waits for the
    answer): the pair needs one CPU. On this machine two processes and their two backends are
    four tasks on two CPUs, and which CPU each last ran on is the kernel's choice: when each
    process shares a CPU with its own backend ("paired"), the two pairs never compete; when a
    CPU holds tasks of both pairs, they queue behind each other while the other CPU idles.
    ``paired`` is the share of samples (one every 5 ms, about 1 % of a core) in which every
    process and its backends last ran on one CPU, and the processes on different ones."""

    INTERVAL_S = 0.005

    def __init__(self, backends: "Backends", workers: list[int], pin: str | None = None):
        by_port = backends.ports()
        self.pairs = [[w, *(by_port[p] for p in sorted(_socket_ports(w)) if p in by_port)]
                      for w in workers]
        self.samples = self.together = 0
        self.pin = pin if len(workers) == 2 else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        """Start sampling; with ``pin`` (two processes; a diagnosis, see ``pinned``) first
        make the kernel's choice for it: "paired" runs each process and its backends on a CPU
        of their own, "crossed" each process on one CPU and its backends on the other."""
        if self.pin is not None:
            cpus = sorted(os.sched_getaffinity(0))[:2]
            for i, (worker, *backends) in enumerate(self.pairs):
                os.sched_setaffinity(worker, {cpus[i]})
                for b in backends:
                    os.sched_setaffinity(b, {cpus[i] if self.pin == "paired" else cpus[1 - i]})
        self._thread.start()

    def stop(self) -> float:
        """The share of samples in which the pairs were each on a CPU of their own (nan when
        a process had no backend to pair with)."""
        self._stop.set()
        self._thread.join()
        if self.pin is not None:
            every = os.sched_getaffinity(0)
            for pid in (pid for pair in self.pairs for pid in pair):
                try:
                    os.sched_setaffinity(pid, every)
                except OSError:  # gone
                    pass
        if any(len(pair) < 2 for pair in self.pairs) or not self.samples:
            return float("nan")
        return self.together / self.samples

    def _sample(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            self.samples += 1
            if paired([[_last_cpu(pid) for pid in pair] for pair in self.pairs]):
                self.together += 1


def paired(cpus: list[list[int | None]]) -> bool:
    """Whether each process's tasks (``cpus``: the CPU each last ran on, per process) are on
    one CPU and no two processes share one (None: a task gone)."""
    used = [set(c) for c in cpus]
    return (all(len(u) == 1 and None not in u for u in used)
            and len(set().union(*used)) == len(used))


# --- one run ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    processes: int
    placements: int
    granted: int
    wall: float
    py_cpu: float
    pg_cpu: float
    machine: float        # cores busy during the run, everything on the machine
    claims: int
    busy: int
    refused: int
    statements: int
    claim_ms: float       # median claim round trip
    checkpoints: int      # the cluster's, during the run
    vacuums: int          # of the hosts table, during the run (0: autovacuum is off on it)
    cold: int             # placements whose request kind was new to their process
    paired: float         # share of the run each process shared a CPU with its backend only

    @property
    def rate(self) -> float:
        return self.placements / self.wall

    @property
    def ours(self) -> float:
        """Cores the placing processes and their backends used during the run."""
        return (self.py_cpu + self.pg_cpu) / self.wall

    @property
    def cpu_ms(self) -> float:
        """CPU per placement, both sides."""
        return (self.py_cpu + self.pg_cpu) / self.placements * 1e3

    def line(self) -> str:
        p = self.placements
        return (f"{self.processes} proc {self.rate:6.0f}/s  py {self.py_cpu / p * 1e3:.3f} ms  "
                f"pg {self.pg_cpu / p * 1e3:.3f} ms  cores: ours {self.ours:.2f} of "
                f"{self.machine:.2f} busy  cold {self.cold / p:.0%}  "
                f"claims {self.claims / p:.2f} (busy {self.busy / p:.3f}, refused "
                f"{self.refused / p:.3f})  stmts {self.statements / p:.2f}  "
                f"claim {self.claim_ms:.2f} ms  checkpoints {self.checkpoints}  "
                f"vacuums {self.vacuums}  paired {self.paired:.0%}")


class _Counters:
    """Claims and statements of one worker process (the bench wraps the functions it counts)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.claims = self.busy = self.refused = self.statements = self.cold = 0
        self.claim_walls: list[float] = []

    def reset(self) -> None:
        with self.lock:
            self.claims = self.busy = self.refused = self.statements = self.cold = 0
            self.claim_walls.clear()

    def install(self) -> None:
        from kumo.db import claims as db_claims
        from kumo.db.prepared import Prepared
        from kumo.scheduler.fleet import Fleet

        counters = self
        put = Fleet.cache_put

        def counted_put(self, key, mask):
            if key and key[0] == "static":  # a request kind's static answers computed
                with counters.lock:
                    counters.cold += 1
            put(self, key, mask)

        Fleet.cache_put = counted_put  # type: ignore[method-assign]

        rows, claim = Prepared.rows, db_claims.claim_within_conn

        def counted_rows(self, conn, **values):
            with counters.lock:
                counters.statements += 1
            return rows(self, conn, **values)

        def counted_claim(conn, host, request, limits, **kw):
            t = time.perf_counter()
            ok, now = claim(conn, host, request, limits, **kw)
            dt = time.perf_counter() - t
            with counters.lock:
                counters.claims += 1
                counters.claim_walls.append(dt)
                if not ok and now is not None:
                    if kw.get("skip_locked") and db_claims.fits_within(now, request, limits):
                        counters.busy += 1
                    else:
                        counters.refused += 1
            return ok, now

        Prepared.rows = counted_rows  # type: ignore[method-assign]
        db_claims.claim_within_conn = counted_claim  # type: ignore[assignment]


def _worker(url: str, seed: int, names: list[str], n: int, warmup: int, nowhere: float,
            now: float, threads: int, subset: int, engine: str, warmed, reset, go, done,
            out) -> None:
    bench.use_engine(engine)
    counters = _Counters()
    counters.install()
    db = Database(url)
    reqs = bench.requests(n, seed, names, nowhere)
    config = dataclasses.replace(bench.CONFIG, host_subset_size=subset)

    def place_one(spec: RequestSpec) -> None:
        try:
            service.place(db, spec, config, now=now)
        except NoValidHost:
            pass

    place_one(reqs[0])  # the cold start, before the clock runs
    for spec in bench.requests(warmup, seed + 50, names, nowhere):  # (module docstring)
        place_one(spec)
    warmed.wait()  # the parent puts the usage back
    reset.wait()
    place_one(reqs[0])  # reads the rows the parent put back
    counters.reset()
    go.wait()
    r = bench.place_all(db, reqs, now, threads, config)
    out.put((r["granted"], len(reqs), r["process_cpu"], counters.claims, counters.busy,
             counters.refused, counters.statements, counters.claim_walls, counters.cold))
    done.wait()  # the parent reads the backends' CPU before their connections close
    db.dispose()


def run(url: str, backends: Backends, names: list[str], k: int, n: int, args,
        threads: int, subset: int, pin: str | None = None) -> Run:
    """``k`` controller processes placing ``n`` requests in all from ``threads`` threads each,
    each choosing among its ``subset`` best hosts (host_subset_size). ``pin``: see
    ``Colocation.start``."""
    ctx = mp.get_context("spawn")
    warmed, reset_done, go, done = (ctx.Barrier(k + 1) for _ in range(4))
    out = ctx.Queue()
    warmup = args.placements if args.warmup is None else args.warmup
    procs = [ctx.Process(target=_worker, args=(url, args.seed + 100 * i, names, n // k,
                                               warmup, args.nowhere, args.now, threads,
                                               subset, args.engine, warmed, reset_done, go,
                                               done, out))
             for i in range(k)]
    for p in procs:
        p.start()
    try:
        warmed.wait()
        reset(url)  # (the warm-up's claims given back: every run places on the same fleet)
        reset_done.wait()
        pg0, ck0, vac0 = backends.cpu(), backends.checkpoints(), backends.vacuums()
        where = Colocation(backends, [p.pid for p in procs], pin)
        m0 = _machine_busy()
        where.start()
        go.wait()
        t = time.perf_counter()
        results = [out.get() for _ in procs]
        wall = time.perf_counter() - t
        paired = where.stop()
        machine = (_machine_busy() - m0) / wall
        pg1, ck1 = backends.cpu(), backends.checkpoints()
        vac1 = backends.vacuums()
        done.wait()
    finally:
        for p in procs:
            p.join()
    walls = sorted(w for r in results for w in r[7])
    return Run(k, sum(r[1] for r in results), sum(r[0] for r in results), wall,
               sum(r[2] for r in results),
               sum(c - pg0.get(pid, 0.0) for pid, c in pg1.items()), machine,
               sum(r[3] for r in results), sum(r[4] for r in results),
               sum(r[5] for r in results), sum(r[6] for r in results),
               statistics.median(walls) * 1e3 if walls else float("nan"), ck1 - ck0,
               vac1 - vac0, sum(r[8] for r in results), paired)


# --- the fleet, put back before each run -------------------------------------------------------

_SAVE = ("CREATE TABLE bench_usage AS SELECT id, used_vcpus, used_ram_mib, used_disk_gib, "
         "instance_count FROM hosts")
_RESET = ("UPDATE hosts h SET used_vcpus = b.used_vcpus, used_ram_mib = b.used_ram_mib, "
          "used_disk_gib = b.used_disk_gib, instance_count = b.instance_count, "
          "generation = h.generation + 1 FROM bench_usage b WHERE h.id = b.id AND "
          "(h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count) IS DISTINCT FROM "
          "(b.used_vcpus, b.used_ram_mib, b.used_disk_gib, b.instance_count)")


def reset(url: str) -> None:
    """The hosts' usage as written, the dead rows the last run left vacuumed."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(_RESET)
            conn.exec_driver_sql("VACUUM ANALYZE hosts")
    finally:
        engine.dispose()


def _spread(xs: list[float], fmt: str = "{:.0f}") -> str:
    return (f"{fmt.format(statistics.median(xs))} "
            f"[{fmt.format(min(xs))}-{fmt.format(max(xs))}]")


def compare(url: str, names: list[str], args, threads: int, subset: int,
            pin: str | None = None) -> list[float]:
    """``args.rounds`` rounds of one process and two, alternating which goes first: the ratio
    of each round (two over one), printed with the runs and their median. ``pin``: the
    two-process runs' tasks pinned (``Colocation.start``)."""
    backends = Backends(url)
    runs: dict[int, list[Run]] = {1: [], 2: []}
    ratios = []
    try:
        for r in range(args.rounds):
            for k in ((1, 2) if r % 2 == 0 else (2, 1)):
                reset(url)
                got = run(url, backends, names, k, args.placements, args, threads, subset,
                          pin)
                runs[k].append(got)
                if args.verbose:
                    print(f"    round {r + 1}: {got.line()}  [{bench.load()}]", flush=True)
            ratios.append(runs[2][-1].rate / runs[1][-1].rate)
    finally:
        backends.close()
    ones, twos = runs[1], runs[2]
    print(f"two controller processes, one PostgreSQL, {args.hosts} hosts, {args.placements} "
          f"placements, host_subset_size {subset}, {threads} thread(s) each, {args.rounds} "
          f"rounds: 1 process {_spread([x.rate for x in ones])}/s, 2 processes "
          f"{_spread([x.rate for x in twos])}/s = {_spread(ratios, '{:.2f}')}x "
          f"(median [min-max])  [{bench.load()}]")
    for label, rs in (("1 process  ", ones), ("2 processes", twos)):
        p = rs[0].placements
        print(f"    {label}: per placement py {_spread([x.py_cpu / p * 1e3 for x in rs], '{:.3f}')}"
              f" ms CPU, pg {_spread([x.pg_cpu / p * 1e3 for x in rs], '{:.3f}')} ms CPU; "
              f"cores: ours {_spread([x.ours for x in rs], '{:.2f}')} of "
              f"{_spread([x.machine for x in rs], '{:.2f}')} busy; cold "
              f"{_spread([x.cold / p * 100 for x in rs], '{:.0f}')} %; claims "
              f"{_spread([x.claims / p for x in rs], '{:.2f}')} (busy "
              f"{_spread([x.busy / p for x in rs], '{:.3f}')}, refused "
              f"{_spread([x.refused / p for x in rs], '{:.3f}')}); statements "
              f"{_spread([x.statements / p for x in rs], '{:.2f}')}; claim round trip "
              f"{_spread([x.claim_ms for x in rs], '{:.2f}')} ms; the cluster's checkpoints "
              f"during the runs {sum(x.checkpoints for x in rs)}, the hosts table's vacuums "
              f"{sum(x.vacuums for x in rs)}", flush=True)
    # CPU per placement (both sides) of one process over that of two: 1.00 means two
    # processes pay no more per placement than one (nothing serialises them but the CPU they
    # are given), so they scale with the cores the machine leaves them
    cost = [a.cpu_ms / b.cpu_ms for a, b in zip(ones, twos)]
    need = (1.6 * statistics.median([x.rate for x in ones])
            * statistics.median([x.cpu_ms for x in twos]) / 1e3)
    print(f"    CPU per placement: 1 process {_spread([x.cpu_ms for x in ones], '{:.3f}')} ms, "
          f"2 processes {_spread([x.cpu_ms for x in twos], '{:.3f}')} ms: the ratio at equal "
          f"CPU {_spread(cost, '{:.2f}')}; 1.6x one process needs {need:.2f} cores for the "
          f"two and their backends", flush=True)
    paired = [x.paired for x in twos]
    if not any(math.isnan(x) for x in paired):
        # the two-process rounds split by where the kernel ran them (Colocation)
        split: dict[bool, list[float]] = {True: [], False: []}
        for ratio, x in zip(ratios, paired):
            split[x >= 0.5].append(ratio)
        parts = [f"rounds {label}: " + (f"{_spread(split[key], '{:.2f}')}x ({len(split[key])})"
                                        if split[key] else "none")
                 for key, label in ((True, "paired for half the run or more"),
                                    (False, "paired less"))]
        print(f"    where the kernel ran the two processes and their backends: each pair on a "
              f"CPU of its own for {_spread([x * 100 for x in paired])} % of a run (one process "
              f"alone: {_spread([x.paired * 100 for x in ones])} %); {'; '.join(parts)}",
              flush=True)
    return ratios


def two_process(dbs: bench.Databases, args) -> None:
    url = dbs.new()
    upgrade(url)
    db = Database(url)
    args.now = time.time()
    names = bench.populate(db, args.hosts, args.seed, args.now)
    db.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(_SAVE)
        # the runs vacuum the table themselves (``reset``): no autovacuum may start during
        # one (an autoanalyze is due after ~1,000 updated rows) and slow that run alone
        conn.exec_driver_sql("ALTER TABLE hosts SET (autovacuum_enabled = false)")
    engine.dispose()
    for subset in args.subsets:
        for threads in args.threads:
            compare(url, names, args, threads, subset)
    if getattr(args, "unflushed", False):
        unflushed(url, names, args)
    if getattr(args, "pinned", False):
        pinned(url, names, args)
    for subset in args.subsets:
        exact(dbs, subset, args.engine)


def unflushed(url: str, names: list[str], args) -> None:
    """A diagnosis, not a way to run kumo: the same comparison with the bench database's
    commits not waiting for the WAL flush (``synchronous_commit = off``; a claim could then be
    lost in a database crash). Each claim commits, and on this machine its flush is the one
    wait two processes cannot overlap: with one thread each, the gap between this ratio and
    the one above is what the flushes of two processes cost when they queue behind each
    other."""
    name = make_url(url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        print("diagnosis -- commits not waiting for the WAL flush (synchronous_commit = off "
              "on the bench database; never for a real deployment):", flush=True)
        compare(url, names, args, 1, args.subsets[0])
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET synchronous_commit')
        engine.dispose()


def pinned(url: str, names: list[str], args) -> None:
    """A diagnosis, not a way to run kumo: the one-thread comparison twice more, the kernel's
    choice of CPUs made for it in the two-process runs -- each process pinned with its
    backend to a CPU of their own, then each process's backend pinned to the other CPU. The
    code placing is the same; the gap between the two is what the kernel's placement of four
    alternating tasks on two CPUs decides (the one-process runs are left to the kernel)."""
    for pin, what in (("paired", "each process and its backend pinned to a CPU of their own"),
                      ("crossed", "each process's backend pinned to the other process's CPU")):
        print(f"diagnosis -- two processes with {what} (the kernel's choice made for it; never "
              "for a real deployment):", flush=True)
        compare(url, names, args, 1, args.subsets[0], pin)


# --- exactly capacity ----------------------------------------------------------------------------

def exact(dbs: bench.Databases, subset: int, engine: str = "compiled") -> None:
    """40 hosts with room for exactly 4 one-vCPU instances each (disk bound), 200 placements
    from two processes at once: exactly 160 granted and no host over its limit."""
    url = dbs.new()
    upgrade(url)
    db = Database(url)
    now = time.time()
    kvm = next(v for v in fleetgen.build_fleet(40, random.Random(3))
               if v.hypervisor_type == "kvm" and v.enabled and not v.forced_down)
    with db.engine.begin() as conn:
        conn.execute(insert(Host), [dict(
            name=f"exact-{i:02d}", uri="test:///default", hypervisor_type="kvm",
            hypervisor_version="8.2", capabilities=kvm.capabilities.to_json(),
            vcpus=64, ram_mib=262144, disk_gib=80, availability_zone="az1",
            last_heartbeat=datetime.fromtimestamp(now, timezone.utc)) for i in range(40)])
    db.dispose()
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_exact_worker, args=(url, now, subset, engine, start, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    start.wait()
    granted = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    db = Database(url)
    with db.engine.connect() as conn:
        over = conn.execute(select(func.count()).where(Host.used_disk_gib > Host.disk_gib)
                            .select_from(Host)).scalar_one()
        used = conn.execute(select(func.sum(Host.instance_count))).scalar_one()
    db.dispose()
    ok = granted == 160 and used == 160 and over == 0
    print(f"exactly-capacity (host_subset_size {subset}): 2 processes x 100 placements on room "
          f"for 160: granted {granted}, instances recorded on hosts {used}, hosts over their "
          f"limit {over}: {'OK' if ok else 'WRONG'}")
    if not ok:
        raise SystemExit("exactly-capacity check failed")


def _exact_worker(url: str, now: float, subset: int, engine: str, start, out) -> None:
    bench.use_engine(engine)
    db = Database(url)
    spec = RequestSpec(Flavor(1, 1024, 20))
    config = dataclasses.replace(bench.CONFIG, host_subset_size=subset)
    start.wait()
    granted = 0
    for _ in range(100):
        try:
            service.place(db, spec, config, now=now)
            granted += 1
        except NoValidHost:
            pass
    out.put(granted)
    db.dispose()


def add_arguments(ap: argparse.ArgumentParser, prefix: str = "") -> None:
    ap.add_argument(f"--{prefix}subsets", type=int, nargs="+", default=[1, 4],
                    help="host_subset_size values (default 1 4)")
    ap.add_argument(f"--{prefix}rounds", type=int, default=3,
                    help="rounds of one process and two, alternating (default 3)")
    ap.add_argument(f"--{prefix}warmup", type=int, default=None,
                    help="requests each process places before the clock starts (default: "
                         "as many as --placements)")
    ap.add_argument(f"--{prefix}unflushed", action="store_true",
                    help="then, as a diagnosis, one thread each with commits not waiting for "
                         "the WAL flush (synchronous_commit = off on the bench database)")
    ap.add_argument(f"--{prefix}pinned", action="store_true",
                    help="then, as a diagnosis, one thread each with the two processes' tasks "
                         "pinned: each process with its backend, then crossed")
    ap.add_argument(f"--{prefix}verbose", action="store_true", help="print every run")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--placements", type=int, default=2000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--nowhere", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--engine", choices=["compiled", "numpy"], default="compiled")
    add_arguments(ap)
    args = ap.parse_args(argv)
    bench.use_engine(args.engine)
    print(f"{os.cpu_count()} CPUs, {bench.load()}", flush=True)
    dbs = bench.Databases("postgresql")
    try:
        two_process(dbs, args)
    finally:
        dbs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
