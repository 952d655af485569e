"""Host liveness: up with a fresh last contact, down with the reason, unknown when unwatched,
and a keepalive-closed connection marks its host down at once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kumo.compute.hosts import host_state, list_hosts
from kumo.db.models import Host
from kumo.periodic import host_liveness
from kumo.errors import HostUnreachable
from tests.periodic.fakes import fake_host

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def _host(env):
    with env.db.session_scope(readonly=True) as s:
        h = s.query(Host).one()
        s.expunge(h)
        return h


def test_up_down_unknown(env, admin, kvm_host):
    host = fake_host(env)
    assert host_state(_host(env), 30, T0) == "unknown"  # never probed
    out = host_liveness.run(env, T0)
    h = _host(env)
    assert (h.liveness, h.liveness_reason, h.last_heartbeat) == ("up", None, T0)
    assert out.corrections == {"host-up": 1}
    assert host_state(h, 30, T0 + timedelta(seconds=90)) == "up"
    assert host_state(h, 30, T0 + timedelta(seconds=91)) == "unknown"  # nobody watching

    host.down = True
    with pytest.raises(HostUnreachable) as refused:
        host.node_info()
    out = host_liveness.run(env, T0 + timedelta(seconds=30))
    h = _host(env)
    assert (h.liveness, h.liveness_reason, h.last_heartbeat) == (
        "down", str(refused.value), T0)  # the last good contact is kept
    assert out.corrections == {"host-down": 1}
    assert host_liveness.run(env, T0 + timedelta(seconds=60)).corrections == {}  # no change


def test_listing_shows_state_and_last_contact(env, admin, kvm_host):
    fake_host(env)
    host_liveness.run(env)
    [view] = list_hosts(env, admin)
    assert (view["state"], view["state_reason"]) == ("up", None)
    assert view["last_contact"] is not None


def test_a_closed_connection_marks_its_host_down_at_once(env, admin, kvm_host):
    fake_host(env)
    host_liveness.run(env)
    host_liveness.connection_lost(env, "test:///default", "keepalive timer expired")
    h = _host(env)
    assert (h.liveness, h.liveness_reason) == ("down",
                                               "connection lost: keepalive timer expired")
