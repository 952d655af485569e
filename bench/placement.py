"""Placement benchmark on the path a create takes: ``kumo.scheduler.service.place`` with claims
committed to the database (SQLite file, PostgreSQL on 127.0.0.1:55432), in a long-running process.

    .venv/bin/python bench/placement.py [--backends sqlite postgresql] [--hosts 1000 10000 100000]
                                        [--placements 2000] [--nowhere 0.1] [--threads 1 4]
                                        [--two-process] [--engine compiled|numpy]

Per backend and fleet size: a fresh database migrated to head, the hosts written (the mixed fleet
of bench/scheduler.py: KVM/QEMU/Xen/Hyper-V with their capabilities, aggregates, zones, disabled
and down hosts), then
  cold start     the first place() in a fresh process (a CLI create): the whole inventory read
                 with Core queries, the views and the fleet built, the first decision and claim
                 (imports and the ORM's mapper configuration done before the clock starts)
  placements/s   ``--placements`` place() calls in one long-running process, from each of
                 ``--threads`` thread counts in turn (a controller serving several creates at
                 once shares one scheduler), a share ``--nowhere`` of them fitting no host
                 (NoValidHost, its summary not read -- as a retrying caller would)
  CPU-s          the process's CPU time for the run, and per placement
  CPU p50/p99    CPU time of the placing thread per place() (less sensitive than wall time to a
                 busy machine); NoValidHost: the failing calls alone
  peak RSS       of this process so far
``--engine``: the long-running figures (placements/s, two processes) decide with the compiled
kernel, as ``kumo serve`` does once it has loaded it (``compiled``, the default: loaded before
any clock starts), or with the numpy path (``numpy``); the cold start is always what a one-shot
CLI create pays, the numpy path with no kernel loaded.
``--two-process`` (PostgreSQL): the same placements split over two controller processes against
one database, against one process alone (per thread count); then an exactly-capacity check per
host_subset_size: 40 hosts with room for exactly 4 small instances each, 100 placements from
each process: exactly 160 granted, no host over its limit.

A claim commits on its own (PostgreSQL: one WAL flush per claim, synchronous_commit as the server
has it), so one thread's rate is bounded by the disk's flush latency; threads share flushes
(group commit) as concurrent creates in a controller do.

The load average is printed with each figure: on a shared machine, figures are depressed.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import create_engine, func, insert, select  # noqa: E402

from kumo.catalog.flavor import Flavor  # noqa: E402
from kumo.config import sqlite_url  # noqa: E402
from kumo.db import Database, upgrade  # noqa: E402
from kumo.db.models import Aggregate, AggregateMetadata, Host, aggregate_hosts  # noqa: E402
from kumo.scheduler import NoValidHost, RequestSpec, SchedulerConfig, service  # noqa: E402

import scheduler as fleetgen  # noqa: E402  (bench/scheduler.py: the fleet and requests)

PG_ADMIN = os.environ.get("KUMO_BENCH_PG_URL",
                          "postgresql+psycopg://kumo@127.0.0.1:55432/postgres")
CONFIG = fleetgen.CONFIG
#: a flavor no host has room for: these requests fit nowhere
TOO_BIG = Flavor(1024, 8 * 1024 * 1024, 100_000)


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- databases -----------------------------------------------------------------------------------

class Databases:
    """Fresh databases of one backend, removed at the end."""

    def __init__(self, backend: str):
        self.backend = backend
        self.tmp = tempfile.TemporaryDirectory(prefix="kumo-bench-")
        self.made: list[str] = []
        self.admin = (create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
                      if backend == "postgresql" else None)

    def new(self) -> str:
        name = f"kumo_bench_{os.getpid()}_{secrets.token_hex(3)}"
        if self.admin is None:
            return sqlite_url(Path(self.tmp.name) / f"{name}.db")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        if self.admin is not None:
            with self.admin.connect() as conn:
                for name in self.made:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.admin.dispose()
        self.tmp.cleanup()


def populate(db: Database, n: int, seed: int, now: float) -> list[str]:
    """Write bench/scheduler.py's fleet of ``n`` hosts (heartbeats relative to ``now``)."""
    rng = random.Random(seed)
    views = fleetgen.build_fleet(n, rng)
    shift = now - fleetgen.NOW
    rows = []
    for v in views:
        caps = v.capabilities
        rows.append(dict(
            name=v.name, uri="test:///default", hypervisor_type=v.hypervisor_type,
            hypervisor_version=".".join(map(str, v.hypervisor_version or ())) or None,
            capabilities=caps.to_json() if caps is not None else None,  # the column's key
            vcpus=v.vcpus, ram_mib=v.ram_mib, disk_gib=v.disk_gib,
            used_vcpus=v.vcpus_used, used_ram_mib=v.ram_mib_used, used_disk_gib=v.disk_gib_used,
            instance_count=v.instances, availability_zone=v.availability_zone,
            enabled=v.enabled, forced_down=v.forced_down,
            last_heartbeat=(datetime.fromtimestamp(v.last_heartbeat + shift, timezone.utc)
                            if v.last_heartbeat is not None else None)))
    with db.engine.begin() as conn:
        for k in range(0, len(rows), 5000):
            conn.execute(insert(Host), rows[k:k + 5000])
        ids = dict(conn.execute(select(Host.name, Host.id)).all())
        agg_ids = {}
        for agg in fleetgen.AGGS.values():
            agg_ids[agg.name] = conn.execute(insert(Aggregate).values(name=agg.name)
                                             .returning(Aggregate.id)).scalar_one()
            for k, val in agg.metadata.items():
                conn.execute(insert(AggregateMetadata).values(
                    aggregate_id=agg_ids[agg.name], key=k, value=val))
        members = [{"aggregate_id": agg_ids[a.name], "host_id": ids[v.name]}
                   for v in views for a in v.aggregates]
        for k in range(0, len(members), 5000):
            conn.execute(insert(aggregate_hosts), members[k:k + 5000])
    if not db.is_sqlite:  # planner statistics, as autovacuum gathers them on a live database
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return [v.name for v in views]


def requests(n: int, seed: int, names: list[str], nowhere: float) -> list[RequestSpec]:
    rng = random.Random(seed + 1)
    out = fleetgen.build_requests(n, rng, names, "mixed")
    for k in range(n):
        if rng.random() < nowhere:
            out[k] = RequestSpec(TOO_BIG, out[k].image)
    return out


# --- one process placing --------------------------------------------------------------------------

def _place_some(db: Database, reqs: list[RequestSpec], now: float, out: dict,
                config: SchedulerConfig) -> None:
    for spec in reqs:
        t, c = time.perf_counter(), time.thread_time()
        try:
            service.place(db, spec, config, now=now)
            failed = False
        except NoValidHost:
            failed = True
        dc = time.thread_time() - c
        with out["lock"]:
            out["wall"].append(time.perf_counter() - t)
            out["cpu"].append(dc)
            if failed:
                out["cpu_fail"].append(dc)
            else:
                out["granted"] += 1


def place_all(db: Database, reqs: list[RequestSpec], now: float, threads: int = 1,
              config: SchedulerConfig = CONFIG) -> dict:
    """Place ``reqs`` from ``threads`` threads of this process (a controller serving several
    creates at once shares one scheduler): the wall time, the process's CPU time, per call the
    wall and the placing thread's CPU time."""
    out: dict = {"wall": [], "cpu": [], "cpu_fail": [], "granted": 0, "lock": threading.Lock()}
    t_all, c_all = time.perf_counter(), time.process_time()
    if threads == 1:
        _place_some(db, reqs, now, out, config)
    else:
        workers = [threading.Thread(target=_place_some,
                                    args=(db, reqs[k::threads], now, out, config))
                   for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    out["total"] = time.perf_counter() - t_all
    out["process_cpu"] = time.process_time() - c_all
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1e3 if xs else float("nan")


_COLD = """
import sys, time
sys.path.insert(0, {bench!r})
import placement as bench
from sqlalchemy.orm import configure_mappers
from kumo.db import Database
from kumo.scheduler import NoValidHost, service
configure_mappers()  # as the create that places has already loaded its image and flavor
spec = bench.requests(1, {seed}, {names!r}, 0.0)[0]
db = Database({url!r})
t, c = time.perf_counter(), time.thread_time()
try:
    service.place(db, spec, bench.CONFIG, now={now!r})
except NoValidHost:
    pass
print(time.perf_counter() - t, time.thread_time() - c)
"""


def cold_start(url: str, seed: int, names: list[str], now: float) -> tuple[float, float]:
    """Wall and CPU seconds of the first place() in a fresh process (a CLI create): its
    imports done and the ORM's mappers configured before the clock starts; everything the
    placement itself needs -- the whole inventory read with Core queries, the views and the
    fleet built, the statements compiled, the first decision and its claim -- timed."""
    code = _COLD.format(bench=str(Path(__file__).resolve().parent), seed=seed,
                        names=names[:50], url=url, now=now)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    wall, cpu = got.stdout.split()
    return float(wall), float(cpu)


def run_size(dbs: Databases, n: int, args) -> tuple[str, float, list[str]]:
    url = dbs.new()
    upgrade(url)
    db = Database(url)
    now = time.time()
    t = time.perf_counter()
    names = populate(db, n, args.seed, now)
    fill = time.perf_counter() - t
    reqs = requests(args.placements, args.seed, names, args.nowhere)
    colds = [cold_start(url, args.seed, names, now) for _ in range(args.cold_runs)]
    cw = statistics.median(c[0] for c in colds)
    cc = statistics.median(c[1] for c in colds)
    print(f"{dbs.backend:>10} {n:>7} hosts ({fill:.1f} s to write): cold start "
          f"{cw * 1e3:.1f} ms wall, {cc * 1e3:.1f} ms CPU (median of {len(colds)} fresh "
          f"processes)  [{load()}]")
    service.forget()
    place_all(db, reqs[:20], now)  # warm: the first decisions fill the static-mask cache
    for threads in args.threads:
        r = place_all(db, reqs, now, threads)
        fails = len(r["cpu_fail"])
        print(f"{'':>10} {threads:2d} thread{'s' if threads > 1 else ' '}: "
              f"{len(reqs) / r['total']:6.0f} placements/s, {r['total']:.2f} s wall, "
              f"{r['process_cpu']:.2f} CPU-s ({r['process_cpu'] / len(reqs) * 1e3:.3f} ms per "
              f"placement; granted {r['granted']}, NoValidHost {fails})  [{load()}]")
        print(f"{'':>10}    CPU per place p50 {pct(r['cpu'], .5):.3f} ms  "
              f"p99 {pct(r['cpu'], .99):.3f} ms;  NoValidHost CPU p50 {pct(r['cpu_fail'], .5):.3f} "
              f"ms  p99 {pct(r['cpu_fail'], .99):.3f} ms;  wall p50 {pct(r['wall'], .5):.3f} ms "
              f"p99 {pct(r['wall'], .99):.3f} ms")
    print(f"{'':>10}    peak RSS {rss_mib():.0f} MiB")
    db.dispose()
    service.forget()
    return url, now, names


# --- two processes -------------------------------------------------------------------------------

def _worker(url: str, seed: int, names: list[str], n: int, nowhere: float, now: float,
            threads: int, subset: int, engine: str, start, out) -> None:
    use_engine(engine)
    db = Database(url)
    reqs = requests(n, seed, names, nowhere)
    config = dataclasses.replace(CONFIG, host_subset_size=subset)
    try:
        service.place(db, reqs[0], config, now=now)  # the cold start, before the clock runs
    except NoValidHost:
        pass
    start.wait()
    r = place_all(db, reqs, now, threads, config)
    out.put((r["total"], r["granted"], len(reqs), r["process_cpu"]))
    db.dispose()


def processes(url: str, names: list[str], k: int, n: int, nowhere: float, now: float,
              seed: int, threads: int, subset: int, engine: str) -> tuple[float, int, float]:
    """``k`` controller processes placing ``n`` requests each from ``threads`` threads, each
    choosing among its ``subset`` best hosts (host_subset_size):
    placements/s overall, placements granted, CPU-seconds of the placing processes."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(k + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, seed + 100 * i, names, n, nowhere, now,
                                               threads, subset, engine, start, out))
             for i in range(k)]
    for p in procs:
        p.start()
    start.wait()
    t = time.perf_counter()
    results = [out.get() for _ in procs]
    total = time.perf_counter() - t
    for p in procs:
        p.join()
    return (sum(r[2] for r in results) / total, sum(r[1] for r in results),
            sum(r[3] for r in results))


def two_process(dbs: Databases, args) -> None:
    n = args.two_process_hosts
    url = dbs.new()
    upgrade(url)
    db = Database(url)
    now = time.time()
    names = populate(db, n, args.seed, now)
    db.dispose()
    per = args.placements // 2
    print()
    for subset in args.two_process_subsets:
        for threads in args.threads:
            one, _, cpu1 = processes(url, names, 1, 2 * per, args.nowhere, now, args.seed,
                                     threads, subset, args.engine)
            two, _, cpu2 = processes(url, names, 2, per, args.nowhere, now, args.seed,
                                     threads, subset, args.engine)
            print(f"two controller processes, one PostgreSQL, {n} hosts, {2 * per} placements, "
                  f"host_subset_size {subset}, {threads} thread(s) each: 1 process {one:.0f}/s "
                  f"({cpu1:.2f} CPU-s), 2 processes {two:.0f}/s ({cpu2:.2f} CPU-s) = "
                  f"{two / one:.2f}x  [{load()}]")
    for subset in args.two_process_subsets:
        exact(dbs, subset)


def exact(dbs: Databases, subset: int) -> None:
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
    procs = [ctx.Process(target=_exact_worker, args=(url, now, subset, start, out))
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
          f"limit {over}: "
          f"{'OK' if ok else 'WRONG'}")
    if not ok:
        raise SystemExit("exactly-capacity check failed")


def _exact_worker(url: str, now: float, subset: int, start, out) -> None:
    db = Database(url)
    spec = RequestSpec(Flavor(1, 1024, 20))
    start.wait()
    granted = 0
    for _ in range(100):
        try:
            service.place(db, spec, dataclasses.replace(CONFIG, host_subset_size=subset),
                          now=now)
            granted += 1
        except NoValidHost:
            pass
    out.put(granted)
    db.dispose()


def use_engine(engine: str) -> None:
    """Load the compiled kernel in this process (``kumo serve`` loads it at start; the
    resident scheduler then decides with it), or leave the numpy path."""
    if engine == "compiled":
        from kumo.scheduler import kernel

        kernel.load()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", choices=["sqlite", "postgresql"],
                    default=["sqlite", "postgresql"])
    ap.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--placements", type=int, default=2000)
    ap.add_argument("--nowhere", type=float, default=0.1,
                    help="share of requests that fit no host (default 0.1)")
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--two-process", action="store_true",
                    help="also the two-process figure and exactly-capacity check (PostgreSQL)")
    ap.add_argument("--two-process-hosts", type=int, default=10000)
    ap.add_argument("--two-process-subsets", type=int, nargs="+", default=[1, 4],
                    help="host_subset_size values for the two-process runs (default 1 4)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4],
                    help="placing threads in the process, one run each (default 1 4)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--engine", choices=["compiled", "numpy"], default="compiled",
                    help="decide with the compiled kernel, as kumo serve does (default), or "
                         "the numpy path; the cold start is always the numpy path")
    args = ap.parse_args(argv)
    use_engine(args.engine)
    print(f"filters: {', '.join(CONFIG.filters)}\n"
          f"weighers: {', '.join(f'{k}={v:g}' for k, v in CONFIG.weighers.items())}\n"
          f"engine: {args.engine} (cold start: numpy)\n"
          f"{args.placements} placements per size, {args.nowhere:.0%} fitting nowhere; "
          f"{os.cpu_count()} CPUs, {load()}\n")
    for backend in args.backends:
        dbs = Databases(backend)
        try:
            for n in args.hosts:
                run_size(dbs, n, args)
            if args.two_process and backend == "postgresql":
                two_process(dbs, args)
        finally:
            dbs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
