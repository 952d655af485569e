"""The benchmark script keeps working (a small run; the real figures come from running it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.db.fixtures import *  # noqa: F401,F403  (pg_admin_url: the PostgreSQL cluster)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scheduler.py"


def test_bench_runs_small():
    spec = importlib.util.spec_from_file_location("bench_scheduler", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run(200, 100, seed=1)
    assert r["requests"] == 100 and r["rate"] > 0 and r["p99_ms"] >= r["p50_ms"]


def test_bench_prints_cold_cache_share_and_no_valid_host_cost(capsys):
    spec = importlib.util.spec_from_file_location("bench_scheduler", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--hosts", "200", "--requests", "100", "--scenarios", "mixed", "spread",
                     "--no-tracemalloc", "--no-reference", "--nowhere", "0.2"]) == 0
    out = capsys.readouterr().out
    for text in ("decisions/s", "CPU-s)", "[load ", "of requests computed their static mask",
                 "warm cache", "NoValidHost", "reading the summary", "full passes"):
        assert text in out
    assert "nan ms CPU p50" not in out  # --nowhere 0.2: some requests fit nowhere


def test_placement_bench_runs_small(capsys):
    """bench/placement.py on SQLite, 60 hosts: the service path with database claims, some
    requests fitting nowhere."""
    path = BENCH.parent / "placement.py"
    spec = importlib.util.spec_from_file_location("bench_placement", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--backends", "sqlite", "--hosts", "60", "--placements", "40",
                     "--cold-runs", "1", "--nowhere", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "placements/s" in out and "cold start" in out and "NoValidHost CPU p50" in out


@pytest.fixture
def two_process(monkeypatch):
    """bench/two_process.py loaded as its workers load it (by name, the bench folder on the
    path: it imports bench/placement.py)."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("two_process", BENCH.parent / "two_process.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "two_process", mod)  # its workers are pickled by name
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.postgres
@pytest.mark.slow
def test_two_process_bench_runs_small(capsys, monkeypatch, pg_admin_url, two_process):
    """bench/two_process.py on PostgreSQL, 60 hosts, one round: one process against two, each
    side's CPU per placement and where the kernel ran them printed, the diagnoses (unflushed,
    pinned both ways) run, and the exactly-capacity check passes."""
    monkeypatch.setattr(two_process.bench, "PG_ADMIN", pg_admin_url)
    assert two_process.main(["--hosts", "60", "--placements", "40", "--threads", "2",
                             "--subsets", "1", "--rounds", "1", "--engine", "numpy",
                             "--unflushed", "--pinned"]) == 0
    out = capsys.readouterr().out
    for text in ("1 process", "2 processes", "x (median [min-max])", "ms CPU, pg",
                 "the ratio at equal CPU", "statements", "claim round trip", "busy; cold ",
                 "the hosts table's vacuums 0",
                 "where the kernel ran the two processes and their backends: each pair on a CPU "
                 "of its own for ",
                 "diagnosis -- commits not waiting for the WAL flush",
                 "diagnosis -- two processes with each process and its backend pinned to a "
                 "CPU of their own",
                 "each pair on a CPU of its own for 100 [100-100] % of a run",
                 "diagnosis -- two processes with each process's backend pinned to the other "
                 "process's CPU",
                 "each pair on a CPU of its own for 0 [0-0] % of a run",
                 "exactly-capacity (host_subset_size 1): 2 processes x 100 placements on room "
                 "for 160: granted 160, instances recorded on hosts 160, hosts over their "
                 "limit 0: OK"):
        assert text in out, text


@pytest.mark.parametrize("cpus, expected", [
    pytest.param([[0, 0], [1, 1]], True, id="each-process-with-its-backend"),
    pytest.param([[1, 1, 1], [0, 0]], True, id="several-backends-one-cpu"),
    pytest.param([[0, 1], [1, 0]], False, id="crossed"),
    pytest.param([[0, 0], [0, 0]], False, id="both-pairs-on-one-cpu"),
    pytest.param([[0, 0], [1, 0]], False, id="three-tasks-on-one-cpu"),
    pytest.param([[0, None], [1, 1]], False, id="a-task-gone"),
    pytest.param([[0, 0]], True, id="one-process-with-its-backend"),
    pytest.param([[0, 1]], False, id="one-process-apart-from-its-backend"),
])
def test_two_process_bench_tells_whether_each_process_ran_with_its_own_backend(
        two_process, cpus, expected):
    assert two_process.paired(cpus) is expected
