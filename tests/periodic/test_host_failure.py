"""kumo serve's automatic host-failure mode (kumo.periodic.host_failure), on in-memory hosts and a
fake clock: off by default; a host down for auto_evacuate_after probes is fenced by its command
and evacuated; an unknown host, an unfenced one (no command, or a failing one) never is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kumo.compute import fencing
from kumo.db.models import Host, JournalEntry
from kumo.periodic import host_failure, host_liveness
from tests.compute.conftest import fake_hosts, image_file  # noqa: F401
from tests.compute.fleet import FAILED, fail_host, make_fleet, placement, uri

T0 = datetime(2026, 11, 28, 22, 0, 0, tzinfo=timezone.utc)
NEIGHBOUR = "XXXX-HOST-YYYY340"


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):  # noqa: F811
    make_fleet(env, admin, image_file, fake_hosts, neighbours=[NEIGHBOUR])
    env.settings = env.settings.model_copy(update={
        "auto_evacuate": True, "auto_evacuate_after": 3, "host_probe_interval": 30.0})
    return env, fake_hosts


def tick(env, n: int) -> dict[str, int]:
    """Probe n (liveness at T0 + 30 s * n), then the failure task at the same instant."""
    at = T0 + timedelta(seconds=30 * n)
    host_liveness.run(env, at)
    return host_failure.run(env, at).corrections


def test_off_by_default(env, admin, image_file, fake_hosts):  # noqa: F811
    make_fleet(env, admin, image_file, fake_hosts, neighbours=[NEIGHBOUR])
    fencing.set_fence_command(env, admin, FAILED, "true")
    fail_host(env, FAILED, T0, probes=10)
    before = placement(env)
    out = host_failure.run(env, T0)
    assert (out.summary, out.corrections) == (
        "automatic evacuation off (auto_evacuate = false)", {})
    assert placement(env) == before


def test_down_for_n_probes_then_fenced_then_evacuated(cloud, admin):
    env, hosts = cloud
    fencing.set_fence_command(env, admin, FAILED, "true")
    before = placement(env)
    assert tick(env, 0) == {}  # all up
    hosts[uri(FAILED)].down = True
    assert tick(env, 1) == {}  # down 1 probe
    assert tick(env, 2) == {}  # down 2 probes
    assert placement(env) == before
    assert tick(env, 3) == {"fenced": 1, "evacuated": 1}  # down 3 probes: fence, evacuate
    after = placement(env)
    assert {n: after[n] for n in ("s-Y34-0", "s-Y34-1")} == {"s-Y34-0": NEIGHBOUR,
                                                              "s-Y34-1": NEIGHBOUR}
    assert after["s-340-0"] == before["s-340-0"]
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Host.forced_down).where(Host.name == FAILED)).one() is True
        ops = [(e.operation, e.state, e.payload.get("by")) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid.is_(None))
            .order_by(JournalEntry.id))]
    assert ops == [("host-fence", "done", "kumo-serve"), ("evacuate", "done", "kumo-serve")]
    assert tick(env, 4) == {}  # nothing left on it: nothing more is done


def test_a_host_back_before_n_probes_is_left_alone(cloud, admin):
    env, hosts = cloud
    fencing.set_fence_command(env, admin, FAILED, "true")
    hosts[uri(FAILED)].down = True
    tick(env, 1), tick(env, 2)
    hosts[uri(FAILED)].down = False
    tick(env, 3)
    hosts[uri(FAILED)].down = True
    assert tick(env, 4) == {} and tick(env, 5) == {}  # the count started again
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Host.down_probes).where(Host.name == FAILED)).one() == 2


def test_an_unknown_host_is_never_acted_on(cloud, admin):
    """Last probed down long ago (no controller watching since): unknown, not down."""
    env, _ = cloud
    fencing.set_fence_command(env, admin, FAILED, "true")
    fail_host(env, FAILED, T0, probes=50)
    before = placement(env)
    out = host_failure.run(env, T0 + timedelta(seconds=91))  # > 3 probe intervals
    assert (out.summary, out.corrections) == ("0 failed host(s) with servers", {})
    assert placement(env) == before
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(JournalEntry).where(
            JournalEntry.operation.in_(["host-fence", "evacuate"]))).all() == []


@pytest.mark.parametrize("command, expected", [
    pytest.param(None, {"not-fenced": 1}, id="no-fence-command"),
    pytest.param("false", {"fence-failed": 1}, id="fence-fails"),
])
def test_an_unfenced_host_is_not_evacuated(cloud, admin, command, expected):
    env, _ = cloud
    if command:
        fencing.set_fence_command(env, admin, FAILED, command)
    fail_host(env, FAILED, T0, probes=3)
    before = placement(env)
    assert host_failure.run(env, T0).corrections == expected
    assert placement(env) == before
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Host.forced_down).where(Host.name == FAILED)).one() is False


def test_a_host_confirmed_fenced_by_the_operator_is_evacuated_without_a_command(cloud, admin):
    from kumo.compute import evacuate

    env, _ = cloud
    fail_host(env, FAILED, T0, probes=3)
    evacuate.set_fenced(env, admin, FAILED, True, "powered off at the PDU")
    assert host_failure.run(env, T0).corrections == {"evacuated": 1}
    assert placement(env)["s-Y34-0"] == NEIGHBOUR
