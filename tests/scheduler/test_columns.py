"""A fleet built from columns (kumo.scheduler.columns) is the fleet built from views: the same
arrays, classes and static classes, and each host's view -- made only when asked for -- equal to
the view it stands for."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kumo.scheduler import DEFAULT_FILTERS, SchedulerConfig
from kumo.scheduler.columns import HostColumns, PerHost, encode
from kumo.scheduler.fleet import Fleet, _distinct_rows
from kumo.scheduler.plugins import StaticFilter
from tests.scheduler.test_equivalence import random_fleet

ARRAYS = ("capacity", "ratio", "limit", "base", "generation", "heartbeat", "forced_down",
          "live_heartbeat", "max_limit", "free", "neg_instances", "kind_codes")


def as_columns(views) -> HostColumns:
    """The columns a database read gives for ``views``: no views kept, one per kind."""
    c = HostColumns.from_views(views)
    return HostColumns(c.own, c.kinds, c.kind_codes, c.counts, c.generation)


@pytest.mark.parametrize("seed", range(4))
def test_fleet_from_columns_is_the_fleet_from_views(seed):
    rng = random.Random(seed)
    views = random_fleet(rng, 60)
    filters = [f for f in SchedulerConfig(filters=DEFAULT_FILTERS).build_filters()
               if isinstance(f, StaticFilter)]
    a, b = Fleet(views, ("os_type",)), Fleet(as_columns(views), ("os_type",))
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.names == b.names and a.warnings == b.warnings
    for f in filters:
        (ca, ra), (cb, rb) = a.classes(f), b.classes(f)
        assert ca.tolist() == cb.tolist(), f.NAME
        assert [f.host_key(h) for h in ra] == [f.host_key(h) for h in rb], f.NAME
    for x, y in zip(a.static_classes(filters), b.static_classes(filters)):
        assert x.tolist() == y.tolist()
    assert b.hosts[3] is b.hosts[3]  # made once
    assert [b.view(i) for i in range(b.n)] == [a.view(i) for i in range(a.n)]


@pytest.mark.parametrize("radix", [(1,), (3, 2), (5, 1, 4), (7, 7, 7, 7)], ids=str)
def test_distinct_rows_is_numpy_unique_of_the_rows(radix):
    rng = np.random.default_rng(len(radix))
    codes = [rng.integers(0, r, size=500) for r in radix]
    table, inverse = _distinct_rows([(c, [None] * r) for c, r in zip(codes, radix)])
    expected, inv = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    assert table.tolist() == expected.tolist()
    assert inverse.tolist() == inv.reshape(-1).tolist()


def test_encode_numbers_in_order_of_appearance():
    codes, firsts = encode(["b", "a", "b", "c", "a"])
    assert codes.tolist() == [0, 1, 0, 2, 1] and firsts == [0, 1, 3]
    codes, firsts = encode([])
    assert codes.tolist() == [] and firsts == []


def test_per_host_column_refuses_a_field_it_does_not_hold():
    own = HostColumns.from_views([]).own
    assert isinstance(own, PerHost) and own.column("availability_zone") == ()
    with pytest.raises(KeyError):
        own.column("vcpus")
