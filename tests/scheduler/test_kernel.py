"""The compiled kernel's seams: who loads it and when, and which schedulers use it. (That it
decides exactly as the numpy path and the reference do is tests/scheduler/test_equivalence.py,
run over both paths.)"""

from __future__ import annotations

import math
import random
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from kumo.scheduler import (InMemoryClaimStore, NoValidHost, ReferenceScheduler, Scheduler,
                            SchedulerConfig, kernel)
from kumo.scheduler.filters.resources import RAM
from kumo.scheduler.plugins import FILTERS

from tests.scheduler.helpers import NOW, agg, host, request


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_one_shot_placement_never_imports_numba():
    """A CLI create builds a Scheduler with the default compiled=None and decides once: the
    numpy path, with no numba import or compile on its clock."""
    got = _run("""
        import sys
        from tests.scheduler.helpers import NOW, agg, host, request
        from kumo.scheduler import InMemoryClaimStore, Scheduler, SchedulerConfig
        hosts = [host("a"), host("b", vcpus=32)]
        s = Scheduler(SchedulerConfig(), hosts, InMemoryClaimStore.from_hosts(hosts))
        print(s.select(request(), now=NOW).host, "numba" in sys.modules)
    """)
    assert got == "b False"


def test_a_scheduler_left_on_default_uses_the_kernel_once_the_process_loaded_it():
    """kumo serve loads the kernel in the background; schedulers built before or after it use
    it from then on (compiled=None), and compiled=False never does."""
    got = _run("""
        from tests.scheduler.helpers import NOW, agg, host, request
        from kumo.scheduler import (InMemoryClaimStore, NoValidHost, ReferenceScheduler, Scheduler,
                            SchedulerConfig, kernel)
        hosts = [host("a"), host("b", vcpus=32)]
        auto = Scheduler(SchedulerConfig(), hosts, InMemoryClaimStore.from_hosts(hosts))
        never = Scheduler(SchedulerConfig(), hosts, InMemoryClaimStore.from_hosts(hosts),
                          compiled=False)
        calls = []
        for s in (auto, never):
            real = s._plan.decide if s._plan else None
            if real:
                s._plan.decide = lambda *a, real=real: calls.append(1) or real(*a)
        first = [s.select(request(), now=NOW).host for s in (auto, never)]
        before = len(calls)
        kernel.load_in_background(print).join()
        second = [s.select(request(), now=NOW).host for s in (auto, never)]
        print(before, len(calls), first, second)
    """)
    assert got == "0 1 ['b', 'b'] ['a', 'a']"


def test_a_plugin_the_kernel_does_not_know_keeps_the_numpy_path():
    """A filter subclass may change the rule the kernel hard-codes: that scheduler decides with
    the numpy path, whatever ``compiled`` says."""

    class StrictRAM(RAM):
        NAME = "StrictRAM"

        def mask(self, fleet, request, ctx):
            return fleet.free[self.COLUMN] >= 2 * self.requested(request)

    FILTERS["StrictRAM"] = StrictRAM
    try:
        hosts = [host("a", ram_mib=4096), host("b", ram_mib=1536)]
        config = SchedulerConfig(filters=("StrictRAM",), weighers={})
        s = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts), compiled=True)
        assert s._plan is None
        assert s.select(request(ram=1024), now=NOW).host == "a"
    finally:
        del FILTERS["StrictRAM"]


def test_a_failed_background_load_is_reported_and_leaves_the_numpy_path(monkeypatch):
    def broken():
        raise ImportError("numba needs NumPy 2.5 or less")

    monkeypatch.setattr(kernel, "load", broken)
    seen = []
    kernel.load_in_background(seen.append).join()
    assert [str(e) for e in seen] == ["numba needs NumPy 2.5 or less"]


@pytest.mark.parametrize("alternates", [0, 1, 3])
def test_alternates_and_ties_by_name_on_the_kernel(alternates):
    """Equal weights go to the smallest name; alternates follow by weight, then name."""
    hosts = [host(n, vcpus=v) for n, v in (("d", 8), ("c", 16), ("b", 16), ("a", 8))]
    config = SchedulerConfig(alternates=alternates, weighers={"FreeVCPU": 1.0})
    s = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts), compiled=True)
    p = s.select(request(), now=NOW)
    assert p.host == "b"
    assert p.alternates == (("c", "a", "d")[:alternates],)


def test_the_kernels_copy_of_the_columns_follows_new_like_image_values():
    """Each image with a new value of a tracked property adds a like-count column as it is
    placed; the kernel's row-per-host copy (Fleet.mirror) grows with them and the decisions
    stay the numpy path's, weights included."""
    hosts = [host(f"h{k}", vcpus=64, ram_mib=262144) for k in range(6)]
    config = SchedulerConfig(weighers={"LikeImages": -1.0, "FreeRAM": 0.01},
                             options={"LikeImages": {"properties": {"os_distro": 1.0}}})
    distros = ["ubuntu", "debian", "fedora", "centos", "rhel", "sles", "arch", "alpine"]
    outcomes = []
    for compiled in (False, True):
        s = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts), compiled=compiled)
        got = []
        for k in range(40):
            p = s.select(request(props={"os_distro": distros[k % len(distros)]}), now=NOW)
            got.append((p.host, p.weights, p.alternates))
        outcomes.append(got)
        if compiled:
            assert len(s.fleet.like_rows) == len(distros)
            assert s.fleet._mirror is not None  # rebuilt wider, in use
    assert outcomes[0] == outcomes[1]
    assert len({o[0] for o in outcomes[1]}) > 1


def _reference_order(total, cand, m):
    """The ranking as the reference makes it (by total, highest first, then by host index),
    NaN -- which that sort leaves undefined -- counting as the highest, as numpy's argmax
    takes it: the positions of the first m."""
    def key(t):
        v = total[t]
        return (0, 0.0, cand[t]) if v != v else (1, -v, cand[t])
    return sorted(range(len(total)), key=key)[:m]


@pytest.mark.parametrize("values", [
    pytest.param((0.0, 0.5, 1.0, 2.0), id="ties"),
    pytest.param((0.0, 1.0, math.nan), id="nan"),
    pytest.param((0.0, 1.0, -math.inf), id="minus-inf"),
    pytest.param((-math.inf, math.nan), id="nan-and-minus-inf"),
    pytest.param(tuple(range(64)), id="distinct"),
])
@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_the_kernels_one_pass_ranking_is_the_reference_order(values, m):
    """The best and the alternates kept in one pass (kernel._rank) are the reference's."""
    kernel.load()
    rng = np.random.default_rng(len(values) * 10 + m)
    for _ in range(200):
        k = int(rng.integers(1, 30))
        total = rng.choice(np.array(values, dtype=np.float64), size=k)
        cand = rng.permutation(1000)[:k].astype(np.int64)  # class by class: not in host order
        out = np.full(m, -1, dtype=np.int64)
        kernel._rank(total, cand, k, out, np.empty(m), np.empty(m, dtype=np.int64))
        assert out[:min(m, k)].tolist() == _reference_order(total.tolist(), cand.tolist(), m)


#: free-RAM multipliers aggregates set, one per multiplier class
CLASS_MULTIPLIERS = ("1", "2", "-1", "0.5", "3", "-2", "1.5", "4", "-0.25")


@pytest.mark.parametrize("n_classes", [2, 3, 4, 5, 9])
def test_per_kind_multipliers_by_class_on_the_kernel(n_classes):
    """The kernel divides a per-kind multiplier by the weigher's range once per multiplier
    class (hosts whose aggregates give the same multipliers), choosing it by comparison for up
    to four classes, by lookup for more, and per candidate when the candidates are fewer than
    the classes: each way decides as the reference does, weights bit for bit."""
    aggs = [agg(f"m{c}", free_ram_weight_multiplier=CLASS_MULTIPLIERS[c])
            for c in range(n_classes)]
    hosts = [host(f"h{j:02d}", vcpus=8 + j % 5, ram_mib=(65536, 61440)[j] if j < 2 else 16384 + 1024 * j,
                  aggregates=(aggs[j % n_classes],)) for j in range(18)]
    config = SchedulerConfig(alternates=2, weighers={"FreeRAM": 1.0, "FreeVCPU": 0.5})
    fast = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts), compiled=True)
    slow = ReferenceScheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts))
    # 2 candidates, then 1 (fewer than the classes but where there are 2), then 18 (more)
    requests = [request(ram=40000)] * 2 + [request(ram=1024 * (1 + k % 4)) for k in range(24)]
    seen = []
    for req in requests:
        got = []
        for s in (fast, slow):
            try:
                p = s.select(req, now=NOW)
                got.append((p.hosts, p.weights, p.alternates))
            except NoValidHost as e:
                got.append(("NoValidHost", str(e)))
        assert got[0] == got[1]
        seen.append(got[0][0])
    assert fast._plan.mcls_mult.shape[0] == n_classes
    assert seen[:2] == [("h00",), ("h01",)]
    assert len({h for hs in seen[2:] for h in hs}) > 3  # the weights decided, not one host


def _outcomes(scheduler, requests):
    got = []
    for req in requests:
        try:
            p = scheduler.select(req, now=NOW)
            got.append((p.hosts, p.weights, p.alternates))
        except NoValidHost as e:
            got.append(("NoValidHost", str(e)))
    return got


@pytest.mark.parametrize("seed", range(4))
def test_every_candidate_on_the_kernel_when_the_pick_is_drawn(seed):
    """host_subset_size > 1 draws among the best few of all the candidates: the kernel then
    writes every candidate and its total (KernelPlan.every), and with the same draws the
    compiled path places as the numpy path does."""
    from tests.scheduler.test_equivalence import CONFIGS, random_fleet, random_requests

    rng = random.Random(seed)
    hosts = random_fleet(rng, 80)
    requests = random_requests(rng, hosts, 60)
    config = replace(CONFIGS["everything"], host_subset_size=3)
    got = []
    for compiled in (False, True):
        s = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts), compiled=compiled)
        assert (s._plan is not None and s._plan.every) == compiled
        s._rng = random.Random(seed)
        got.append(_outcomes(s, requests))
    assert got[0] == got[1]
    assert sum(o[0] != "NoValidHost" for o in got[1]) > 20


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_totals_that_overflow_to_minus_infinity():
    """Multipliers large enough to overflow make some totals -inf; with fewer finite ones than
    picks, the alternates go on with the -inf ones by name, as the reference has them (the
    numpy path's argmax passes, which mark each pick -inf, took the first host again)."""
    # two small hosts weigh 0, the ten big ones -1e308 twice: -inf, fewer than the 4 picks
    hosts = [host(f"h{j:02d}", vcpus=4 if j < 2 else 8, ram_mib=8192 if j < 2 else 32768)
             for j in range(12)]
    config = SchedulerConfig(alternates=3, weighers={"FreeRAM": -1e308, "FreeVCPU": -1e308})
    slow = ReferenceScheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts))
    requests = [request(ram=1024) for _ in range(10)]
    expected = _outcomes(slow, requests)
    assert expected[0] == (("h00",), (0.0,), (("h01", "h02", "h03"),))
    for compiled in (False, True):
        fast = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts), compiled=compiled)
        assert -math.inf in fast.scores(requests[0], NOW).values()
        assert _outcomes(fast, requests) == expected, compiled


def test_kernel_bench_runs_small(capsys):
    """bench/kernel.py (the kernel alone, per call and per static candidate) keeps working."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "kernel.py"
    spec = importlib.util.spec_from_file_location("bench_kernel", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--hosts", "300", "--requests", "30", "--repeat", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["spread", "300"], ["mixed", "300"]]
    assert all("ns per static candidate" in line and "[load " in line for line in out)
