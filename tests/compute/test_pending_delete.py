"""A delete queued behind a running create (kumo.compute.pending_delete) is never lost: the
controller building the server dies, and recovery -- oldest entry first -- rolls the create back
and then carries the delete out; and a delete asked just as the create ended is taken by the
request itself, exactly once."""

from __future__ import annotations

from sqlalchemy import select, update

from kumo.compute import journal, pending_delete, servers
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
