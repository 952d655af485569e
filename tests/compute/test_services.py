"""Compute services (os-services) over hosts: state from the ComputeUp rule, filters, and
changes through the functions `kumo host enable|disable|set --down` use (journaled fencing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kumo.compute import services
from kumo.compute.services import ServiceChange
from kumo.compute.states import now
from kumo.db.models import Aggregate, Host, JournalEntry
from kumo.errors import Forbidden, InvalidInput, NotFound, StateError
from tests.support.hosts import add_host


def _uuid(db, name: str) -> str:
    with db.session_scope(readonly=True) as s:
        return s.scalar(select(Host.uuid).where(Host.name == name))


@pytest.fixture
def three(db):
    fresh, stale = now(), now() - timedelta(seconds=300)
    add_host(db, "node-34", last_heartbeat=fresh)
    add_host(db, "node-340", uri="test:///340", last_heartbeat=stale)
    add_host(db, "node-35", uri="test:///35", availability_zone="az2", last_heartbeat=fresh)
    return db


def test_list_states_zones_and_exact_host_filter(env, admin, three):
    rows = services.list_services(env, admin)
    assert [(r["host"], r["binary"], r["state"], r["status"], r["zone"], r["forced_down"])
            for r in rows] == [
        ("node-34", "nova-compute", "up", "enabled", "nova", False),
        ("node-340", "nova-compute", "down", "enabled", "nova", False),  # heartbeat 300 s old
        ("node-35", "nova-compute", "up", "enabled", "az2", False)]
    # host= is exact: node-34 is not node-340 (OSC's `service set` PUTs the one it finds)
    assert [r["host"] for r in services.list_services(env, admin, host="node-34")] == ["node-34"]
    assert services.list_services(env, admin, host="node-3") == []
    assert services.list_services(env, admin, binary="nova-scheduler") == []
    assert len(services.list_services(env, admin, binary="nova-compute")) == 3


def test_zone_from_an_aggregate(env, admin, three):
    with env.db.session_scope() as s:
        agg = Aggregate(name="rack1", availability_zone="az1")
        agg.hosts.append(s.scalar(select(Host).where(Host.name == "node-34")))
        s.add(agg)
    assert services.list_services(env, admin, host="node-34")[0]["zone"] == "az1"


def test_forced_down_is_the_fencing_function_and_journaled(env, admin, three):
    sid = _uuid(env.db, "node-34")
    view = services.update_service(env, admin, sid, ServiceChange(forced_down=True))
    assert (view["forced_down"], view["state"]) == (True, "down")
    with env.db.session_scope(readonly=True) as s:
        host = s.scalar(select(Host).where(Host.name == "node-34"))
        entry = s.scalars(select(JournalEntry).where(
            JournalEntry.operation == "host-fence")).one()
        assert host.forced_down is True
        assert (entry.step, entry.payload["host"], entry.payload["by"],
                entry.payload["forced_down"]) == ("down", "node-34", "admin", True)
    view = services.update_service(env, admin, sid, ServiceChange(forced_down=False))
    assert (view["forced_down"], view["state"]) == (False, "up")


def test_disable_with_reason_and_enable(env, admin, three):
    sid = _uuid(env.db, "node-35")
    view = services.update_service(env, admin, sid,
                                   ServiceChange(status="disabled", disabled_reason="bad DIMM"))
    assert (view["status"], view["disabled_reason"]) == ("disabled", "bad DIMM")
    with env.db.session_scope(readonly=True) as s:
        host = s.scalar(select(Host).where(Host.name == "node-35"))
        assert (host.enabled, host.disabled_reason) == (False, "bad DIMM")
    view = services.update_service(env, admin, sid, ServiceChange(status="enabled"))
    assert (view["status"], view["disabled_reason"]) == ("enabled", None)


@pytest.mark.parametrize("change, words", [
    (ServiceChange(), "nothing to change"),
    (ServiceChange(status="off"), "status='off' is invalid: allowed enabled, disabled"),
    (ServiceChange(status="enabled", disabled_reason="x"),
     "disabled_reason is allowed only with status disabled"),
    (ServiceChange(disabled_reason="x"), "nothing to change"),
    (ServiceChange(status="disabled", disabled_reason="a\x00b"), "disabled_reason"),
], ids=["empty", "bad-status", "reason-with-enabled", "reason-alone", "nul"])
def test_bad_change_is_refused_and_changes_nothing(env, admin, three, change, words):
    sid = _uuid(env.db, "node-34")
    with pytest.raises(InvalidInput, match=words.replace("(", r"\(").replace(")", r"\)")):
        services.update_service(env, admin, sid, change)
    assert services.show_service(env, admin, sid)["status"] == "enabled"


def test_unknown_id_member_and_delete(env, admin, alice, three):
    with pytest.raises(NotFound, match="Service 'node-34' could not be found"):
        services.update_service(env, admin, "node-34", ServiceChange(forced_down=True))
    with pytest.raises(Forbidden, match="listing compute services .* needs the 'admin' role"):
        services.list_services(env, alice)
    with pytest.raises(Forbidden):
        services.update_service(env, alice, _uuid(env.db, "node-34"),
                                ServiceChange(forced_down=True))
    assert services.delete_service(env, admin, _uuid(env.db, "node-35")) == "node-35"
    assert [r["host"] for r in services.list_services(env, admin)] == ["node-34", "node-340"]


def test_delete_refused_while_servers_are_on_it(env, admin, three, monkeypatch):
    from kumo.db.models import Instance

    with env.db.session_scope() as s:
        host = s.scalar(select(Host).where(Host.name == "node-34"))
        s.add(Instance(uuid="11111111-1111-1111-1111-111111111111", name="vm", project_id="p",
                       user_id="u", host_id=host.id, vcpus=1, ram_mib=64, disk_gib=1,
                       flavor_name="f"))
    with pytest.raises(StateError, match="cannot delete host 'node-34': 1 server on it"):
        services.delete_service(env, admin, _uuid(env.db, "node-34"))
