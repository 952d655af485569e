"""kumo.compute.background: the finisher of a --no-wait operation takes the journal entry over
from the process that recorded it (exactly one process carries the work on) and finishes it."""

from __future__ import annotations

from kumo.compute import background, servers
from kumo.compute.states import status
from kumo.db.models import Instance, JournalEntry
from tests.compute.fakehost import fake_cloud


def _recorded_create(env, admin):
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny")
    return servers.schedule_and_record(env, admin, instance, host=host), instance.uuid


def test_finisher_takes_over_and_builds(env, admin, image_file, fake_hosts):
    fake_cloud(env, admin, image_file, fake_hosts)
    entry_id, uuid = _recorded_create(env, admin)
    with env.db.session_scope(readonly=True) as s:
        assert status(s.query(Instance).filter_by(uuid=uuid).one()) == "BUILD"
    assert background.finish(env, entry_id, env.owner) is True
    with env.db.session_scope(readonly=True) as s:
        assert status(s.query(Instance).filter_by(uuid=uuid).one()) == "ACTIVE"
        assert s.get(JournalEntry, entry_id).state == "done"


def test_finisher_leaves_an_entry_someone_else_owns(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    entry_id, uuid = _recorded_create(env, admin)
    host.calls.clear()
    assert background.finish(env, entry_id, "elsewhere:1:1") is False
    assert host.calls == []  # nothing done on the host
    with env.db.session_scope(readonly=True) as s:
        assert s.get(JournalEntry, entry_id).owner == env.owner


def test_stop_no_wait_payload_carries_the_timeout(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    entry_id, _uuid = servers.begin_operation(env, admin, "web", "stop", timeout_override=7.0)
    assert background.finish(env, entry_id, env.owner) is True
    assert [c.args["timeout_s"] for c in host.ops("shutdown")] == [7.0]
