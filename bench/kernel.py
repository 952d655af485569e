"""The compiled kernel alone (kumo.scheduler.kernel): its cost per decision and per static
candidate, on bench/scheduler.py's fleets and requests.

    .venv/bin/python bench/kernel.py [--hosts 10000 100000] [--requests 400]
                                     [--scenarios spread mixed] [--repeat 9]

Places ``--requests`` requests of the scenario through the engine once (claiming as it goes),
keeping the arguments of each kernel call; then calls the kernel again with each of them,
``--repeat`` times over, timing only the calls (CPU time of this thread). Prints the fastest
and the median round as microseconds per call and nanoseconds per static candidate (the hosts
the kernel walks: those every static filter passes), with the load average. What
bench/scheduler.py's decisions per CPU-second leave out is the Python around the kernel.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scheduler as bench  # noqa: E402  (bench/scheduler.py: the same fleets and requests)

from kumo.scheduler import InMemoryClaimStore, NoValidHost, RequestSpec, Scheduler  # noqa: E402

#: the arguments a decision changes in place between calls (the request's numbers): copied
#: ("marks": the kernel's name before it walked columns, so that an older tree measures too)
ARGS_PER_REQUEST = ("need", "rmark", "marks", "like_col", "like_coef", "wsrc")


def captured_calls(n_hosts: int, n_requests: int, seed: int, scenario: str):
    """(the kernel, the arguments of each of its calls, their static candidates in all)."""
    rng = random.Random(seed)
    hosts = bench.build_fleet(n_hosts, rng)
    requests = bench.build_requests(n_requests, rng, [h.name for h in hosts], scenario, 0.0)
    sched = Scheduler(bench.CONFIG, hosts, InMemoryClaimStore.from_hosts(hosts), compiled=True)
    if scenario == "spread":
        for i, f, z in bench.spread_pool():  # as bench/scheduler.py warms the guest policy
            sched.passing(RequestSpec(f, i, availability_zone=z), bench.NOW)
    from kumo.scheduler import kernel

    kern = kernel.loaded()
    names = kern.py_func.__code__.co_varnames[:kern.py_func.__code__.co_argcount]
    copied = [names.index(a) for a in ARGS_PER_REQUEST if a in names]
    ptr_at, classes_at = names.index("ptr"), names.index("classes")
    calls, walked = [], 0

    def keep(*args):
        nonlocal walked
        args = list(args)
        for j in copied:
            args[j] = args[j].copy()
        ptr = args[ptr_at]
        walked += int(sum(ptr[c + 1] - ptr[c] for c in args[classes_at].tolist()))
        calls.append(tuple(args))
        return kern(*args)

    decide = sched._plan.decide
    sched._plan.decide = lambda _, *rest: decide(keep, *rest)  # type: ignore[method-assign]
    for req in requests:
        try:
            sched.select(req, now=bench.NOW)
        except NoValidHost:
            pass
    return kern, calls, walked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scenarios", nargs="+", choices=sorted(bench.SCENARIOS),
                    default=["spread", "mixed"])
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args(argv)
    for scenario in args.scenarios:
        for n in args.hosts:
            kern, calls, walked = captured_calls(n, args.requests, args.seed, scenario)
            rounds = []
            for _ in range(args.repeat):
                t = time.thread_time()
                for call in calls:
                    kern(*call)
                rounds.append(time.thread_time() - t)
            best, median = min(rounds), statistics.median(rounds)
            print(f"{scenario:7s} {n:>6} hosts: {len(calls)} kernel calls, "
                  f"{walked / max(1, len(calls)):.0f} static candidates each on average; "
                  f"{best / len(calls) * 1e6:.1f} us per call ({median / len(calls) * 1e6:.1f} "
                  f"median), {best / walked * 1e9:.2f} ns per static candidate "
                  f"({median / walked * 1e9:.2f} median)  "
                  f"[load {' '.join(f'{x:.2f}' for x in os.getloadavg())}]", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
