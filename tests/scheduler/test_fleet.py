"""Fleet's usage columns: what an incremental read applies."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kumo.scheduler import fleet as fleet_module
from kumo.scheduler.claims import HostUsage
from kumo.scheduler.fleet import Fleet
from tests.scheduler.test_equivalence import random_fleet

USAGE_ARRAYS = ("base", "generation", "free", "neg_instances")


def _usages(rng: random.Random, f: Fleet, count: int) -> dict[str, HostUsage]:
    """``count`` rows as a change read gives them -- the first older than the fleet's
    generation, the others older, as old or newer -- and a name the fleet does not have."""
    out = {}
    for k, name in enumerate(rng.sample(f.names, count)):
        i = f.index[name]
        gen = int(f.generation[i]) + (-1 if k == 0 else rng.choice([-1, 0, 1, 3]))
        out[name] = HostUsage(rng.randrange(8), rng.randrange(16384), rng.randrange(200),
                              rng.randrange(5), max(gen, 0))
    out["not-a-host"] = HostUsage(1, 1, 1, 1, 99)
    return out


@pytest.mark.parametrize("count", [1, 2, 9, 15, 16, 40],
                         ids=lambda c: f"{c}-rows")
def test_apply_usages_host_by_host_equals_the_vectorised_path(count, monkeypatch):
    """Few changed rows are applied host by host, many with numpy: the same columns either
    way -- the mirror the kernel reads included, and claims of ours still in flight."""
    rng = random.Random(count)
    views = random_fleet(rng, 60)
    fleets = [Fleet(views, ()), Fleet(views, ())]
    for f in fleets:
        f.generation[:] = 5  # (as read: rows older than that come back from a lagging read)
        f.mirror(np.arange(f.n)[::-1].copy())
        for i in (3, 7, 11):
            f.reserve(i, (1, 512, 10, 1), ())
    usages = _usages(rng, fleets[0], count)
    monkeypatch.setattr(fleet_module, "_FEW_USAGES", 10**6)
    fleets[0].apply_usages(usages)
    monkeypatch.setattr(fleet_module, "_FEW_USAGES", -1)
    fleets[1].apply_usages(usages)
    a, b = fleets
    for name in USAGE_ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a._mirror, b._mirror)
    as_built = Fleet(views, ()).base
    for n, u in usages.items():
        if n in a.index:
            i = a.index[n]
            expected = (u.vcpus, u.ram_mib, u.disk_gib, u.instances) if u.generation >= 5 \
                else tuple(as_built[i].tolist())
            assert tuple(a.base[i].tolist()) == expected, n
