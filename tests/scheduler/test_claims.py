"""Claims: atomic in the store, never over-committed, refreshed when a race is lost."""

from __future__ import annotations

import dataclasses
import inspect
import threading
from collections import Counter

import pytest

from kumo.errors import NotFound
from kumo.scheduler import (Claim, ClaimStore, HostUsage, InMemoryClaimStore, NoValidHost,
                            Scheduler, SchedulerConfig)
from kumo.scheduler.claims import ClaimResult, Placement, _direct_init

from tests.scheduler.helpers import NOW, host, race, request

LIMITS = dict(vcpus_limit=4, ram_mib_limit=4096, disk_gib_limit=40)
STORE_CASES = [
    ("fits", HostUsage(0, 0, 0, 0, 0), Claim("h", 2, 2048, 20, **LIMITS), True,
     HostUsage(2, 2048, 20, 1, 1)),
    ("fills-exactly", HostUsage(2, 2048, 20, 1, 1), Claim("h", 2, 2048, 20, **LIMITS), True,
     HostUsage(4, 4096, 40, 2, 2)),
    ("vcpu-over", HostUsage(3, 0, 0, 1, 5), Claim("h", 2, 1, 1, **LIMITS), False,
     HostUsage(3, 0, 0, 1, 5)),
    ("ram-over", HostUsage(0, 4000, 0, 1, 5), Claim("h", 1, 97, 1, **LIMITS), False,
     HostUsage(0, 4000, 0, 1, 5)),
    ("disk-over", HostUsage(0, 0, 39, 1, 5), Claim("h", 1, 1, 2, **LIMITS), False,
     HostUsage(0, 0, 39, 1, 5)),
]


@pytest.mark.parametrize("start,claim,ok,after", [c[1:] for c in STORE_CASES],
                         ids=[c[0] for c in STORE_CASES])
def test_in_memory_store_claims_all_or_nothing(start, claim, ok, after):
    store = InMemoryClaimStore({"h": start})
    assert isinstance(store, ClaimStore)
    result = store.claim(claim)
    assert (result.ok, result.usage) == (ok, after)
    assert store.usage() == {"h": after}


def test_release_gives_back_and_bumps_generation():
    store = InMemoryClaimStore({"h": HostUsage()})
    c = Claim("h", 2, 2048, 20, **LIMITS)
    store.claim(c)
    assert store.release(c) == HostUsage(0, 0, 0, 0, 2)
    with pytest.raises(NotFound):
        store.claim(Claim("nope", 1, 1, 1, **LIMITS))


def _ten_hosts():
    # each host takes exactly 10 of the 1 vCPU / 1 GiB / 10 GiB requests
    return [host(f"h{i}", vcpus=10, cpu_allocation_ratio=1.0, ram_mib=10240, disk_gib=100)
            for i in range(10)]


def test_200_concurrent_creates_against_capacity_for_100():
    hosts = _ten_hosts()
    store = InMemoryClaimStore.from_hosts(hosts)
    # four schedulers (as four controller processes would have), one store
    schedulers = [Scheduler(SchedulerConfig(), hosts, store) for _ in range(4)]
    placed, failed = race(schedulers, 200, now=NOW)
    assert len(placed) == 100 and len(failed) == 100
    assert Counter(placed) == {h.name: 10 for h in hosts}
    for name, u in store.usage().items():
        assert (u.vcpus, u.ram_mib, u.disk_gib, u.instances) == (10, 10240, 100, 10), name
    assert {e.summary for e in failed} == {
        "0/10 hosts: 10 insufficient vCPU (requested 1 vCPU, largest free 0 vCPU)"}


def test_stale_scheduler_loses_the_race_then_refreshes():
    hosts = [host("a", vcpus=1, cpu_allocation_ratio=1.0), host("b", vcpus=1,
                                                                cpu_allocation_ratio=1.0)]
    store = InMemoryClaimStore.from_hosts(hosts)
    first, second = (Scheduler(SchedulerConfig(), hosts, store) for _ in range(2))
    assert first.select(request(), now=NOW).host == "a"
    p = second.select(request(), now=NOW)  # still thinks "a" is free: refused, decides again
    assert (p.host, p.attempts) == ("b", 2)
    with pytest.raises(NoValidHost) as err:
        first.select(request(), now=NOW)  # thinks "b" is free; store says no; then refreshes
    assert err.value.summary == "0/2 hosts: 2 insufficient vCPU (requested 1 vCPU, largest free 0 vCPU)"


def test_releases_elsewhere_are_seen_before_giving_up():
    hosts = [host("a", vcpus=1, cpu_allocation_ratio=1.0)]
    store = InMemoryClaimStore.from_hosts(hosts)
    first, second = (Scheduler(SchedulerConfig(), hosts, store) for _ in range(2))
    p = first.select(request(), now=NOW)
    with pytest.raises(NoValidHost):
        second.select(request(), now=NOW)
    first.release(p)
    assert second.select(request(), now=NOW).host == "a"  # refresh_on_failure re-read the store


def test_multi_instance_request_is_all_or_nothing():
    hosts = [host("a", vcpus=1, cpu_allocation_ratio=1.0), host("b", vcpus=1,
                                                                cpu_allocation_ratio=1.0)]
    store = InMemoryClaimStore.from_hosts(hosts)
    s = Scheduler(SchedulerConfig(), hosts, store)
    with pytest.raises(NoValidHost):
        s.select(request(num_instances=3), now=NOW)
    assert {u.vcpus for u in store.usage().values()} == {0}
    p = s.select(request(num_instances=2), now=NOW)
    assert p.hosts == ("a", "b") and len(p.claims) == 2


def test_multi_instance_anti_affinity_counts_its_own_instances():
    from kumo.scheduler import ServerGroup
    hosts = [host("a"), host("b"), host("c")]
    s = Scheduler(SchedulerConfig(), hosts, InMemoryClaimStore.from_hosts(hosts))
    p = s.select(request(num_instances=3, group=ServerGroup("web", "anti-affinity")), now=NOW)
    assert sorted(p.hosts) == ["a", "b", "c"]
    with pytest.raises(NoValidHost) as err:
        s.select(request(num_instances=2, group=ServerGroup("db", "anti-affinity", ("a", "b"))),
                 now=NOW)
    assert err.value.summary == "0/3 hosts: 3 would break anti-affinity of server group db"


class SlowStore(InMemoryClaimStore):
    """A store with a round trip, like a database: claims overlap in time."""

    def claim(self, claim):
        import time
        time.sleep(0.002)
        return super().claim(claim)


def test_one_scheduler_many_threads_with_slow_claims():
    hosts = [host(f"h{i}", vcpus=4, cpu_allocation_ratio=1.0) for i in range(5)]
    store = SlowStore.from_hosts(hosts)
    s = Scheduler(SchedulerConfig(), hosts, store)
    results: list[object] = []
    barrier = threading.Barrier(40)

    def create() -> None:
        barrier.wait()
        try:
            results.append(s.select(request(vcpus=1), now=NOW))
        except NoValidHost as e:
            results.append(e)

    threads = [threading.Thread(target=create) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    placed = [r for r in results if not isinstance(r, NoValidHost)]
    assert len(placed) == 20 and len(results) == 40
    # claims in flight are reserved in the cache, so none of ours collided with another
    assert all(p.attempts == 1 for p in placed)
    assert {u.vcpus for u in store.usage().values()} == {4}
    assert s.fleet.pending.sum() == 0


def test_host_subset_size_picks_at_random_among_the_best():
    """host_subset_size=3: every pick is one of the three best-weighed hosts at that moment
    (weights change as claims fill hosts), and more than one of them gets picked; with 1 the
    pick is always the best -- what explain shows."""
    hosts = [host(f"h{i}", ram_mib=4096 * (i + 1)) for i in range(8)]
    for size, ranks_seen in ((3, {0, 1, 2}), (1, {0})):
        config = SchedulerConfig(weighers={"FreeRAM": 1.0}, host_subset_size=size)
        sched = Scheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts))
        ranks = set()
        for _ in range(60):
            scores = sched.scores(request(ram=512), NOW)
            pick = sched.select(request(ram=512), now=NOW).host
            # its rank: how many hosts weigh strictly more (a tie is one of the best too)
            ranks.add(sum(w > scores[pick] for w in scores.values()))
        assert ranks == ranks_seen, size


def test_host_subset_size_many_schedulers_never_over_commit():
    """Four schedulers (four controllers) picking at random among their three best: 200
    threads race for capacity for 100, exactly 100 are placed, none over a limit."""
    hosts = [host(f"h{i}", vcpus=10, cpu_allocation_ratio=1.0) for i in range(10)]
    store = InMemoryClaimStore.from_hosts(hosts)
    config = SchedulerConfig(host_subset_size=3)
    placed, failed = race([Scheduler(config, hosts, store) for _ in range(4)], 200, now=NOW)
    assert (len(placed), len(failed)) == (100, 100)
    assert Counter(placed) == {f"h{i}": 10 for i in range(10)}
    assert {u.vcpus for u in store.usage().values()} == {10}



@pytest.mark.parametrize("cls", [Claim, HostUsage, ClaimResult, Placement],
                         ids=lambda c: c.__name__)
def test_direct_init_takes_the_fields_in_order_with_their_defaults(cls):
    """The values built on every decision store their fields directly (_direct_init): the
    same parameters, order and defaults as the dataclass declares, and still frozen."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [(p.name, p.default) for p in params] == [
        (f.name, inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)
        for f in fields]
    args = [f"v{k}" for k in range(len(fields))]
    value = cls(*args)
    assert [getattr(value, f.name) for f in fields] == args
    assert value == cls(**{f.name: a for f, a in zip(fields, args)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, fields[0].name, "other")


def test_direct_init_refuses_what_it_would_get_wrong():
    @dataclasses.dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self):
            pass

    @dataclasses.dataclass(frozen=True)
    class Factory:
        a: list = dataclasses.field(default_factory=list)

    for cls in (Checked, Factory):
        with pytest.raises(TypeError, match="_direct_init needs plain fields"):
            _direct_init(cls)
