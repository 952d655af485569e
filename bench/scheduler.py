"""Scheduler benchmark: fleets of 1,000 and 10,000 hosts, 2,000 requests each, every filter and
weigher enabled, every host scored, claiming as it goes (in-memory claim store).

    .venv/bin/python bench/scheduler.py [--hosts 1000 10000] [--requests 2000] [--seed 7]
                                        [--scenarios mixed wide spread] [--nowhere 0.1]
                                        [--engine compiled numpy]

Every host's capabilities are drawn from dozens of classes (QEMU version, OVMF with or without
Secure Boot, swtpm, CPU generation; Xen and Hyper-V versions) so the GuestPolicy filter runs the
guest policy per class as it would on a real fleet. Prints decisions per second (wall, and per
CPU-second of the deciding thread, with wall and CPU-seconds and the load average: on a shared
machine the wall figure is depressed), the share of requests whose static mask was not cached
and what they cost, the rate of the others (warm), p50/p99 latency per decision (a decision =
filter + weigh + claim for one single-instance request; NoValidHost answers included and
counted), the NoValidHost cost (a share ``--nowhere`` of requests fit no host; their summary is
built only when read, and what reading it costs is printed apart), peak memory, and -- at 1,000
hosts -- the per-host reference scheduler's rate on the same fleet for comparison.

``--engine``: ``compiled`` (the default) decides with the compiled kernel
(kumo.scheduler.kernel, what ``kumo serve`` uses; its load -- numba's import and compile or
cache read -- is timed apart, before the runs), ``numpy`` with the numpy path a one-shot
command uses; both decide identically.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.hosts.capabilities import HostCapabilities
from kumo.hosts.defaults import host_caps_for
from kumo.scheduler import (DEFAULT_FILTERS, Aggregate, HostView, InMemoryClaimStore, NoValidHost,
                            ReferenceScheduler, RequestSpec, Scheduler, SchedulerConfig,
                            ServerGroup)

NOW = 1_700_000_000.0

CONFIG = SchedulerConfig(
    filters=DEFAULT_FILTERS,
    weighers={"FreeRAM": 1.0, "FreeVCPU": 1.0, "FreeDisk": 0.5, "InstanceCount": 0.5,
              "LikeImages": -1.0},
    options={"AggregateImageIsolation": {"properties": ["os_type"],
                                         "required": {"os_type": ["windows"]}},
             "LikeImages": {"properties": {"os_type": 1.0}},
             "ComputeUp": {"service_down_time": 60}},
)

AGGS = {
    "win-licensed": Aggregate("win-licensed", {"os_type": "windows",
                                               "like_images_weight_multiplier": "-3"}),
    "linux-only": Aggregate("linux-only", {"os_type": "linux", "kumo_isolation": "strict"}),
    "highmem": Aggregate("highmem", {"ram_allocation_ratio": "1.5"}),
    "dense": Aggregate("dense", {"cpu_allocation_ratio": "8", "free_vcpu_weight_multiplier": "2"}),
}


#: CPU model sets libvirt hosts differ by (the newest models their CPUs run)
CPU_GENERATIONS = (("Nehalem", "SandyBridge", "Haswell"),
                   ("Nehalem", "SandyBridge", "Haswell", "Skylake-Server", "Icelake-Server"))
_CLASSES: dict = {}


def capability_class(hv: str, version: tuple[int, ...], rng: random.Random) -> HostCapabilities:
    """One host's capabilities: the hypervisor's default host varied the way real fleets vary
    (QEMU version, OVMF with or without Secure Boot, swtpm, CPU generation), so the GuestPolicy
    filter sees dozens of distinct capability classes. Equal draws share one value."""
    base = host_caps_for(hv)
    if hv in ("kvm", "qemu"):
        efi = rng.random() < 0.8
        key = (hv, version, efi, efi and rng.random() < 0.7, rng.random() < 0.5,
               rng.choice(CPU_GENERATIONS))
        _, _, _, secure, swtpm, cpus = key
        if key not in _CLASSES:
            _CLASSES[key] = replace(
                base, hypervisor=hv, hypervisor_version=version,
                firmware=("bios", "efi") if efi else ("bios",),
                uefi_loaders=base.uefi_loaders if efi else (), secure_boot=secure,
                swtpm=swtpm, cpu_models=cpus)
        return _CLASSES[key]
    key = (hv, version)
    if key not in _CLASSES:
        _CLASSES[key] = replace(base, hypervisor_version=version)
    return _CLASSES[key]


def build_fleet(n: int, rng: random.Random) -> list[HostView]:
    hosts = []
    for i in range(n):
        hv = rng.choices(["kvm", "qemu", "xen", "hyperv"], [50, 5, 15, 30])[0]
        version = rng.choice({"kvm": [(6, 2), (7, 2), (8, 2)], "qemu": [(7, 2), (8, 2)],
                              "xen": [(4, 14), (4, 17)],
                              "hyperv": [(6, 2), (6, 3), (10, 0)]}[hv])
        vcpus = rng.choice([32, 64, 128])
        ram = rng.choice([131072, 262144, 524288])
        disk = rng.choice([2000, 4000])
        fill = rng.uniform(0.0, 0.85)
        aggs = []
        if (hv == "hyperv" and rng.random() < 0.6) or (hv == "kvm" and rng.random() < 0.2):
            aggs.append(AGGS["win-licensed"])
        elif hv == "kvm" and rng.random() < 0.1:
            aggs.append(AGGS["linux-only"])
        if rng.random() < 0.2:
            aggs.append(AGGS["highmem"])
        if rng.random() < 0.2:
            aggs.append(AGGS["dense"])
        instances = int(fill * vcpus / 2)
        win = rng.randint(0, instances)
        r = rng.random()
        hosts.append(HostView.from_capabilities(
            f"{hv}-{i:05d}", capability_class(hv, version, rng),
            availability_zone=rng.choice(["az1", "az2", "az3"]), aggregates=tuple(aggs),
            enabled=r >= 0.02, forced_down=0.02 <= r < 0.03,
            last_heartbeat=NOW - (600 if 0.03 <= r < 0.05 else rng.uniform(0, 30)),
            vcpus=vcpus, vcpus_used=int(vcpus * 4 * fill), ram_mib=ram,
            ram_mib_used=int(ram * fill), disk_gib=disk, disk_gib_used=int(disk * fill),
            instances=instances,
            image_property_counts={"os_type": {"windows": win, "linux": instances - win}}))
    return hosts


IMAGES = [
    ({"os_type": "linux", "hypervisor_type": "kvm", "architecture": "x86_64"}, 35),
    ({"os_type": "linux", "vm_mode": "xen", "hypervisor_type": "xen"}, 10),
    ({"os_type": "windows", "hypervisor_type": "hyperv", "hw_machine_type": "hyperv-gen2",
      "hypervisor_version_requires": ">=6.3"}, 20),
    ({"os_type": "windows", "hypervisor_type": "hyperv",
      "hypervisor_version_requires": ">=6.3,<10.0"}, 5),
    ({"os_type": "windows", "hw_machine_type": "q35", "hw_firmware_type": "uefi",
      "os_secure_boot": "required", "hw_tpm_version": "2.0"}, 15),
    ({"os_distro": "ubuntu", "hw_machine_type": "q35"}, 15),
]
FLAVORS = [Flavor(1, 2048, 20), Flavor(2, 4096, 40), Flavor(4, 8192, 80), Flavor(8, 32768, 160)]


#: a flavor no host has room for: the requests that fit nowhere (NoValidHost)
TOO_BIG = Flavor(1024, 8 * 1024 * 1024, 100_000)
#: the spread scenario's flavors: 21 sizes (vCPU x RAM), each a distinct guest for the policy
SPREAD_FLAVORS = [Flavor(v, r, 20 + 10 * v) for v in (1, 2, 4) for r in
                  (1024, 2048, 3072, 4096, 6144, 8192, 12288)]


def spread_pool() -> list[tuple[ImageProperties, Flavor, str | None]]:
    """6 images x 21 flavors x 4 zones (none, az1-3) = 504 distinct requests: more than the
    static-mask cache holds (kumo.scheduler.fleet.MASK_CACHE_SIZE), so drawn uniformly about
    half of them find it cold."""
    images = [ImageProperties.parse(p) for p, _ in IMAGES]
    return [(i, f, z) for i in images for f in SPREAD_FLAVORS for z in (None, "az1", "az2", "az3")]


def build_requests(n: int, rng: random.Random, host_names: list[str],
                   scenario: str = "mixed", nowhere: float = 0.0) -> list[RequestSpec]:
    out = _build_requests(n, rng, host_names, scenario)
    for k in range(n):
        if rng.random() < nowhere:
            out[k] = RequestSpec(TOO_BIG, out[k].image)
    return out


def _build_requests(n: int, rng: random.Random, host_names: list[str],
                    scenario: str) -> list[RequestSpec]:
    if scenario == "spread":
        pool = spread_pool()
        return [RequestSpec(f, i, availability_zone=z)
                for i, f, z in (rng.choice(pool) for _ in range(n))]
    if scenario == "wide":
        # no image constraints, no zone, no group: every host with room is a candidate
        return [RequestSpec(rng.choice(FLAVORS[:3])) for _ in range(n)]
    images = [(ImageProperties.parse(p), w) for p, w in IMAGES]
    out = []
    for k in range(n):
        image = rng.choices([i for i, _ in images], [w for _, w in images])[0]
        az = rng.choice(["az1", "az2", "az3"]) if rng.random() < 0.3 else None
        group = None
        if rng.random() < 0.2:
            members = tuple(rng.sample(host_names, rng.randint(1, 5)))
            group = ServerGroup(f"g{k % 50}", "anti-affinity", members)
        out.append(RequestSpec(rng.choice(FLAVORS), image, availability_zone=az, group=group))
    return out


def run(n_hosts: int, n_requests: int, seed: int, scenario: str = "mixed",
        nowhere: float = 0.0, engine: str = "numpy") -> dict:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    hosts = build_fleet(n_hosts, rng)
    requests = build_requests(n_requests, rng, [h.name for h in hosts], scenario, nowhere)
    store = InMemoryClaimStore.from_hosts(hosts)
    sched = Scheduler(CONFIG, hosts, store, compiled=engine == "compiled")
    build_s = time.perf_counter() - t0
    if scenario == "spread":
        # warm the guest policy's per-class answers (a cache of its own, kept across
        # requests); the static-mask cache stays as cold as the spread makes it
        for i, f, z in spread_pool():
            sched.passing(RequestSpec(f, i, availability_zone=z), NOW)
    misses = [0]
    put = sched.fleet.cache_put

    def counting_put(key, mask):
        if key and key[0] == "static":
            misses[0] += 1
        put(key, mask)

    sched.fleet.cache_put = counting_put  # type: ignore[method-assign]
    lat, cpu_cold, cpu_warm, cpu_fail, cpu_fail_warm = [], [], [], [], []
    failed = 0
    collections = _Collections()
    gc.callbacks.append(collections.callback)
    t_all, c_all = time.perf_counter(), time.thread_time()
    for req in requests:
        before = misses[0]
        t, c = time.perf_counter(), time.thread_time()
        try:
            sched.select(req, now=NOW)
            ok = True
        except NoValidHost:
            failed += 1
            ok = False
        dc = time.thread_time() - c
        lat.append(time.perf_counter() - t)
        warm = misses[0] == before
        (cpu_warm if warm else cpu_cold).append(dc)
        if not ok:
            cpu_fail.append(dc)
            if warm:
                cpu_fail_warm.append(dc)
    total = time.perf_counter() - t_all
    cpu_total = time.thread_time() - c_all
    gc.callbacks.remove(collections.callback)
    summary_ms = float("nan")
    fails = [r for r in requests if r.flavor is TOO_BIG][:20]
    if fails:  # what reading the NoValidHost summary costs, when a caller reads it
        t = time.thread_time()
        for r in fails:
            try:
                sched.select(r, now=NOW)
            except NoValidHost as e:
                e.summary
        summary_ms = (time.thread_time() - t) / len(fails) * 1e3
    lat.sort()
    cands = len(sched.passing(requests[-1], NOW))
    return {"hosts": n_hosts, "requests": n_requests, "failed": failed, "build_s": build_s,
            "candidates": cands, "cold": misses[0] / n_requests,
            "rate": n_requests / total, "cpu_rate": n_requests / cpu_total,
            "wall_s": total, "cpu_s": cpu_total,
            "warm_us": statistics.median(cpu_warm) * 1e6 if cpu_warm else float("nan"),
            "warm_rate": len(cpu_warm) / sum(cpu_warm) if cpu_warm else float("nan"),
            "cold_ms": statistics.mean(cpu_cold) * 1e3 if cpu_cold else float("nan"),
            "cold_share_cpu": sum(cpu_cold) / cpu_total,
            "nvh_warm_p99_ms": (_p99(cpu_fail_warm) * 1e3 if cpu_fail_warm else float("nan")),
            "p50_ms": statistics.median(lat) * 1e3,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3, "max_ms": lat[-1] * 1e3,
            "nvh_p50_ms": statistics.median(cpu_fail) * 1e3 if cpu_fail else float("nan"),
            "nvh_p99_ms": (sorted(cpu_fail)[int(len(cpu_fail) * 0.99)] * 1e3 if cpu_fail
                           else float("nan")),
            "summary_ms": summary_ms, "gc": collections,
            "sched": sched, "hosts_list": hosts, "requests_list": requests}


class _Collections:
    """The cyclic collector's passes during the run, per generation, and their CPU time: a
    full pass (generation 2) walks the whole heap -- tens of milliseconds at 10,000 hosts --
    and whether one falls into a short run is much of the spread between runs."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.cpu_s = [0.0, 0.0, 0.0]
        self._start = 0.0

    def callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.thread_time()
        else:
            g = info["generation"]
            self.count[g] += 1
            self.cpu_s[g] += time.thread_time() - self._start


def _p99(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * 0.99))]


def reference_rate(hosts, requests, n: int) -> float:
    ref = ReferenceScheduler(CONFIG, hosts, InMemoryClaimStore.from_hosts(hosts))
    t = time.perf_counter()
    for req in requests[:n]:
        try:
            ref.select(req, now=NOW)
        except NoValidHost:
            pass
    return n / (time.perf_counter() - t)


def traced_peak(n_hosts: int, n_requests: int, seed: int, scenario: str) -> float:
    """Peak Python heap (MiB) while building the fleet and placing the requests."""
    tracemalloc.start()
    run(n_hosts, n_requests, seed, scenario, 0.1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


SCENARIOS = {
    "mixed": "Linux/Windows/Xen/Hyper-V images, 30% with a zone, 20% in anti-affinity groups",
    "wide": "no image constraints: nearly every host is a candidate to weigh (worst case)",
    "spread": "504 distinct image/flavor/zone requests drawn uniformly: the static-mask cache "
              "is cold for about half of them",
}


def report(n: int, args, scenario: str, engine: str) -> None:
    r = run(n, args.requests, args.seed, scenario, args.nowhere, engine)
    fleet = r["sched"].fleet
    arrays = sum(a.nbytes for a in (fleet.capacity, fleet.ratio, fleet.limit, fleet.base,
                                    fleet.pending, fleet.free, fleet.neg_instances,
                                    fleet.heartbeat, fleet.forced_down))
    arrays += sum(c.nbytes for c in fleet.like_counts.values())
    if fleet._mirror is not None:  # the compiled kernel's copy
        arrays += fleet._mirror.nbytes
    classes = len({h.capabilities for h in r["hosts_list"]})
    print(f"{n:>6} hosts, {engine} engine, {r['requests']} requests ({r['failed']} NoValidHost), "
          f"fleet built in {r['build_s']:.2f} s; last request had {r['candidates']} candidates")
    print(f"  capability classes {classes:5d} (distinct host capabilities GuestPolicy sees)")
    print(f"  decisions/s   {r['rate']:10.0f}   ({r['cpu_rate']:.0f} per CPU-second; "
          f"{r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} CPU-s)  "
          f"[load {' '.join(f'{x:.2f}' for x in os.getloadavg())}]")
    print(f"  cold cache    {r['cold']:10.0%}   of requests computed their static mask: "
          f"{r['cold_ms']:.2f} ms CPU each, {r['cold_share_cpu']:.0%} of the CPU time")
    print(f"  warm cache    {r['warm_rate']:10.0f}   decisions per CPU-second "
          f"(p50 {r['warm_us']:.0f} us CPU)")
    print(f"  NoValidHost   {r['nvh_p50_ms']:10.3f} ms CPU p50, {r['nvh_p99_ms']:.3f} ms p99, "
          f"{r['nvh_warm_p99_ms']:.3f} ms p99 with the static mask cached (summary not read); "
          f"reading the summary {r['summary_ms']:.3f} ms")
    g = r["gc"]
    print(f"  collector     {g.count[2]:10d}   full passes ({g.cpu_s[2] * 1e3:.1f} ms CPU), "
          f"{g.count[0] + g.count[1]} young ones ({(g.cpu_s[0] + g.cpu_s[1]) * 1e3:.1f} ms) "
          "during the run, included above")
    print(f"  p50 latency   {r['p50_ms']:10.3f} ms")
    print(f"  p99 latency   {r['p99_ms']:10.3f} ms   (max {r['max_ms']:.3f} ms)")
    print(f"  fleet arrays  {arrays / 2**20:10.2f} MiB")
    if not args.no_tracemalloc:
        print(f"  traced peak   {traced_peak(n, args.requests, args.seed, scenario):10.1f} MiB "
              "(Python heap incl. host views and requests, tracemalloc run)")
    if not args.no_reference and n <= 1000:
        k = 100
        rate = reference_rate(r["hosts_list"], r["requests_list"], k)
        print(f"  reference     {rate:10.1f} decisions/s (per-host plugins, first {k} requests)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS),
                    default=["mixed", "wide", "spread"])
    ap.add_argument("--nowhere", type=float, default=0.1,
                    help="share of requests that fit no host (default 0.1)")
    ap.add_argument("--engine", nargs="+", choices=["compiled", "numpy"], default=["compiled"],
                    help="decide with the compiled kernel (long-running processes) and/or the "
                         "numpy path (one-shot commands)")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--no-tracemalloc", action="store_true")
    args = ap.parse_args(argv)
    print(f"filters: {', '.join(CONFIG.filters)}")
    print(f"weighers: {', '.join(f'{k}={v:g}' for k, v in CONFIG.weighers.items())}")
    if "compiled" in args.engine:
        from kumo.scheduler import kernel
        t, c = time.perf_counter(), time.process_time()
        kernel.load()
        print(f"compiled kernel loaded in {time.perf_counter() - t:.2f} s wall, "
              f"{time.process_time() - c:.2f} CPU-s (numba import + compile or cache read)")
    for scenario in args.scenarios:
        print(f"\n== scenario {scenario}: {SCENARIOS[scenario]}")
        for n in args.hosts:
            for engine in args.engine:
                report(n, args, scenario, engine)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\npeak RSS of the process: {peak_kib / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
