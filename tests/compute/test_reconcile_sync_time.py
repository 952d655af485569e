"""kumo reconcile --sync-time on in-memory hosts: the plan reads each running guest's clock
through its agent and says how far off it is; --apply sets it from the host's UTC clock
(journaled, operation sync-time, with the offset it had); a guest whose agent does not answer,
or that is not running, keeps its clock and its state, the reason in the run's item."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kumo.compute import images, naming, reconcile, reconcile_run, servers
from kumo.compute.reconcile import Request
from kumo.db.models import JournalEntry
from tests.compute.fakehost import fake_cloud

SYNC = Request(sync_time=True)


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    """Servers a (agent answering, clock 8 h ahead), b (agent silent), c (stopped), booted
    from image ``agent`` (hw_qemu_guest_agent=yes)."""
    host = fake_cloud(env, admin, image_file, fake_hosts)
    images.create_image(env, admin, "agent", file=image_file, disk_format="qcow2",
                        properties={"hw_qemu_guest_agent": "yes", "os_type": "linux"},
                        visibility="public")
    uuids = {n: servers.create_server(env, admin, n, image="agent", flavor="tiny").server["id"]
             for n in ("a", "b", "c")}
    servers.stop_server(env, admin, "c")
    host.domains[naming.domain_name(uuids["a"])].guest_clock_offset = timedelta(hours=8)
    host.domains[naming.domain_name(uuids["b"])].agent_answers = False
    yield env, host, uuids
    assert host.watch.violations == []


def silent(uuid: str) -> str:
    return (f"cannot read the clock of domain '{naming.domain_name(uuid)}' through its guest "
            "agent on fake:///kvm-1: Guest agent is not responding: QEMU guest agent is not "
            "connected")


def sync_entries(env):
    with env.db.session_scope(readonly=True) as s:
        return [(e.instance_uuid, e.state, e.payload.get("offset_s"), e.error)
                for e in s.scalars(select(JournalEntry).where(
                    JournalEntry.operation == "sync-time").order_by(JournalEntry.id))]


def test_plan_reads_the_offsets_and_sets_nothing(cloud, admin):
    env, host, uuids = cloud
    plans = {p.name: p for p in reconcile.plan(env, admin, SYNC)}
    assert plans["a"].clock == "+28800 s off the host's UTC clock: set from it"
    assert plans["b"].clock == f"not set: {silent(uuids['b'])}"
    assert plans["c"].clock == "not set: the guest is not running"
    assert {p.action for p in plans.values()} == {reconcile.UNCHANGED}
    assert reconcile.plan_text([plans["a"]]) == (
        f"server a ({uuids['a']}) on kvm-1: unchanged\n"
        "  guest clock: +28800 s off the host's UTC clock: set from it\n")
    assert host.domains[naming.domain_name(uuids["a"])].guest_clock_offset == \
        timedelta(hours=8)
    assert sync_entries(env) == []


def test_apply_sets_the_clock_and_journals_it(cloud, admin):
    env, host, uuids = cloud
    report = reconcile_run.apply(env, admin, SYNC)
    details = {i.name: (i.state, i.detail) for i in report.items}
    assert details["a"] == ("unchanged", "clock set from the host's (it was +28800 s off)")
    assert details["b"] == ("unchanged", f"clock not set: {silent(uuids['b'])}")
    assert details["c"] == ("unchanged", "clock not set: the guest is not running")
    offset = host.domains[naming.domain_name(uuids["a"])].guest_clock_offset
    assert abs(offset.total_seconds()) < 2
    [(a, a_state, a_offset, a_error), (b, b_state, b_offset, b_error)] = sync_entries(env)
    assert (a, a_state, a_error) == (uuids["a"], "done", None)
    assert abs(a_offset - 28800) < 2
    assert (b, b_state, b_offset, b_error) == (uuids["b"], "failed", None, silent(uuids["b"]))
    assert servers.show_server(env, admin, "b")["status"] == "ACTIVE"  # not ERROR for it
