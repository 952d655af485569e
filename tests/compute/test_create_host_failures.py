"""Create against an in-memory host (kumo.hosts.fake) that fails at every step it takes: the server
ends ERROR with the host's error as its fault, the journal says rolled back, and nothing is left
behind -- no claim on the host, no domain, no instance volume (the shared image cache may stay,
once it is complete). A host that stops answering mid-create keeps the server on it, ERROR,
holding its claim, until ``kumo server delete`` finishes the cleanup. Every host call that
changes something happens under the journal step that covers it (JournalWatch)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from kumo.compute import images, journal, naming, servers, spawn
from kumo.errors import HostError, HostUnreachable, InvalidInput, UnsupportedGuest
from kumo.hosts.fake import Fault
from tests.compute.crash import Killed, kill_at_failpoint
from tests.compute.fakehost import (JournalWatch, counters, entries, fake_cloud,
                                    instance_volumes, live_instances)

URI = "fake:///kvm-1"
EMPTY = (0, 0, 0, 0)
HELD = (1, 256, 2, 1)  # 1 vCPU, 256 MiB, 1 GiB root + 1 GiB ephemeral, one instance


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    watch = host.watch
    yield env, host
    assert watch.violations == []


def image_volume(env, admin) -> str:
    return naming.image_volume_name(images.show_image(env, admin, "linux")["id"])


def is_config(call) -> bool:
    return call.args["name"].endswith("-config")


def is_image(call) -> bool:
    return naming.image_of_volume(call.args["name"]) is not None


# (host call, fault, which calls, after acting?, exception, image cache kept?)
ROLLED_BACK = [
    pytest.param("ensure_pool", Fault.STORAGE, None, False, HostError, False, id="pool"),
    pytest.param("list_volumes", Fault.TIMEOUT, None, False, HostError, False, id="list-volumes"),
    pytest.param("upload_volume", Fault.STORAGE, is_image, False, HostError, False,
                 id="image-upload"),
    pytest.param("upload_volume", Fault.TIMEOUT, is_image, True, HostError, False,
                 id="image-upload-answer-lost"),
    pytest.param("create_overlay_volume", Fault.STORAGE, None, False, HostError, True,
                 id="root-volume"),
    pytest.param("create_volume", Fault.STORAGE, None, False, HostError, True,
                 id="ephemeral-volume"),
    pytest.param("upload_volume", Fault.TIMEOUT, is_config, False, HostError, True,
                 id="config-drive"),
    pytest.param("upload_volume", Fault.TIMEOUT, is_config, True, HostError, True,
                 id="config-drive-answer-lost"),
    pytest.param("define", Fault.REFUSED, None, False, UnsupportedGuest, True,
                 id="define-refused"),
    pytest.param("define", Fault.INVALID_XML, None, False, InvalidInput, True,
                 id="define-invalid-xml"),
    pytest.param("define", Fault.TIMEOUT, None, True, HostError, True,
                 id="define-answer-lost"),
    pytest.param("domain_exists", Fault.TIMEOUT, None, False, HostError, True,
                 id="look-before-start"),
    pytest.param("start", Fault.START_ERROR, None, False, HostError, True, id="start-error"),
    pytest.param("start", Fault.TIMEOUT, None, False, HostError, True, id="start-timeout"),
    pytest.param("start", Fault.TIMEOUT, None, True, HostError, True, id="start-answer-lost"),
]


@pytest.mark.parametrize("op, fault, when, after, raised, cache_kept", ROLLED_BACK)
def test_failed_step_rolls_the_create_back(cloud, admin, op, fault, when, after, raised,
                                           cache_kept):
    env, host = cloud
    host.fail(op, fault, when=when, after=after)
    with pytest.raises(raised) as e:
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    assert fault.message in str(e.value)
    [server] = servers.list_servers(env, admin)
    assert (server["status"], server["task_state"], server["host"], server["power_state"]) == (
        "ERROR", None, None, "nostate")
    assert server["fault"]["message"] == f"create failed: {e.value}"
    assert entries(env) == [("create", "rolled-back", "rollback")]
    assert counters(env) == {"kvm-1": EMPTY}
    assert host.domains == {}
    assert host.volumes(env.pool_name) == ({image_volume(env, admin)} if cache_kept else set())
    # the failed server is deleted cleanly
    servers.delete_server(env, admin, "web")
    assert live_instances(env) == [] and counters(env) == {"kvm-1": EMPTY}


@pytest.mark.parametrize("op, when", [
    pytest.param("upload_volume", is_image, id="image-upload"),
    pytest.param("create_overlay_volume", None, id="root-volume"),
    pytest.param("upload_volume", is_config, id="config-drive"),
    pytest.param("define", None, id="define"),
    pytest.param("start", None, id="start"),
])
def test_host_lost_mid_create_keeps_the_claim_until_delete(cloud, admin, op, when):
    """The host stops answering: the rollback cannot clean it, so the server stays on it (ERROR,
    its claim held, the journal failed) and deleting it once the host is back removes all."""
    env, host = cloud
    host.fail(op, Fault.CONNECTION_LOST, when=when)
    with pytest.raises(HostError, match="Connection reset by peer"):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    [server] = servers.list_servers(env, admin)
    assert (server["status"], server["host"]) == ("ERROR", "kvm-1")
    message = server["fault"]["message"]
    assert message.startswith("create failed: cannot ") and message.endswith(
        ": delete the server to retry")
    assert "cleaning the host failed (host fake:///kvm-1 does not answer" in message
    assert entries(env) == [("create", "failed", "rollback")]
    assert counters(env) == {"kvm-1": HELD}
    with pytest.raises(HostUnreachable):
        servers.delete_server(env, admin, "web")  # still down: kept, still held
    assert counters(env) == {"kvm-1": HELD}
    host.heal()
    servers.delete_server(env, admin, "web")
    assert live_instances(env) == [] and counters(env) == {"kvm-1": EMPTY}
    assert host.domains == {} and instance_volumes(host, env.pool_name) == set()


def test_unreachable_before_recording_records_nothing(cloud, admin):
    env, host = cloud
    host.fail("node_info", Fault.CONNECTION_LOST)
    with pytest.raises(HostError, match="Connection reset by peer"):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    assert servers.list_servers(env, admin) == [] and entries(env) == []
    assert counters(env) == {"kvm-1": EMPTY}
    assert host.ops("define", "upload_volume") == []


def test_create_succeeds_with_every_step_journaled(cloud, admin):
    env, host = cloud
    result = servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    server = result.server
    assert (server["status"], server["power_state"], server["host"]) == (
        "ACTIVE", "running", "kvm-1")
    assert entries(env) == [("create", "done", "start")]
    uuid = server["id"]
    assert host.domains[naming.domain_name(uuid)].state == "running"
    assert host.volumes(env.pool_name) == {
        image_volume(env, admin), *(naming.volume_name(uuid, k) for k in ("disk", "eph0",
                                                                          "config"))}
    assert [c.op for c in host.ops("upload_volume", "create_overlay_volume", "create_volume",
                                   "define", "start")] == [
        "upload_volume", "create_overlay_volume", "create_volume", "upload_volume", "define",
        "start"]
    assert counters(env) == {"kvm-1": HELD}


def test_create_of_a_cached_image_journals_each_step_in_one_commit(cloud, admin):
    """The second create on a host finds its image there: no upload step is journaled, the
    volumes step commits with the password hash, define and start share the define step, and
    the whole build writes the database five times (the claim and record; the pinned machine
    with the heartbeat; volumes; define; done) -- each step still committed before the host
    call it covers (JournalWatch)."""
    env, host = cloud
    servers.create_server(env, admin, "first", image="linux", flavor="tiny")
    seen_before = len(host.watch.seen)
    commits: list[object] = []

    def count(conn) -> None:
        commits.append(conn)
    event.listen(env.db.engine, "commit", count)
    try:
        uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    finally:
        event.remove(env.db.engine, "commit", count)
    assert host.watch.seen[seen_before:] == [
        ("create_overlay_volume", "volumes"), ("create_volume", "volumes"),
        ("upload_volume", "volumes"), ("define", "define"), ("start", "define")]
    assert len(commits) == 5
    assert entries(env, uuid) == [("create", "done", "start")]


# --- recovery of a create a dead controller left, at every step ---------------------------------

def dead_owner() -> str:
    import socket

    return f"{socket.gethostname()}:999999999:0"


def kill_at(monkeypatch, host, where: str) -> None:
    """Die when the host call ``where`` arrives (before it acts), or at failpoint ``where``."""
    if ":" in where:
        kill_at_failpoint(monkeypatch, spawn, where)
        return
    op, _, which = where.partition(" ")

    def hook(call) -> None:
        if call.op == op and (not which or (which == "image") == is_image(call)):
            raise Killed
    host.hooks.insert(0, hook)


def interrupted_create(env, admin, host, monkeypatch, where: str) -> str:
    """Create ``web`` and kill the controller at ``where``; the dead owner recorded."""
    from kumo.db.models import JournalEntry

    kill_at(monkeypatch, host, where)
    with pytest.raises(Killed):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    monkeypatch.undo()
    host.hooks[:] = [h for h in host.hooks if isinstance(h, JournalWatch)]
    [server] = servers.list_servers(env, admin)
    with env.db.session_scope() as s:
        [entry] = s.query(JournalEntry).all()
        entry.owner = dead_owner()
    return server["id"]


def rolled_back(step: str) -> str:
    return (f"create was interrupted at step {step} (the controller stopped); rolled back: "
            "delete the server and create it again")


# (where the controller died, journal step then, outcome, image cache kept?)
RECOVERY = [
    pytest.param("upload_volume image", "upload", rolled_back("upload"), False,
                 id="before-image-upload"),
    pytest.param("create:after-upload", "upload", rolled_back("upload"), True,
                 id="after-image-upload"),
    pytest.param("create_overlay_volume", "volumes", rolled_back("volumes"), True,
                 id="before-root-volume"),
    pytest.param("upload_volume config", "volumes", rolled_back("volumes"), True,
                 id="before-config-drive"),
    pytest.param("create:after-volumes", "volumes", rolled_back("volumes"), True,
                 id="after-volumes"),
    pytest.param("define", "define", "create interrupted at step define: finished, server ACTIVE",
                 True, id="before-define"),
    pytest.param("create:after-define", "define",
                 "create interrupted at step define: finished, server ACTIVE", True,
                 id="after-define"),
    # define and start share the define step's commit (recovery from it does both)
    pytest.param("start", "define", "create interrupted at step define: finished, server ACTIVE",
                 True, id="before-start"),
    pytest.param("create:after-start", "define",
                 "create interrupted at step define: finished, server ACTIVE", True,
                 id="after-start"),
]


@pytest.mark.parametrize("where, step, outcome, cache_kept", RECOVERY)
def test_recovery_finishes_or_rolls_back(cloud, admin, monkeypatch, where, step, outcome,
                                         cache_kept):
    env, host = cloud
    uuid = interrupted_create(env, admin, host, monkeypatch, where)
    assert entries(env) == [("create", "in-progress", step)]
    [done] = journal.recover(env)
    assert (done.instance_uuid, done.step, done.outcome) == (uuid, step, outcome)
    server = servers.show_server(env, admin, uuid)
    instance_vols = {naming.volume_name(uuid, k) for k in ("disk", "eph0", "config")}
    cache = {image_volume(env, admin)} if cache_kept else set()
    if outcome.endswith("server ACTIVE"):
        assert (server["status"], server["power_state"], server["fault"]) == (
            "ACTIVE", "running", None)
        assert entries(env) == [("create", "done", "start")]
        assert counters(env) == {"kvm-1": HELD}
        assert host.domains[naming.domain_name(uuid)].state == "running"
        assert host.volumes(env.pool_name) == instance_vols | cache
    else:
        assert (server["status"], server["host"], server["fault"]["message"]) == (
            "ERROR", None, outcome)
        assert entries(env) == [("create", "rolled-back", "rollback")]
        assert counters(env) == {"kvm-1": EMPTY}
        assert host.domains == {} and host.volumes(env.pool_name) == cache
    assert journal.recover(env) == []


@pytest.mark.parametrize("where", ["create:after-define", "start"])
def test_recovery_that_cannot_finish_rolls_back(cloud, admin, monkeypatch, where):
    env, host = cloud
    uuid = interrupted_create(env, admin, host, monkeypatch, where)
    host.fail("start", Fault.START_ERROR)
    [done] = journal.recover(env)
    step = "define"  # before and after the define call alike: start shares its step
    assert done.outcome.startswith(f"create was interrupted at step {step} and finishing it "
                                   "failed: cannot start(name=")
    assert done.outcome.endswith(f"{Fault.START_ERROR.message}; rolled back")
    server = servers.show_server(env, admin, uuid)
    assert (server["status"], server["host"], server["fault"]["message"]) == (
        "ERROR", None, done.outcome)
    assert entries(env) == [("create", "rolled-back", "rollback")]
    assert counters(env) == {"kvm-1": EMPTY}
    assert host.domains == {} and instance_volumes(host, env.pool_name) == set()


def test_recovery_waits_for_a_host_that_does_not_answer(cloud, admin, monkeypatch):
    env, host = cloud
    uuid = interrupted_create(env, admin, host, monkeypatch, "create:after-define")
    host.fail("define", Fault.CONNECTION_LOST)
    [done] = journal.recover(env)
    assert done.outcome.startswith("deferred: cannot define() on fake:///kvm-1: Cannot recv")
    assert entries(env) == [("create", "in-progress", "define")]
    assert counters(env) == {"kvm-1": HELD}
    env.forget_host(URI)
    host.heal()
    [done] = journal.recover(env)  # the next start of a controller finishes it
    assert done.outcome == "create interrupted at step define: finished, server ACTIVE"
    assert servers.show_server(env, admin, uuid)["status"] == "ACTIVE"
