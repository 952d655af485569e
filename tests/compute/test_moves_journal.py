"""A resize is journaled as its own operation (``resize``; a cold migration ``migrate``) and a
resize entry written before that (operation ``migrate``, payload kind ``resize``) is still
recovered; ``kumo server migrate|resize --no-wait`` records the move and leaves it to a
detached finisher (kumo.compute.background), which carries it to VERIFY_RESIZE."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from kumo.cli import server_moves
from kumo.compute import background, journal, moves, servers
from kumo.db.models import JournalEntry
from tests.compute.test_create_host_failures import dead_owner
from tests.compute.test_moves import A, B, C, cloud, consistent, domains, row  # noqa: F401


def _operations(env) -> list[tuple[str, str, str]]:
    with env.db.session_scope(readonly=True) as s:
        return [(e.operation, e.payload["kind"], e.state) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.operation.in_(("migrate", "resize")))
            .order_by(JournalEntry.id))]


def test_a_resize_is_journaled_as_resize_a_migration_as_migrate(cloud, admin):
    env, _hosts = cloud
    moves.resize_server(env, admin, "vm", "small", host=B)
    moves.migrate_server(env, admin, "off", host=C)
    assert _operations(env) == [("resize", "resize", "done"), ("migrate", "migration", "done")]


@pytest.mark.parametrize("operation", ["resize", "migrate"], ids=["resize", "older-migrate"])
def test_a_resize_left_by_a_dead_controller_is_recovered_under_either_name(
        cloud, admin, operation):
    env, hosts = cloud
    vm = row(env, "vm")
    started = moves.start(env, admin, "vm", flavor="small", host=B)
    with env.db.session_scope() as s:  # its controller died; an older one wrote "migrate"
        s.execute(update(JournalEntry).where(JournalEntry.id == started.entry_id)
                  .values(operation=operation, owner=dead_owner()))
    [done] = [r for r in journal.recover(env) if r.entry_id == started.entry_id]
    assert (done.operation, done.state) == (operation, "rolled-back")
    assert done.outcome == ("move interrupted at step claimed (the controller stopped); "
                            "rolled back: the server is on its source host as before")
    view = servers.show_server(env, admin, "vm")
    assert (view["status"], view["host"], view["flavor"]) == ("ACTIVE", A, "tiny")
    assert domains(hosts, vm.uuid) == {A: "running"}
    consistent(env)


@pytest.mark.parametrize("how, ends", [
    ({"host": B}, (B, "tiny")),
    ({"flavor": "small", "host": B}, (B, "small")),
], ids=["migrate", "resize"])
def test_no_wait_leaves_the_move_to_a_finisher(cloud, admin, monkeypatch, how, ends):
    env, hosts = cloud
    vm = row(env, "vm")
    handed: list[int] = []
    monkeypatch.setattr(server_moves, "_handed_over", lambda env_, entry_id: (
        handed.append(entry_id) or True))
    view = server_moves._move(env, admin, "moving vm", False, "vm", **how)
    # answered at once: busy (RESIZE), nothing done on a host yet, the entry this process's
    assert (view["status"], view["task_state"], view["host"]) == ("RESIZE", "resize_prep", A)
    assert domains(hosts, vm.uuid) == {A: "running"}
    [entry_id] = handed
    with env.db.session_scope(readonly=True) as s:
        entry = s.get_one(JournalEntry, entry_id)
        assert (entry.state, entry.step, entry.owner) == ("in-progress", "claimed", env.owner)
    # the detached finisher takes it over and carries it out
    assert background.finish(env, entry_id, env.owner) is True
    after = servers.show_server(env, admin, "vm")
    assert (after["status"], after["host"], after["flavor"]) == ("VERIFY_RESIZE", *ends)
    assert domains(hosts, vm.uuid) == {A: "shutoff", B: "running"}
    consistent(env)


def test_when_no_finisher_takes_over_the_command_waits(cloud, admin, monkeypatch):
    env, _hosts = cloud
    monkeypatch.setattr(server_moves, "_handed_over", lambda env_, entry_id: False)
    view = server_moves._move(env, admin, "moving vm", False, "vm", host=B)
    assert (view["status"], view["host"]) == ("VERIFY_RESIZE", B)
