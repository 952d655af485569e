"""Host aggregates: CRUD, membership, metadata the scheduler reads -- and that it does read it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kumo.compute import aggregates as agg
from kumo.db.models import Aggregate
from kumo.errors import ConfigConflict, Forbidden, InvalidInput, NotFound, StateError
from kumo.scheduler import inventory
from tests.support.hosts import add_host


@pytest.fixture
def hosts(db):
    add_host(db, "kvm-1")
    add_host(db, "kvm-2", uri="test:///2", availability_zone="az-own")
    return db


def test_create_add_host_set_metadata_show(env, admin, hosts):
    created = agg.create_aggregate(env, admin, "win-licensed", "az1")
    assert (created["name"], created["availability_zone"], created["hosts"],
            created["metadata"]) == ("win-licensed", "az1", [], {"availability_zone": "az1"})
    view = agg.add_host(env, admin, created["id"], "kvm-1")
    assert view["hosts"] == ["kvm-1"]
    view = agg.set_metadata(env, admin, created["uuid"], {"os_type": "windows",
                                                          "ram_allocation_ratio": "1.5"})
    assert view["metadata"] == {"availability_zone": "az1", "os_type": "windows",
                                "ram_allocation_ratio": "1.5"}
    view = agg.set_metadata(env, admin, "win-licensed", {"os_type": None})
    assert view["metadata"] == {"availability_zone": "az1", "ram_allocation_ratio": "1.5"}
    assert agg.show_aggregate(env, admin, created["id"]) == view
    assert [a["name"] for a in agg.list_aggregates(env, admin)] == ["win-licensed"]


def test_the_scheduler_reads_what_was_set(env, admin, hosts):
    created = agg.create_aggregate(env, admin, "dense")
    agg.add_host(env, admin, created["id"], "kvm-1")
    agg.set_metadata(env, admin, created["id"], {"cpu_allocation_ratio": "16",
                                                 "availability_zone": "az9"})
    with env.db.session_scope(readonly=True) as s:
        views = {h.name: inventory.host_view(h) for h in inventory.read_hosts(s)}
    assert [(a.name, dict(a.metadata)) for a in views["kvm-1"].aggregates] == [
        ("dense", {"cpu_allocation_ratio": "16"})]
    assert views["kvm-1"].availability_zone == "az9"
    assert views["kvm-2"].aggregates == ()


def test_rules_as_nova(env, admin, hosts):
    created = agg.create_aggregate(env, admin, "a1")
    with pytest.raises(StateError, match="Aggregate a1 already exists"):
        agg.create_aggregate(env, admin, "a1")
    agg.add_host(env, admin, created["id"], "kvm-1")
    with pytest.raises(StateError, match="Aggregate a1 already has host kvm-1"):
        agg.add_host(env, admin, created["id"], "kvm-1")
    with pytest.raises(NotFound, match="host 'kvm-3' not found"):
        agg.add_host(env, admin, created["id"], "kvm-3")
    with pytest.raises(NotFound, match="Cannot remove host kvm-2 in aggregate a1: not found"):
        agg.remove_host(env, admin, created["id"], "kvm-2")
    with pytest.raises(InvalidInput, match="host aggregate is not empty \\(kvm-1\\)"):
        agg.delete_aggregate(env, admin, created["id"])
    agg.remove_host(env, admin, created["id"], "kvm-1")
    agg.delete_aggregate(env, admin, created["id"])
    with pytest.raises(NotFound, match="Aggregate 'a1' could not be found"):
        agg.show_aggregate(env, admin, "a1")


def test_a_host_is_in_one_zone(env, admin, hosts):
    a = agg.create_aggregate(env, admin, "a", "az1")
    b = agg.create_aggregate(env, admin, "b", "az2")
    agg.add_host(env, admin, a["id"], "kvm-1")
    with pytest.raises(ConfigConflict, match="host 'kvm-1' cannot be in zone 'az2' of aggregate "
                       "'b': it is in zone 'az1' of aggregate 'a'"):
        agg.add_host(env, admin, b["id"], "kvm-1")
    with pytest.raises(ConfigConflict, match="its own zone 'az-own'"):
        agg.add_host(env, admin, a["id"], "kvm-2")
    c = agg.create_aggregate(env, admin, "c")
    agg.add_host(env, admin, c["id"], "kvm-1")
    with pytest.raises(ConfigConflict, match="zone 'az1' of aggregate 'a'"):
        agg.set_metadata(env, admin, c["id"], {"availability_zone": "az3"})
    assert agg.show_aggregate(env, admin, c["id"])["availability_zone"] is None


@pytest.mark.parametrize("metadata, words", [
    ({"ram_allocation_ratio": "lots"}, "ram_allocation_ratio='lots' is invalid: the scheduler "
     "reads it as a ratio; allowed a number above 0"),
    ({"cpu_allocation_ratio": "0"}, "cpu_allocation_ratio='0' is invalid"),
    ({"free_ram_weight_multiplier": "inf"}, "free_ram_weight_multiplier='inf' is invalid"),
    ({"": "x"}, "aggregate metadata key name '' is invalid (0 characters)"),
    ({"k": "v" * 256}, "aggregate metadata k of 256 characters is invalid"),
    ({"ok": "1", "disk_allocation_ratio": "-1"}, "disk_allocation_ratio='-1' is invalid"),
], ids=["ratio-word", "ratio-zero", "multiplier-inf", "empty-key", "long-value", "whole"])
def test_bad_metadata_is_refused_whole(env, admin, hosts, metadata, words):
    a = agg.create_aggregate(env, admin, "m")
    with pytest.raises(InvalidInput) as e:
        agg.set_metadata(env, admin, a["id"], metadata)
    assert words in str(e.value)
    assert agg.show_aggregate(env, admin, a["id"])["metadata"] == {}


def test_negative_multiplier_packs_and_is_allowed(env, admin, hosts):
    a = agg.create_aggregate(env, admin, "pack")
    view = agg.set_metadata(env, admin, a["id"], {"free_ram_weight_multiplier": "-1.0"})
    assert view["metadata"] == {"free_ram_weight_multiplier": "-1.0"}


def test_update_and_member(env, admin, alice, hosts):
    a = agg.create_aggregate(env, admin, "old")
    agg.create_aggregate(env, admin, "taken")
    assert agg.update_aggregate(env, admin, a["id"], name="new", availability_zone="z")[
        "name"] == "new"
    with pytest.raises(StateError, match="Aggregate taken already exists"):
        agg.update_aggregate(env, admin, a["id"], name="taken")
    with pytest.raises(Forbidden, match="os_compute_api:os-aggregates:create"):
        agg.create_aggregate(env, alice, "sneaky")
    with pytest.raises(Forbidden):
        agg.list_aggregates(env, alice)
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Aggregate.name).order_by(Aggregate.name)).all() == ["new",
                                                                                    "taken"]
