"""Weighers: spread by default, pack with negative multipliers, normalised, overridable."""

from __future__ import annotations

from collections import Counter

import pytest

from kumo.scheduler import InMemoryClaimStore, ReferenceScheduler, Scheduler, SchedulerConfig

from tests.scheduler.helpers import NOW, agg, host, request

IDENTICAL = [host(f"h{i:02d}", vcpus=10, cpu_allocation_ratio=1.0, ram_mib=10 * 1024,
                  disk_gib=100) for i in range(10)]
PACK = {"FreeRAM": -1.0, "FreeVCPU": -1.0, "FreeDisk": -1.0, "InstanceCount": -1.0}
ENGINES = {"columnar": Scheduler, "reference": ReferenceScheduler}


def place(engine, config, hosts, n, req=None):
    s = ENGINES[engine](config, hosts, InMemoryClaimStore.from_hosts(hosts))
    return [s.select(req or request(vcpus=1, ram=1024, disk=10), now=NOW).host
            for _ in range(n)]


@pytest.mark.parametrize("engine", ENGINES)
def test_identical_requests_spread_evenly(engine):
    placed = place(engine, SchedulerConfig(), IDENTICAL, 100)
    assert Counter(placed) == {h.name: 10 for h in IDENTICAL}
    # ties go to the smallest name, so the spread is a round robin
    assert placed[:20] == [h.name for h in IDENTICAL] * 2


@pytest.mark.parametrize("engine", ENGINES)
def test_negative_multipliers_pack_hosts_one_by_one(engine):
    placed = place(engine, SchedulerConfig(weighers=PACK), IDENTICAL, 100)
    assert placed == [h.name for h in IDENTICAL for _ in range(10)]


def test_scores_are_min_max_normalised_times_multiplier():
    hosts = [host("a", ram_mib=1024 + 0), host("b", ram_mib=1024 + 50), host("c", ram_mib=1124)]
    s = Scheduler(SchedulerConfig(weighers={"FreeRAM": 2.0}), hosts,
                  InMemoryClaimStore.from_hosts(hosts))
    assert s.scores(request(ram=1024), NOW) == {"a": 0.0, "b": 1.0, "c": 2.0}


def test_alike_candidates_all_score_zero():
    hosts = [host("a"), host("b")]
    s = Scheduler(SchedulerConfig(), hosts, InMemoryClaimStore.from_hosts(hosts))
    assert s.scores(request(), NOW) == {"a": 0.0, "b": 0.0}
    assert s.select(request(), now=NOW).host == "a"  # tie: smallest name


def test_aggregate_overrides_multiplier():
    packed = agg("pack-here", free_ram_weight_multiplier="-1")
    hosts = [host("a", ram_mib=4096), host("b", ram_mib=8192, aggregates=(packed,)),
             host("c", ram_mib=2048)]
    s = Scheduler(SchedulerConfig(weighers={"FreeRAM": 1.0}), hosts,
                  InMemoryClaimStore.from_hosts(hosts))
    assert s.scores(request(ram=1024), NOW) == {"a": pytest.approx(1 / 3), "b": -1.0, "c": 0.0}
    assert s.select(request(ram=1024), now=NOW).host == "a"


@pytest.mark.parametrize("engine", ENGINES)
def test_like_images_negative_packs_windows_together(engine):
    hosts = [host("a", image_property_counts={"os_type": {"windows": 1}}),
             host("b", image_property_counts={"os_type": {"linux": 5}}),
             host("c")]
    config = SchedulerConfig(weighers={"InstanceCount": 1.0, "LikeImages": -5.0})
    win = request(props={"os_type": "windows"})
    placed = place(engine, config, hosts, 4, win)
    assert placed == ["a", "a", "a", "a"]


@pytest.mark.parametrize("engine", ENGINES)
def test_like_images_positive_spreads_like_images(engine):
    hosts = [host("a", image_property_counts={"os_type": {"windows": 1}}), host("b")]
    config = SchedulerConfig(weighers={"LikeImages": 1.0})
    placed = place(engine, config, hosts, 3, request(props={"os_type": "windows"}))
    assert placed == ["b", "a", "b"]


def test_like_images_multiplier_only_on_licensed_aggregate():
    """Windows packs onto the licensed host already running Windows, although instance count
    alone would spread it; Linux placement is untouched by the licensed-only multiplier."""
    lic = agg("win-licensed", os_type="windows,linux", like_images_weight_multiplier="-10")
    hosts = [host("a", aggregates=(lic,), instances=3,
                  image_property_counts={"os_type": {"windows": 3}}),
             host("b", aggregates=(lic,)), host("c")]
    config = SchedulerConfig(weighers={"InstanceCount": 1.0, "LikeImages": 0.0},
                             options={"AggregateImageIsolation": {
                                 "required": {"os_type": ["windows"]}}})
    s = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts))
    assert s.scores(request(props={"os_type": "windows"}), NOW) == {"a": 0.0, "b": -9.0}
    assert s.select(request(props={"os_type": "windows"}), now=NOW).host == "a"
    assert s.select(request(props={"os_type": "linux"}), now=NOW).host == "b"
