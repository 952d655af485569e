"""CLI start-up: wall time of `kumo --help`, `kumo render -p os_distro=win10` and `kumo --version`
in fresh processes (what a user waits for), interleaved so machine load hits all alike.

    .venv/bin/python bench/cli_startup.py [--runs N]

Prints the median and the 90th percentile of the wall time and the median CPU time per command,
and the bare interpreter's start-up (`python -c pass`) as the floor. The commands run from
bytecode, as an installed kumo does (a warm-up run writes the .pyc files). The target (issue 11) is <= 150 ms for the first two.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "kumo --help": [sys.executable, "-m", "kumo.cli.main", "--help"],
    "kumo --version": [sys.executable, "-m", "kumo.cli.main", "--version"],
    "kumo render -p os_distro=win10": [sys.executable, "-m", "kumo.cli.main", "render", "-p",
                                       "os_distro=win10"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--src", default=str(SRC), help="kumo sources to measure (default: "
                                                         "this checkout's)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": f"{args.src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # measured as an installed kumo runs: from bytecode (pip compiles it at install). Without
    # .pyc files every start compiles kumo's sources again (PYTHONDONTWRITEBYTECODE=1 is set in
    # some environments), which costs more than everything else together.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for argv in COMMANDS.values():  # warm-up: writes the .pyc files
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    # wall is what the target is about; CPU (user+sys) shows the same under a loaded machine
    print(f"load average {os.getloadavg()[0]:.2f}; {args.runs} runs each")
    print(f"{'command':34} {'median wall ms':>15} {'p90 wall ms':>12} {'median cpu ms':>14}")
    for name, ts in times.items():
        p90 = statistics.quantiles(ts, n=10)[-1]
        print(f"{name:34} {statistics.median(ts) * 1000:15.1f} {p90 * 1000:12.1f} "
              f"{statistics.median(cpu[name]) * 1000:14.1f}")


if __name__ == "__main__":
    main()
