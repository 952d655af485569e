"""Evacuating a failed host that holds a copy of an undecided move (VERIFY_RESIZE;
kumo.compute.moves.decide_without): the server is not rebuilt from its image. The host was the
move's target: the move is reverted onto its source, whose copy is as before the move (its
disks kept, its old flavor, started again). The host was the move's source: the move is
confirmed, the server runs on where it is. Either way every claim ends with one holder, no
move is left undecided, and the failed host's stale copy is removed when it answers again --
never started."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kumo.compute import evacuate, moves, servers
from kumo.db.models import JournalEntry
from kumo.db.models.moves import Move
from kumo.periodic import host_liveness
from tests.compute.fleet import fail_host
from tests.compute.test_moves import (A, B, cloud, consistent, domains, row, uri,  # noqa: F401
                                      used, volumes)


def _fail(env, hosts, name: str, admin) -> None:
    hosts[uri(name)].down = True
    fail_host(env, name)
    evacuate.set_fenced(env, admin, name, True)


def _back(env, hosts, name: str, admin) -> None:
    hosts[uri(name)].down = False
    hosts[uri(name)].calls.clear()
    host_liveness.run(env)
    evacuate.set_fenced(env, admin, name, False)


def _stale_copy_goes_when_back(env, hosts, admin, failed: str, uuid: str, runs_on: str) -> None:
    """The failed host still has its copy of the server; when it answers again that copy is
    removed (domain and volumes), never started, and the server runs on ``runs_on`` only."""
    assert f"kumo-{uuid}" in hosts[uri(failed)].domains
    _back(env, hosts, failed, admin)
    assert domains(hosts, uuid) == {runs_on: "running"}
    assert volumes(hosts, failed, uuid) == set()
    assert not [c for c in hosts[uri(failed)].calls if c.op == "start"]


def test_the_target_failed_the_move_is_reverted_onto_its_source(cloud, admin):
    env, hosts = cloud
    vm = row(env, "vm")
    moves.resize_server(env, admin, "vm", "small", host=B)
    source_disk = hosts[uri(A)].uploaded.get(f"kumo-{vm.uuid}-config")
    _fail(env, hosts, B, admin)
    hosts[uri(A)].calls.clear()
    name, items = evacuate.plan(env, admin, B)
    assert [(i.name, i.target, i.action, i.skip) for i in items] == [
        ("vm", A, "decide-move", None)]
    assert items[0].disk.startswith("kept: its move reverted onto kvm-a, whose copy is as "
                                    "before the move (flavor tiny;")
    # nothing is rebuilt: no --accept-rebuild needed
    summary = evacuate.evacuate(env, admin, B)
    assert (summary.moved, summary.skipped, summary.failed) == (
        [("vm", "kvm-a (reverted its undecided move)")], [], [])
    view = servers.show_server(env, admin, "vm")
    assert (view["status"], view["host"], view["flavor"]) == (
        "ACTIVE", A, "tiny")
    # the source's own copy runs again: its disks were never rebuilt
    assert hosts[uri(A)].domains[f"kumo-{vm.uuid}"].state.value == "running"
    assert [c.op for c in hosts[uri(A)].calls if c.op in (
        "upload_volume", "create_volume", "create_overlay_volume", "delete_volume")] == []
    assert hosts[uri(A)].uploaded.get(f"kumo-{vm.uuid}-config") == source_disk
    assert [m["status"] for m in moves.move_views(env, admin, "vm")] == ["reverted"]
    # kvm-b holds nothing any more; kvm-a holds vm (tiny) and off
    assert used(env)[B] == (0, 0, 0, 0)
    assert used(env)[A] == (2, 512, 4, 2)
    consistent(env)
    # kvm-b answers again: its stale copy of vm is removed before its fencing is cleared
    _stale_copy_goes_when_back(env, hosts, admin, B, vm.uuid, runs_on=A)


def test_the_source_failed_the_move_is_confirmed_where_it_runs(cloud, admin):
    env, hosts = cloud
    vm = row(env, "vm")
    moves.migrate_server(env, admin, "vm", host=B)
    _fail(env, hosts, A, admin)
    name, items = evacuate.plan(env, admin, A, choose_targets=False)
    assert sorted((i.name, i.action) for i in items) == [("off", "rebuild"),
                                                         ("vm", "decide-move")]
    summary = evacuate.evacuate(env, admin, A, accept_rebuild=True)
    assert ("vm", "kvm-b (confirmed its undecided move)") in summary.moved
    assert summary.failed == []
    view = servers.show_server(env, admin, "vm")
    assert (view["status"], view["host"]) == ("ACTIVE", B)
    assert hosts[uri(B)].domains[f"kumo-{vm.uuid}"].state.value == "running"
    assert [m["status"] for m in moves.move_views(env, admin, "vm")] == ["confirmed"]
    assert used(env)[A] == (0, 0, 0, 0)  # the move's hold there released; off rebuilt away
    consistent(env)
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Move).where(Move.held_host_id.is_not(None))).all() == []
        [confirm] = s.scalars(select(JournalEntry).where(
            JournalEntry.operation == "migrate-confirm")).all()
        assert (confirm.state, confirm.payload["evacuated_from"]) == ("done", A)
    # kvm-a was never asked; when it answers, vm's kept copy is removed, never started
    _stale_copy_goes_when_back(env, hosts, admin, A, vm.uuid, runs_on=B)


def test_a_source_that_is_down_too_leaves_the_move_undecided_with_the_reason(cloud, admin):
    env, hosts = cloud
    moves.migrate_server(env, admin, "vm", host=B)
    _fail(env, hosts, B, admin)
    hosts[uri(A)].down = True  # the revert would start the source's copy: it cannot
    summary = evacuate.evacuate(env, admin, B)
    [(who, why)] = summary.failed
    assert (who, why) == ("vm", "its undecided move could not be decided without kvm-b: host "
                          "fake:///kvm-a does not answer: Failed to connect socket: Connection "
                          "refused (fake:///kvm-a); it stays VERIFY_RESIZE: evacuate kvm-b "
                          "again once that is mended")
    assert servers.show_server(env, admin, "vm")["status"] == "VERIFY_RESIZE"
    consistent(env)
    hosts[uri(A)].heal()  # the source answers again: the re-run reverts it
    assert evacuate.evacuate(env, admin, B).moved == [
        ("vm", "kvm-a (reverted its undecided move)")]


def test_the_api_evacuate_of_one_server_in_verify_resize_is_refused_as_nova_does(cloud, admin):
    env, hosts = cloud
    moves.migrate_server(env, admin, "vm", host=B)
    _fail(env, hosts, B, admin)
    with pytest.raises(Exception, match="while it is resized: allowed active, stopped or "
                                        "error"):
        evacuate.evacuate_server(env, admin, "vm")
