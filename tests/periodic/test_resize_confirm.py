"""resize_confirm_window (kumo.periodic.resize_confirm) with a fake clock: exactly the moves
undecided for longer than the window are confirmed, through the confirm ``kumo server migrate
confirm`` runs (journaled migrate-confirm, the source's copy and claim gone); 0 never confirms;
a server in ERROR is left; a confirm that fails is tried again at the next run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kumo.compute import moves, servers
from kumo.compute.context import SERVICE_USER
from kumo.compute.states import now
from kumo.config import Settings
from kumo.db.models import Instance, JournalEntry
from kumo.periodic import resize_confirm
from kumo.serve.controller import default_tasks
from tests.compute.conftest import fake_hosts, image_file  # noqa: F401
from tests.compute.test_moves import (A, B, C, cloud, consistent, domains, row,  # noqa: F401
                                      uri, used)

WINDOW = 3600.0


def _window(env, seconds: float) -> None:
    env.settings = env.settings.model_copy(update={"resize_confirm_window": seconds})


def _moved(env, admin):
    """``vm`` migrated to kvm-b, ``off`` resized to kvm-c; the time they finished."""
    moves.migrate_server(env, admin, "vm", host=B)
    moves.resize_server(env, admin, "off", "small", host=C)
    return now()


def _statuses(env, admin) -> dict[str, str]:
    return {n: servers.show_server(env, admin, n)["status"] for n in ("vm", "off")}


def test_moves_undecided_longer_than_the_window_are_confirmed(cloud, admin):
    env, hosts = cloud
    _window(env, WINDOW)
    finished = _moved(env, admin)
    early = resize_confirm.run(env, finished + timedelta(seconds=WINDOW - 60))
    assert (early.summary, early.corrections) == (
        "0 move(s) undecided for more than 3600 s: 0 confirmed", {})
    assert _statuses(env, admin) == {"vm": "VERIFY_RESIZE", "off": "VERIFY_RESIZE"}

    done = resize_confirm.run(env, finished + timedelta(seconds=WINDOW + 60))
    assert (done.summary, done.corrections) == (
        "2 move(s) undecided for more than 3600 s: 2 confirmed", {"confirmed": 2})
    assert _statuses(env, admin) == {"vm": "ACTIVE", "off": "SHUTOFF"}
    vm, off = row(env, "vm"), row(env, "off")
    assert domains(hosts, vm.uuid) == {B: "running"}
    assert domains(hosts, off.uuid) == {C: "shutoff"}
    # the sources' copies' claims released: kvm-a holds nothing any more
    assert used(env)[A] == (0, 0, 0, 0)
    consistent(env)
    with env.db.session_scope(readonly=True) as s:
        confirms = [(e.operation, e.state, e.user_id) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.operation == "migrate-confirm")
            .order_by(JournalEntry.id))]
    assert confirms == [("migrate-confirm", "done", SERVICE_USER)] * 2
    assert [m["status"] for m in moves.move_views(env, admin, "vm")] == ["confirmed"]
    # nothing left to confirm
    assert resize_confirm.run(env, finished + timedelta(days=2)).corrections == {}


def test_a_window_of_zero_never_confirms(cloud, admin):
    env, _hosts = cloud
    assert env.settings.resize_confirm_window == 0  # Nova's default
    finished = _moved(env, admin)
    out = resize_confirm.run(env, finished + timedelta(days=365))
    assert out.summary == "resize_confirm_window is 0: moves are never confirmed automatically"
    assert _statuses(env, admin) == {"vm": "VERIFY_RESIZE", "off": "VERIFY_RESIZE"}


def test_a_server_in_error_is_left_and_a_failed_confirm_is_retried(cloud, admin):
    env, hosts = cloud
    _window(env, WINDOW)
    finished = _moved(env, admin)
    with env.db.session_scope() as s:
        s.execute(update(Instance).where(Instance.name == "off").values(vm_state="error"))
    hosts[uri(A)].down = True  # vm's confirm removes its copy on kvm-a: fails
    at = finished + timedelta(seconds=WINDOW + 60)
    out = resize_confirm.run(env, at)
    assert out.corrections == {"skipped": 1, "failed": 1}
    assert servers.show_server(env, admin, "vm")["status"] == "VERIFY_RESIZE"
    assert servers.show_server(env, admin, "off")["status"] == "ERROR"
    failed = now()
    hosts[uri(A)].heal()
    # the failed confirm left the move finished again just now: a new window (as Nova's
    # migrations.updated_at)
    early = resize_confirm.run(env, failed + timedelta(seconds=WINDOW - 60))
    assert early.corrections == {}
    assert servers.show_server(env, admin, "vm")["status"] == "VERIFY_RESIZE"
    later = resize_confirm.run(env, failed + timedelta(seconds=WINDOW + 60))
    assert later.corrections == {"confirmed": 1, "skipped": 1}
    assert servers.show_server(env, admin, "vm")["status"] == "ACTIVE"


@pytest.mark.parametrize("window, interval", [(0.0, 0.0), (30.0, 30.0), (86400.0, 60.0)],
                         ids=["off", "short-window", "day"])
def test_kumo_serve_runs_it_only_with_a_window(window, interval):
    [task] = [t for t in default_tasks(Settings(resize_confirm_window=window))
              if t.name == "resize-confirm"]
    assert task.interval == interval and task.run is resize_confirm.run
