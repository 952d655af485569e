"""A delete queued behind a running create (kumo.compute.pending_delete) is never lost: the
controller building the server dies, and recovery -- oldest entry first -- rolls the create back
and then carries the delete out; and a delete asked just as the create ended is taken by the
request itself, exactly once."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from kumo.compute import journal, pending_delete, servers
from kumo.compute.context import RequestContext
from kumo.db.models import Host, Instance, JournalEntry
from tests.compute.fakehost import fake_cloud
from tests.compute.test_create_host_failures import dead_owner


def _recorded(env, admin) -> str:
    """A create recorded on its host (claimed), its build not started."""
    instance, _host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny")
    servers.schedule_and_record(env, admin, instance)
    return instance.uuid


def _entries(env, uuid) -> list[tuple[str, str]]:
    with env.db.session_scope(readonly=True) as s:
        return [(e.operation, e.state) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid == uuid)
            .order_by(JournalEntry.id))]


def test_the_builder_dies_recovery_rolls_the_create_back_then_deletes(env, admin, image_file,
                                                                       fake_hosts):
    fake_cloud(env, admin, image_file, fake_hosts)
    uuid = _recorded(env, admin)
    entry_id, _uuid, now = pending_delete.request(env, admin, uuid)
    assert now is False and _entries(env, uuid) == [("create", "in-progress"),
                                                    ("delete", "pending")]
    with env.db.session_scope(readonly=True) as s:
        create, delete = s.scalars(select(JournalEntry).where(
            JournalEntry.instance_uuid == uuid).order_by(JournalEntry.id))
        # the builder's, sharing its lease; the create asked to stop before its next step
        assert ((delete.owner, delete.lease_expires_at, delete.step, delete.payload)
                == (create.owner, create.lease_expires_at, "begin", {"queued": True}))
        assert create.payload[journal.STOP_REQUESTED] == (
            f"the server was deleted while it was being built (delete {entry_id}); "
            "build stopped")
    assert servers.show_server(env, admin, uuid)["task_state"] == "deleting"
    with env.db.session_scope() as s:  # the building controller is gone
        s.execute(update(JournalEntry).where(JournalEntry.instance_uuid == uuid)
                  .values(owner=dead_owner()))
    done = [(r.operation, r.state) for r in journal.recover(env) if r.entry_id]
    assert done == [("create", "rolled-back"), ("delete", "done")]
    with env.db.session_scope(readonly=True) as s:
        row = s.scalars(select(Instance).where(Instance.uuid == uuid)).one()
        host = s.scalars(select(Host)).one()
        assert (row.deleted, host.instance_count, host.used_vcpus) == (True, 0, 0)


def test_a_delete_asked_as_the_create_ends_is_taken_by_the_request(env, admin, image_file,
                                                                   fake_hosts, monkeypatch):
    fake_cloud(env, admin, image_file, fake_hosts)
    uuid = _recorded(env, admin)
    with env.db.session_scope() as s:  # the create ends between the queue and the look again
        [create] = s.scalars(select(JournalEntry).where(JournalEntry.instance_uuid == uuid))
    real = pending_delete._create_ended

    def ended(env_, uuid_):
        with env.db.session_scope() as s:
            s.get_one(JournalEntry, create.id).state = "done"
        return real(env_, uuid_)
    monkeypatch.setattr(pending_delete, "_create_ended", ended)
    entry_id, _uuid, now = pending_delete.request(env, admin, uuid)
    monkeypatch.undo()
    assert now is True
    assert _entries(env, uuid) == [("create", "done"), ("delete", "in-progress")]
    # the build's own look finds nothing left to take: carried out once
    assert pending_delete.run_queued(env, uuid) is False
    assert pending_delete.request(env, admin, uuid) is None  # no create runs: delete as usual


DELETER = RequestContext(user_id="bob", project_id="admin", roles=("admin",),
                         request_id="req-delete")


@pytest.mark.parametrize("step, stops", [
    pytest.param("upload", True, id="upload"),
    pytest.param("volumes", True, id="volumes"),
    pytest.param("define", True, id="define"),
    pytest.param("start", False, id="start-the-build-already-made"),
    pytest.param("rollback", False, id="rollback"),
])
def test_a_create_asked_to_stop_refuses_only_the_steps_that_change_the_host(
        env, admin, image_file, fake_hosts, step, stops):
    fake_cloud(env, admin, image_file, fake_hosts)
    uuid = _recorded(env, admin)
    entry_id, _uuid, _now = pending_delete.request(env, DELETER, uuid)
    with env.db.session_scope(readonly=True) as s:
        [create_id] = s.scalars(select(JournalEntry.id).where(
            JournalEntry.instance_uuid == uuid, JournalEntry.operation == "create"))
        queued = s.get_one(JournalEntry, entry_id)
        # written as the deleting request's, owned by the builder
        assert (queued.request_id, queued.user_id, queued.state) == (
            "req-delete", "bob", "pending")
    if stops:
        with pytest.raises(journal.Stopped, match=rf"\(delete {entry_id}\); build stopped$"):
            journal.advance(env, create_id, step)
        assert journal.snapshot(env, create_id)[0] == "claimed"  # nothing changed
    else:
        journal.advance(env, create_id, step)
        assert journal.snapshot(env, create_id)[0] == step


def test_a_create_recovered_at_define_with_a_delete_queued_is_rolled_back_not_finished(
        env, admin, image_file, fake_hosts):
    """Recovery would finish a create interrupted at define; one a delete was queued behind
    is rolled back instead (nothing defined on the host), then the delete is done."""
    host = fake_cloud(env, admin, image_file, fake_hosts)
    uuid = _recorded(env, admin)
    with env.db.session_scope() as s:
        create = s.scalars(select(JournalEntry).where(JournalEntry.instance_uuid == uuid)).one()
        create.step = "define"
    entry_id, _uuid, _now = pending_delete.request(env, admin, uuid)
    with env.db.session_scope() as s:
        s.execute(update(JournalEntry).where(JournalEntry.instance_uuid == uuid)
                  .values(owner=dead_owner()))
    done = [(r.operation, r.state, r.outcome) for r in journal.recover(env) if r.entry_id]
    assert done[0] == (
        "create", "rolled-back",
        f"create was interrupted at step define; the server was deleted while it was being "
        f"built (delete {entry_id}); build stopped: rolled back")
    assert done[1][:2] == ("delete", "done")
    assert host.ops("define", "start") == []
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Instance).where(Instance.uuid == uuid)).one().deleted
