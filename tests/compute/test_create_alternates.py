"""Create on the scheduler's alternates (kumo.compute.reschedule), against in-memory hosts
(kumo.hosts.fake): three hosts weighed big > mid > small by free RAM; the chosen host refuses the
guest at define or start, and the build moves to the next alternate, each attempt journaled,
until one succeeds or the configured count is used up -- then the server is ERROR and its fault
names every host and its error. Claims follow the build: only the host that runs the guest holds
one. Every host call happens under the journal step that covers it (JournalWatch)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from kumo.compute import background, journal, reschedule, servers
from kumo.db.models import Host, Instance, JournalEntry
from kumo.errors import HostError, UnsupportedGuest
from kumo.hosts.fake import Fault
from tests.compute.fakehost import JournalWatch, counters, entries, fake_cloud, instance_volumes
from tests.support.hosts import add_host

EMPTY = (0, 0, 0, 0)
HELD = (1, 256, 2, 1)  # the flavor tiny: 1 vCPU, 256 MiB, 1 GiB root + 1 GiB ephemeral
URIS = {"big": "fake:///kvm-1", "mid": "fake:///mid", "small": "fake:///small"}


@pytest.fixture
def fleet(env, admin, image_file, fake_hosts):
    """kvm-1 (the fake cloud's host, 16 GiB) renamed nothing; mid (8 GiB) and small (4 GiB)."""
    fake_cloud(env, admin, image_file, fake_hosts)
    now = datetime.now(timezone.utc)
    add_host(env.db, "mid", URIS["mid"], ram_mib=8192, last_heartbeat=now)
    add_host(env.db, "small", URIS["small"], ram_mib=4096, last_heartbeat=now)
    hosts = {name: fake_hosts[uri] for name, uri in URIS.items()}
    watches = [JournalWatch(env).attach(h) for n, h in hosts.items() if n != "big"]
    watches.append(hosts["big"].watch)
    yield env, hosts
    assert [v for w in watches for v in w.violations] == []


def attempts(env, uuid):
    with env.db.session_scope(readonly=True) as s:
        return [(e.state, e.payload.get("host"), e.payload.get("failed_at"),
                 e.payload.get("attempt"), e.payload.get("alternates"))
                for e in s.scalars(select(JournalEntry).where(JournalEntry.instance_uuid == uuid)
                                   .order_by(JournalEntry.id))]


def _created_here(env, ctx):
    """The foreground create (kumo server create, waiting)."""
    return servers.create_server(env, ctx, "web", image="linux", flavor="tiny").server


def _created_detached(env, ctx):
    """A --no-wait create: recorded by the command, built by its detached finisher
    (kumo.compute.background), which takes the entry over as another process would."""
    instance, host = servers.new_instance(env, ctx, "web", image="linux", flavor="tiny")
    entry_id = servers.schedule_and_record(env, ctx, instance, host=host)
    assert background.finish(env, entry_id, env.owner) is True
    return servers.show_server(env, ctx, instance.uuid)


@pytest.mark.parametrize("create", [
    pytest.param(_created_here, id="waited"),
    pytest.param(_created_detached, id="no-wait"),
])
@pytest.mark.parametrize("op, fault", [
    pytest.param("define", Fault.REFUSED, id="define-refused"),
    pytest.param("start", Fault.START_ERROR, id="qemu-dies-at-start"),
])
def test_a_host_refusing_the_guest_moves_the_build_to_the_next_alternate(fleet, admin, op,
                                                                         fault, create):
    env, hosts = fleet
    hosts["big"].fail(op, fault)
    server = create(env, admin)
    assert (server["status"], server["host"], server["fault"]) == ("ACTIVE", "mid", None)
    uuid = server["id"]
    # failed_at is the journal step: define covers the start as well (one commit for both)
    assert attempts(env, uuid) == [
        ("rolled-back", "kvm-1", "define", None, ["mid", "small"]),
        ("done", "mid", None, 2, ["small"])]
    with env.db.session_scope(readonly=True) as s:
        first, second = s.scalars(select(JournalEntry).order_by(JournalEntry.id))
        assert first.error.startswith("create failed: ")
        assert fault.message in first.error
        # the reason the first host failed is kept with the attempt that followed
        assert second.payload["previous_failures"] == [
            f"kvm-1: {first.error.removeprefix('create failed: ')}"]
        # one request: the attempt is journaled as the same request of the same user
        assert ((second.request_id, second.user_id, second.project_id)
                == (first.request_id, first.user_id, first.project_id))
    assert counters(env) == {"kvm-1": EMPTY, "mid": HELD, "small": EMPTY}
    assert hosts["big"].domains == {} and instance_volumes(hosts["big"], env.pool_name) == set()
    assert list(hosts["mid"].domains) == [f"kumo-{uuid}"]


def test_every_alternate_failing_ends_error_naming_each_host(fleet, admin):
    env, hosts = fleet
    for h in hosts.values():
        h.fail("start", Fault.START_ERROR)
    with pytest.raises(HostError) as e:
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    [server] = servers.list_servers(env, admin)
    assert (server["status"], server["host"]) == ("ERROR", None)
    message = server["fault"]["message"]
    assert message.startswith("create failed on 3 hosts: kvm-1: ")
    assert [part.split(":")[0] for part in message.split(": ", 1)[1].split("; ")] == [
        "kvm-1", "mid", "small"]
    assert message.count(Fault.START_ERROR.message) == 3
    assert Fault.START_ERROR.message in str(e.value)
    assert [a[:3] for a in attempts(env, server["id"])] == [
        ("rolled-back", "kvm-1", "define"), ("rolled-back", "mid", "define"),
        ("rolled-back", "small", "define")]
    assert counters(env) == {"kvm-1": EMPTY, "mid": EMPTY, "small": EMPTY}
    assert all(h.domains == {} for h in hosts.values())
    servers.delete_server(env, admin, "web")


def test_the_configured_count_limits_the_attempts(fleet, admin, tmp_path, monkeypatch):
    env, hosts = fleet
    config = tmp_path / "scheduler.toml"
    config.write_text("alternates = 1\n")
    monkeypatch.setenv("KUMO_SCHEDULER_CONFIG", str(config))
    for h in hosts.values():
        h.fail("define", Fault.REFUSED)
    with pytest.raises(UnsupportedGuest):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    [server] = servers.list_servers(env, admin)
    assert server["fault"]["message"].startswith("create failed on 2 hosts: kvm-1: ")
    assert [a[1] for a in attempts(env, server["id"])] == ["kvm-1", "mid"]
    assert hosts["small"].ops("define") == []


def test_no_alternates_configured_keeps_the_single_host_behaviour(fleet, admin, tmp_path,
                                                                  monkeypatch):
    env, hosts = fleet
    config = tmp_path / "scheduler.toml"
    config.write_text("alternates = 0\n")
    monkeypatch.setenv("KUMO_SCHEDULER_CONFIG", str(config))
    hosts["big"].fail("define", Fault.REFUSED)
    with pytest.raises(UnsupportedGuest) as e:
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    [server] = servers.list_servers(env, admin)
    assert server["fault"]["message"] == f"create failed: {e.value}"
    assert entries(env) == [("create", "rolled-back", "rollback")]


def test_a_storage_failure_is_not_rescheduled(fleet, admin):
    """Only define/start move the build: a host whose storage fails says nothing about
    whether the guest is buildable, and the alternates are left alone."""
    env, hosts = fleet
    hosts["big"].fail("create_overlay_volume", Fault.STORAGE)
    with pytest.raises(HostError):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    [server] = servers.list_servers(env, admin)
    assert server["fault"]["message"].startswith("create failed: ")
    assert [a[:3] for a in attempts(env, server["id"])] == [
        ("rolled-back", "kvm-1", "volumes")]
    assert hosts["mid"].ops("define") == [] and hosts["small"].ops("define") == []


def test_an_alternate_that_filled_up_meanwhile_is_skipped(fleet, admin):
    env, hosts = fleet
    def fill_mid(call):  # while kvm-1 refuses, mid is disabled by an operator
        with env.db.session_scope() as s:
            s.scalars(select(Host).where(Host.name == "mid")).one().enabled = False
        return True
    hosts["big"].fail("define", Fault.REFUSED, when=fill_mid)
    server = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server
    assert (server["status"], server["host"]) == ("ACTIVE", "small")
    with env.db.session_scope(readonly=True) as s:
        last = s.scalars(select(JournalEntry).order_by(JournalEntry.id.desc())).first()
        assert last.payload["previous_failures"][1] == (
            "mid: not tried (no valid host: 0/1 hosts: 1 host disabled)")


def test_a_delete_between_two_attempts_ends_the_build(fleet, admin, monkeypatch):
    """The first host refused the guest and the build was rolled back (the server idle in
    ERROR for a moment): a delete that comes then is done, and the next attempt does not
    build the deleted server on an alternate (it did: a guest running on mid, holding a
    claim, for a server the database calls deleted)."""
    env, hosts = fleet
    hosts["big"].fail("define", Fault.REFUSED)
    next_attempt = reschedule._next_attempt

    def deleted_first(env_, ctx, uuid, *rest):
        servers.delete_server(env, admin, uuid)
        return next_attempt(env_, ctx, uuid, *rest)
    monkeypatch.setattr(reschedule, "_next_attempt", deleted_first)
    with pytest.raises(journal.Stopped, match="deleted while it was being built"):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Instance.deleted)).one() is True
        assert [(e.operation, e.state) for e in s.scalars(
            select(JournalEntry).order_by(JournalEntry.id))] == [
            ("create", "rolled-back"), ("delete", "done")]
    assert counters(env) == {"kvm-1": EMPTY, "mid": EMPTY, "small": EMPTY}
    assert all(h.domains == {} for h in hosts.values())
