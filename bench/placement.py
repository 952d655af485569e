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
``--two-process`` (PostgreSQL): bench/two_process.py after these figures -- the same placements
split over two controller processes against one database, against one process alone, per
host_subset_size and thread count, in alternating rounds, with each side's CPU per placement;
then the exactly-capacity check per host_subset_size.

A claim commits on its own (PostgreSQL: one WAL flush per claim, synchronous_commit as the server
has it), so one thread's rate is bounded by the disk's flush latency; threads share flushes
(group commit) as concurrent creates in a controller do.

The load average is printed with each figure: on a shared machine, figures are depressed.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import create_engine, insert, select  # noqa: E402

from kumo.catalog.flavor import Flavor  # noqa: E402
from kumo.config import sqlite_url  # noqa: E402
from kumo.db import Database, upgrade  # noqa: E402
from kumo.db.scratch import drop_orphans, scratch_name  # noqa: E402
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
    """Fresh databases of one backend, removed at the end; on PostgreSQL, those a killed bench
    run left are dropped first (kumo.db.scratch)."""

    def __init__(self, backend: str):
        self.backend = backend
        self.tmp = tempfile.TemporaryDirectory(prefix="kumo-bench-")
        self.made: list[str] = []
        self.admin = (create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
                      if backend == "postgresql" else None)
        if self.admin is not None:
            drop_orphans(self.admin, "bench")

    def new(self) -> str:
        name = scratch_name("bench")
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
    ap.add_argument("--two-process-rounds", type=int, default=3,
                    help="rounds of one process and two, alternating (default 3)")
    ap.add_argument("--two-process-warmup", type=int, default=None,
                    help="requests each two-process worker places before the clock starts "
                         "(default: as many as --placements)")
    ap.add_argument("--two-process-verbose", action="store_true",
                    help="print every two-process run")
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
                import two_process  # bench/two_process.py

                two_process.two_process(dbs, argparse.Namespace(**{
                    **vars(args), "hosts": args.two_process_hosts,
                    "subsets": args.two_process_subsets, "rounds": args.two_process_rounds,
                    "warmup": args.two_process_warmup, "verbose": args.two_process_verbose}))
        finally:
            dbs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
