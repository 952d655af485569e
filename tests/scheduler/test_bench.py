"""The benchmark script keeps working (a small run; the real figures come from running it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scheduler.py"


def test_bench_runs_small():
    spec = importlib.util.spec_from_file_location("bench_scheduler", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run(200, 100, seed=1)
    assert r["requests"] == 100 and r["rate"] > 0 and r["p99_ms"] >= r["p50_ms"]
