"""The periodic task runner: one controller at a time per task (PostgreSQL advisory locks,
SQLite: the process's own lock), one run per interval across controllers, runs recorded."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone

from kumo.db.models import PeriodicRun
from kumo.periodic import Outcome
from kumo.serve.locks import TaskLocks, advisory_key
from kumo.serve.tasks import Task, TaskRunner

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def _runner(env, task, owner, clock):
    other = dataclasses.replace(env, owner=owner, _hosts={}, _renewer=None)
    return TaskRunner(other, [task], TaskLocks(env.db), clock)


def test_a_task_held_elsewhere_is_skipped(env):
    inside, release = threading.Event(), threading.Event()

    def slow(_env, _at):
        inside.set()
        release.wait(10)
        return Outcome("slow run")

    task = Task("t-held", 60, slow)
    a = _runner(env, task, "ctl-a:1:1", lambda: T0)
    b = _runner(env, task, "ctl-b:2:2", lambda: T0 + timedelta(seconds=120))
    results = []
    thread = threading.Thread(target=lambda: results.append(a.run_once(task)))
    thread.start()
    assert inside.wait(10)
    assert b.run_once(task) == "skipped"  # held by a (advisory lock / the process's lock)
    release.set()
    thread.join(10)
    assert results == ["ok"]
    with env.db.session_scope(readonly=True) as s:
        row = s.get(PeriodicRun, "t-held")
        assert (row.owner, row.runs, row.started_at, row.last_error) == ("ctl-a:1:1", 1, T0, None)


def test_one_run_per_interval_across_controllers(env):
    calls = []
    task = Task("t-interval", 60, lambda _e, _a: calls.append(1) or Outcome("ran"))
    clock = {"now": T0}
    a = _runner(env, task, "ctl-a:1:1", lambda: clock["now"])
    b = _runner(env, task, "ctl-b:2:2", lambda: clock["now"])
    assert a.run_once(task) == "ok"
    clock["now"] = T0 + timedelta(seconds=30)
    assert b.run_once(task) == "skipped"  # a ran it 30 s ago
    clock["now"] = T0 + timedelta(seconds=60)
    assert b.run_once(task) == "ok"  # b's turn: a's run is an interval old
    assert len(calls) == 2


def test_a_failing_run_is_recorded_and_the_loop_goes_on(env):
    def boom(_e, _a):
        raise RuntimeError("host table on fire")

    task = Task("t-boom", 60, boom)
    runner = _runner(env, task, "ctl-a:1:1", lambda: T0)
    assert runner.run_once(task) == "error"
    with env.db.session_scope(readonly=True) as s:
        row = s.get(PeriodicRun, "t-boom")
        assert (row.last_error, row.last_success_at) == ("RuntimeError: host table on fire",
                                                         None)


def test_advisory_keys_are_stable_signed_bigints():
    assert advisory_key("power-sync") == advisory_key("power-sync")
    assert advisory_key("power-sync") != advisory_key("recovery")
    assert all(-(1 << 63) <= advisory_key(t) < 1 << 63 for t in ("a", "power-sync", "x" * 99))
