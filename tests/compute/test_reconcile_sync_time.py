"""kumo reconcile --sync-time on in-memory hosts: the plan reads each running guest's clock
through its agent and says how far off it is; --apply sets it from the host's UTC clock
(journaled, operation sync-time, with the offset it had); a guest whose agent does not answer,
or that is not running, keeps its clock and its state, the reason in the run's item."""

from __future__ import annotations

import dataclasses
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from kumo.compute import images, journal, naming, reconcile, reconcile_run, servers
from kumo.compute.reconcile import Request
from kumo.db.models import JournalEntry, ReconcileItem
from tests.compute.crash import Killed, kill_at_failpoint
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


@pytest.mark.parametrize("point", [
    "sync-time:before",  # a's record done, its clock not looked at
    "sync-time:after-begin",  # its entry open, the clock not read
    "sync-time:before-set",  # the offset read and journaled, the clock not set
    "sync-time:after-set",  # the clock set, the entry open
])
def test_a_sync_time_killed_midway_is_resumed_and_sets_each_clock_once(cloud, admin,
                                                                       monkeypatch, point):
    env, host, uuids = cloud

    kill_at_failpoint(monkeypatch, reconcile_run, point)
    # the dead controller: a process of this machine that no longer runs
    dead = dataclasses.replace(env, owner=f"{socket.gethostname()}:999999999:0")
    with pytest.raises(Killed):
        reconcile_run.apply(dead, admin, SYNC)
    monkeypatch.undo()
    a_clock = host.domains[naming.domain_name(uuids["a"])]
    assert (abs(a_clock.guest_clock_offset.total_seconds()) < 2) == (point == "sync-time:after-set")

    recovered = journal.recover(env)  # what every kumo command does first
    [run_id] = {r.outcome.split()[2] for r in recovered if r.operation == "reconcile"}
    outcomes = sorted((r.operation, r.instance_uuid, r.outcome) for r in recovered)
    run_outcome = ("reconcile", None, f"reconcile run {run_id} was interrupted with 2 "
                   "server(s) still to do: run the same kumo reconcile command again to "
                   "resume it")
    a_recovered = ("setting the guest clock was interrupted (the controller stopped): clock "
                   "set from the host's (it was +28800 s off)")
    if point == "sync-time:before":  # nothing open: the resumed run does a's clock
        assert outcomes == [run_outcome]
    else:
        assert outcomes == [run_outcome, ("sync-time", uuids["a"], a_recovered)]

    report = reconcile_run.apply(env, admin, SYNC)
    assert (report.run_id, report.resumed, report.state) == (run_id, True, "done")
    assert {i.name: (i.state, i.detail) for i in report.items} == {
        "a": ("unchanged", "clock set from the host's (it was +28800 s off)"),
        "b": ("unchanged", f"clock not set: {silent(uuids['b'])}"),
        "c": ("unchanged", "clock not set: the guest is not running")}
    assert abs(a_clock.guest_clock_offset.total_seconds()) < 2
    # exactly once: one entry per clock, done with the offset it had
    [(a, a_state, a_offset, a_error), (b, b_state, _b_offset, _b_error)] = sync_entries(env)
    assert (a, a_state, b, b_state) == (uuids["a"], "done", uuids["b"], "failed")
    # the journal's note on an entry it recovered
    assert a_error == (None if point == "sync-time:before" else f"recovered: {a_recovered}")
    assert abs(a_offset - 28800) < 2
    with env.db.session_scope(readonly=True) as s:
        assert sorted(s.scalars(select(ReconcileItem.clock))) == ["not-set", "not-set", "set"]
    again = reconcile_run.apply(env, admin, SYNC)  # a new run: the clocks are read again
    assert again.run_id != run_id
