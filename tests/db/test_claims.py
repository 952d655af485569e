"""Atomic capacity claims: one conditional UPDATE that refuses over-commit, on both backends."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from kumo.db.claims import (AllocationRatios, HostCounters, Resources, claim, claim_within,
                             counters, release, release_from)
from kumo.db.models import Host


def _add_host(db, **kw) -> int:
    kw.setdefault("vcpus", 8)
    kw.setdefault("ram_mib", 8192)
    kw.setdefault("disk_gib", 100)
    with db.session_scope() as s:
        host = Host(name="c1", uri="qemu:///system", hypervisor_type="kvm", **kw)
        s.add(host)
        s.flush()
        return host.id


def _used(db, host_id) -> tuple[int, int, int]:
    with db.session_scope(readonly=True) as s:
        h = s.get(Host, host_id)
        return h.used_vcpus, h.used_ram_mib, h.used_disk_gib


def _claims(db, host_id, *requests, defaults=AllocationRatios()) -> list[bool]:
    results = []
    for request in requests:
        with db.session_scope() as s:
            results.append(claim(s, host_id, request, defaults))
    return results


@pytest.mark.parametrize("host, defaults, requests, expected, used", [
    ({}, AllocationRatios(), [Resources(4, 4096, 50)] * 3, [True, True, False], (8, 8192, 100)),
    ({}, AllocationRatios(cpu=1.0), [Resources(9, 512, 1)], [False], (0, 0, 0)),
    ({}, AllocationRatios(), [Resources(32, 512, 1), Resources(1, 512, 1)], [True, False],
     (32, 512, 1)),
    ({}, AllocationRatios(cpu=2.0), [Resources(9, 512, 1), Resources(8, 512, 1)], [True, False],
     (9, 512, 1)),
    ({"cpu_allocation_ratio": 1.0}, AllocationRatios(cpu=16.0), [Resources(9, 512, 1)], [False],
     (0, 0, 0)),
    ({"ram_allocation_ratio": 1.5}, AllocationRatios(), [Resources(1, 8192), Resources(1, 4096),
                                                         Resources(1, 1)],
     [True, True, False], (2, 12288, 0)),
    ({"reserved_ram_mib": 1024}, AllocationRatios(), [Resources(1, 7168), Resources(1, 1)],
     [True, False], (1, 7168, 0)),
    ({"used_disk_gib": 150}, AllocationRatios(), [Resources(1, 512, 0), Resources(1, 512, 1)],
     [True, False], (1, 512, 150)),
], ids=["fits-until-full", "too-many-vcpus", "default-cpu-ratio-is-4", "given-cpu-ratio", "host-ratio-wins",
        "ram-ratio", "reserved", "unrequested-resource-not-checked"])
def test_claim_refuses_over_commit(db, host, defaults, requests, expected, used):
    host_id = _add_host(db, **host)
    assert _claims(db, host_id, *requests, defaults=defaults) == expected
    assert _used(db, host_id) == used


def test_release_gives_back_only_what_was_claimed(db):
    host_id = _add_host(db)
    _claims(db, host_id, Resources(2, 2048, 10))
    with db.session_scope() as s:
        assert release(s, host_id, Resources(3, 2048, 10)) is False  # more vcpus than held
        assert release(s, host_id, Resources(2, 2048, 10)) is True
        assert release(s, host_id, Resources(0, 0, 0)) is False  # no instance left to release
    assert _used(db, host_id) == (0, 0, 0)


def test_claims_and_releases_count_instances_and_bump_generation(db):
    host_id = _add_host(db)
    with db.session_scope() as s:
        assert claim(s, host_id, Resources(1, 1024, 10))
        assert claim(s, host_id, Resources(1, 1024, 10))
        assert not claim(s, host_id, Resources(99, 1024, 10))  # refused: nothing changes
        assert release(s, host_id, Resources(1, 1024, 10))
    with db.session_scope() as s:
        assert counters(s, ["c1", "nope"]) == {"c1": HostCounters(1, 1024, 10, 1, 3)}
        assert counters(s, []) == {}
        assert s.get(Host, host_id).instance_count == 1


@pytest.mark.parametrize("used, request_, limits, expected", [
    ((0, 0, 0), Resources(2, 2048, 20), Resources(4, 4096, 40), HostCounters(2, 2048, 20, 1, 1)),
    ((2, 2048, 20), Resources(2, 2048, 20), Resources(4, 4096, 40),
     HostCounters(4, 4096, 40, 1, 1)),
    ((3, 0, 0), Resources(2, 1, 1), Resources(4, 4096, 40), None),
    ((0, 4000, 0), Resources(1, 97, 1), Resources(4, 4096, 40), None),
    ((0, 0, 39), Resources(1, 1, 2), Resources(4, 4096, 40), None),
    ((0, 0, 41), Resources(1, 1, 0), Resources(4, 4096, 40), None),
    ((0, 0, 0), Resources(12, 1, 1), Resources(12, 4096, 40), HostCounters(12, 1, 1, 1, 1)),
], ids=["fits", "fills-exactly", "vcpu-over", "ram-over", "disk-over",
        "over-committed-resource-refuses-even-unrequested", "limit-beyond-own-ratio"])
def test_claim_within_checks_the_given_limits(db, used, request_, limits, expected):
    """The scheduler's claim: limits come from the caller (aggregate ratios resolved), not the
    host's own ratio column -- the last case claims 12 vCPUs on an 8-vCPU host with ratio 1.0."""
    _add_host(db, cpu_allocation_ratio=1.0, used_vcpus=used[0], used_ram_mib=used[1],
              used_disk_gib=used[2])
    with db.session_scope() as s:
        assert claim_within(s, "c1", request_, limits) == expected
    with db.session_scope() as s:
        after = counters(s)["c1"]
    assert after == (expected or HostCounters(*used, 0, 0))


def test_claim_within_and_release_from_unknown_host(db):
    with db.session_scope() as s:
        assert claim_within(s, "nope", Resources(1), Resources(8, 8, 8)) is None
        assert release_from(s, "nope", Resources(1)) is None


def test_release_from_refuses_more_than_held(db):
    _add_host(db)
    with db.session_scope() as s:
        claim_within(s, "c1", Resources(2, 2048, 10), Resources(8, 8192, 100))
    with db.session_scope() as s:
        assert release_from(s, "c1", Resources(2, 4096, 10)) is None
        assert release_from(s, "c1", Resources(2, 2048, 10)) == HostCounters(0, 0, 0, 0, 2)
        assert release_from(s, "c1", Resources(0, 0, 0)) is None  # the instance is gone


def test_claim_on_missing_host_is_false(db):
    with db.session_scope() as s:
        assert claim(s, 404, Resources(1, 1, 1)) is False


def test_claim_refreshes_a_loaded_host(db):
    host_id = _add_host(db)
    with db.session_scope() as s:
        host = s.get(Host, host_id)
        assert host.used_ram_mib == 0
        assert claim(s, host_id, Resources(1, 1024))
        assert host.used_ram_mib == 1024


THREADS = 20


@pytest.mark.parametrize("capacity_mib, request_mib", [(10240, 1024), (7000, 1000)],
                         ids=["half-fit", "seven-fit"])
def test_concurrent_claims_place_exactly_capacity(db, capacity_mib, request_mib):
    """20 threads race for a host with room for fewer: exactly capacity // request win.

    Each thread reads the host first and then claims, in one unit of work, as a scheduler does:
    the case where SQLite would fail with "database is locked" if the transaction began
    DEFERRED (a reader upgrading to writer after another writer committed)."""
    host_id = _add_host(db, vcpus=THREADS, ram_mib=capacity_mib)
    start = threading.Barrier(THREADS)

    def one(_: int) -> bool:
        start.wait()
        with db.session_scope() as s:
            s.scalars(select(Host).where(Host.id == host_id)).one()
            return claim(s, host_id, Resources(vcpus=1, ram_mib=request_mib))

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(one, range(THREADS)))

    winners = capacity_mib // request_mib
    assert results.count(True) == winners
    assert _used(db, host_id) == (winners, winners * request_mib, 0)
