"""Cold migration, resize, confirm and revert (kumo.compute.moves) and host drain
(kumo.compute.drain) against in-memory hosts (kumo.hosts.fake): the guest's disks really move
between the fakes, usage is right on both hosts at every stage, a failure or a crash at each step
leaves the server whole on exactly one host with no guest running twice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from kumo.compute import drain, flavors, journal, moves, naming, servers, usage
from kumo.db.models import Host, Instance, JournalEntry
from kumo.db.models.moves import Move
from kumo.errors import InvalidInput, KumoError, NotFound, StateError
from kumo.hosts.fake import Fault
from tests.compute.crash import Killed, kill_at_failpoint
from tests.compute.fakehost import fake_cloud
from tests.support.hosts import add_host

A, B, C = "kvm-a", "kvm-b", "kvm-c"


def uri(name: str) -> str:
    return f"fake:///{name}"


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    """Hosts kvm-a, kvm-b, kvm-c (the catalog's own kvm-1 disabled); server ``vm`` ACTIVE on
    kvm-a, ``off`` STOPPED on kvm-a."""
    fake_cloud(env, admin, image_file, fake_hosts)
    now = datetime.now(timezone.utc)
    with env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name == "kvm-1").values(enabled=False))
    for name in (A, B, C):
        add_host(env.db, name, uri(name), last_heartbeat=now)
    servers.create_server(env, admin, "vm", image="linux", flavor="tiny", host=A)
    servers.create_server(env, admin, "off", image="linux", flavor="tiny", host=A)
    servers.stop_server(env, admin, "off")
    flavors.create_flavor(env, admin, "small", vcpus=2, ram_mib=512, disk_gib=2,
                          ephemeral_gib=1)
    return env, fake_hosts


def row(env, name: str) -> Instance:
    with env.db.session_scope(readonly=True) as s:
        inst = s.scalars(select(Instance).where(Instance.name == name)).one()
        s.expunge(inst)
        return inst


def used(env) -> dict[str, tuple[int, int, int, int]]:
    with env.db.session_scope(readonly=True) as s:
        return {h.name: (h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count)
                for h in s.scalars(select(Host).where(Host.name.in_((A, B, C))))}


def consistent(env) -> None:
    """Every host's counters equal what is recorded as holding them (instances and moves)."""
    assert [a.describe() for a in usage.audit(env, fix=False) if not a.consistent] == []


def domains(hosts, uuid: str) -> dict[str, str]:
    """host name -> state of the server's domain, on every host that has one."""
    out = {}
    for u, h in hosts.hosts.items():
        name = naming.domain_name(uuid)
        if name in h.domains:
            out[u.removeprefix("fake:///")] = h.domain_state(name)
    return out


def volumes(hosts, name: str, uuid: str) -> set[str]:
    """The server's volumes on host ``name`` (their kinds: disk, eph0, config, console)."""
    host = hosts[uri(name)]
    return {v.removeprefix(f"kumo-{uuid}-") for pool in host.pools for v in host.volumes(pool)
            if uuid in v}


def test_migrate_moves_the_guest_keeps_the_source_until_confirm(cloud, admin):
    env, hosts = cloud
    vm = row(env, "vm")
    root = naming.volume_name(vm.uuid, naming.CONFIG)
    drive = hosts[uri(A)].uploaded[root]
    view = moves.migrate_server(env, admin, "vm", host=B)
    assert (view["status"], view["host"], view["task_state"]) == ("VERIFY_RESIZE", B, None)
    # the guest runs on B only; A keeps its stopped copy and every volume until confirm
    assert domains(hosts, vm.uuid) == {A: "shutoff", B: "running"}
    assert volumes(hosts, A, vm.uuid) >= {"disk", "eph0", "config"}
    assert volumes(hosts, B, vm.uuid) >= {"disk", "eph0", "config"}
    assert hosts[uri(B)].uploaded[root] == drive  # the same config drive, byte for byte
    # both hosts hold the server's claim until it is decided
    assert used(env) == {A: (2, 512, 4, 2), B: (1, 256, 2, 1), C: (0, 0, 0, 0)}
    consistent(env)
    after = moves.confirm_server(env, admin, "vm")
    assert (after["status"], after["host"]) == ("ACTIVE", B)
    assert domains(hosts, vm.uuid) == {B: "running"}
    assert volumes(hosts, A, vm.uuid) == set()
    assert used(env) == {A: (1, 256, 2, 1), B: (1, 256, 2, 1), C: (0, 0, 0, 0)}
    consistent(env)
    # identity kept: uuid, name, frozen properties, pinned machine type
    moved = row(env, "vm")
    assert (moved.uuid, moved.image_properties, moved.machine_type) == \
        (vm.uuid, vm.image_properties, vm.machine_type)
    assert [m["status"] for m in moves.move_views(env, admin, "vm")] == ["confirmed"]


def test_revert_brings_it_back_and_starts_it_only_after_the_target_copy_is_gone(cloud, admin):
    env, hosts = cloud
    vm = row(env, "vm")
    moves.migrate_server(env, admin, "vm")  # the scheduler's choice
    target = row(env, "vm").node
    assert target in (B, C)
    order: list[str] = []
    for name in (A, target):
        hosts[uri(name)].hooks.append(
            lambda call, n=name: order.append(f"{n}:{call.op}")
            if call.op in ("destroy", "undefine", "start") else None)
    view = moves.revert_server(env, admin, "vm")
    assert (view["status"], view["host"]) == ("ACTIVE", A)
    assert order == [f"{target}:destroy", f"{target}:undefine", f"{A}:start"]
    assert domains(hosts, vm.uuid) == {A: "running"}
    assert volumes(hosts, target, vm.uuid) == set()
    assert used(env)[A] == (2, 512, 4, 2) and used(env)[target] == (0, 0, 0, 0)
    consistent(env)


def test_a_stopped_server_moves_stopped_and_confirms_stopped(cloud, admin):
    env, hosts = cloud
    off = row(env, "off")
    view = moves.migrate_server(env, admin, "off", host=C)
    assert (view["status"], view["power_state"]) == ("VERIFY_RESIZE", "shutdown")
    assert domains(hosts, off.uuid) == {A: "shutoff", C: "shutoff"}
    assert moves.confirm_server(env, admin, "off")["status"] == "SHUTOFF"


def test_resize_changes_the_flavor_grows_the_disks_and_reverts(cloud, admin):
    env, hosts = cloud
    vm = row(env, "vm")
    view = moves.resize_server(env, admin, "vm", "small")
    target = view["host"]
    assert (view["status"], view["flavor"], view["vcpus"], view["ram"], view["disk"]) == \
        ("VERIFY_RESIZE", "small", 2, 512, 2)
    assert target != A  # never the same host (allow_resize_to_same_host: False)
    pool = next(iter(hosts[uri(target)].pools))
    root = hosts[uri(target)].volume_info(pool, naming.volume_name(vm.uuid, naming.ROOT))
    assert root.capacity_bytes == 2 * 1024 ** 3
    xml = hosts[uri(target)].domain_xml(naming.domain_name(vm.uuid))
    assert "<vcpu" in xml and ">2</vcpu>" in xml
    # A keeps the old flavor's claim, the target holds the new one
    assert used(env)[A] == (2, 512, 4, 2) and used(env)[target] == (2, 512, 3, 1)
    consistent(env)
    back = moves.revert_server(env, admin, "vm")
    assert (back["host"], back["flavor"], back["vcpus"], back["disk"]) == (A, "tiny", 1, 1)
    assert used(env)[target] == (0, 0, 0, 0)
    consistent(env)


@pytest.mark.parametrize(("call", "match"), [
    (lambda env, ctx: moves.resize_server(env, ctx, "vm", "tiny"),
     "cannot resize server 'vm' to flavor 'tiny': it already has that flavor"),
    (lambda env, ctx: moves.migrate_server(env, ctx, "vm", host=A),
     "cannot migrate server 'vm' to host 'kvm-a': that is the host it is on"),
    (lambda env, ctx: moves.confirm_server(env, ctx, "vm"),
     "cannot confirm the move of server 'vm': it is ACTIVE, not VERIFY_RESIZE"),
    (lambda env, ctx: moves.revert_server(env, ctx, "vm"),
     "cannot revert the move of server 'vm': it is ACTIVE, not VERIFY_RESIZE"),
], ids=["same-flavor", "same-host", "confirm-nothing", "revert-nothing"])
def test_refusals_change_nothing(cloud, admin, call, match):
    env, hosts = cloud
    before = (used(env), row(env, "vm").node)
    with pytest.raises((InvalidInput, StateError), match=match):
        call(env, admin)
    assert (used(env), row(env, "vm").node) == before
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Move)).all() == []


def test_a_smaller_disk_is_refused(cloud, admin):
    env, _ = cloud
    flavors.create_flavor(env, admin, "nodisk-eph", vcpus=1, ram_mib=256, disk_gib=1,
                          ephemeral_gib=0)
    with pytest.raises(InvalidInput, match="its ephemeral disk would shrink from 1 GiB to 0 GiB"):
        moves.resize_server(env, admin, "vm", "nodisk-eph")


def test_a_member_may_resize_but_not_migrate(cloud, admin, alice):
    env, _ = cloud
    servers.create_server(env, alice, "mine", image="linux", flavor="tiny")
    with pytest.raises(KumoError, match="migrating a server"):
        moves.migrate_server(env, alice, "mine")
    assert moves.resize_server(env, alice, "mine", "small")["status"] == "VERIFY_RESIZE"
    assert moves.confirm_server(env, alice, "mine")["status"] == "ACTIVE"


def test_no_other_host_that_fits_is_refused_with_the_schedulers_reason(cloud, admin):
    env, _ = cloud
    with env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name.in_((B, C))).values(enabled=False))
    before = used(env)
    with pytest.raises(StateError, match="cannot migrate server 'vm': no host can take it"):
        moves.migrate_server(env, admin, "vm")
    assert used(env) == before and row(env, "vm").vm_state == "active"


# --- failures at each step: nothing lost, never two running copies ---------------------------

@pytest.mark.parametrize(("op", "where"), [
    ("node_info", B), ("shutdown", A), ("download_volume", A), ("upload_volume", B),
    ("define", B), ("start", B),
], ids=["target-silent", "stop", "download", "upload", "define", "start"])
def test_a_failure_at_each_step_rolls_back_to_the_source(cloud, admin, op, where):
    env, hosts = cloud
    vm = row(env, "vm")
    before = used(env)
    hosts[uri(where)].fail(op, Fault.START_ERROR if op == "start" else Fault.TIMEOUT)
    with pytest.raises(KumoError):
        moves.migrate_server(env, admin, "vm", host=B)
    after = row(env, "vm")
    assert (after.node, after.vm_state, after.task_state) == (A, "active", None)
    assert domains(hosts, vm.uuid) == {A: "running"}  # target's copy removed, source running
    assert volumes(hosts, B, vm.uuid) == set()
    assert used(env) == before
    consistent(env)
    with env.db.session_scope(readonly=True) as s:
        move = s.scalars(select(Move)).one()
        assert (move.status, move.held_host_id) == ("error", None)
        entry = s.get_one(JournalEntry, move.journal_id)
        assert entry.state == "rolled-back" and entry.payload["failed_at"]
    # and it can be moved once the host is healthy again
    hosts[uri(where)].heal()
    assert moves.migrate_server(env, admin, "vm", host=B)["status"] == "VERIFY_RESIZE"


def test_a_target_that_stops_answering_after_define_never_leaves_two_guests(cloud, admin):
    env, hosts = cloud
    vm = row(env, "vm")
    hosts[uri(B)].fail("start", Fault.START_ERROR)
    hosts[uri(B)].hooks.append(
        lambda call: setattr(hosts[uri(B)], "down", True) if call.op == "start" else None)
    with pytest.raises(KumoError):
        moves.migrate_server(env, admin, "vm", host=B)
    after = row(env, "vm")
    assert (after.node, after.vm_state) == (A, "error")
    assert "it was not started again on kvm-a" in after.fault_reason
    assert hosts[uri(A)].domain_state(naming.domain_name(vm.uuid)) == "shutoff"
    consistent(env)  # the target's claim is kept: its copy may be there


def _recover(env, monkeypatch) -> list:
    monkeypatch.setattr(moves, "failpoint", lambda name: None)
    with env.db.session_scope() as s:  # the controller is gone: recovery takes its entries
        s.execute(update(JournalEntry).where(JournalEntry.state == "in-progress")
                  .values(owner=None))
    return journal.recover(env)


@pytest.mark.parametrize(("point", "ends"), [
    ("migrate:after-claim", (A, "ACTIVE")),
    ("migrate:after-shutdown", (A, "ACTIVE")),
    ("migrate:after-volumes", (A, "ACTIVE")),
    ("migrate:after-define", (B, "VERIFY_RESIZE")),
    ("migrate:after-start", (B, "VERIFY_RESIZE")),
])
def test_a_crash_at_each_step_is_recovered_onto_exactly_one_host(cloud, admin, monkeypatch,
                                                                 point, ends):
    env, hosts = cloud
    vm = row(env, "vm")
    kill_at_failpoint(monkeypatch, moves, point)
    with pytest.raises(Killed):
        moves.migrate_server(env, admin, "vm", host=B)
    recovered = _recover(env, monkeypatch)
    assert [r.operation for r in recovered if r.entry_id] == ["migrate"]
    after = servers.show_server(env, admin, "vm")
    assert (after["host"], after["status"]) == ends
    running = {h: st for h, st in domains(hosts, vm.uuid).items() if st == "running"}
    assert running == {ends[0]: "running"}
    consistent(env)
    if ends[0] == B:
        moves.confirm_server(env, admin, "vm")
        assert domains(hosts, vm.uuid) == {B: "running"}
    else:
        assert volumes(hosts, B, vm.uuid) == set()
    consistent(env)


@pytest.mark.parametrize("decision", ["confirm", "revert"])
def test_a_crash_mid_confirm_or_revert_is_finished_by_recovery(cloud, admin, monkeypatch,
                                                               decision):
    env, hosts = cloud
    vm = row(env, "vm")
    moves.migrate_server(env, admin, "vm", host=B)
    kill_at_failpoint(monkeypatch, moves, f"migrate-{decision}:after-cleanup")
    with pytest.raises(Killed):
        getattr(moves, f"{decision}_server")(env, admin, "vm")
    _recover(env, monkeypatch)
    where = B if decision == "confirm" else A
    assert domains(hosts, vm.uuid) == {where: "running"}
    after = servers.show_server(env, admin, "vm")
    assert (after["host"], after["status"]) == (where, "ACTIVE")
    consistent(env)


def test_a_failed_confirm_leaves_it_verify_resize_to_retry(cloud, admin):
    env, hosts = cloud
    moves.migrate_server(env, admin, "vm", host=B)
    hosts[uri(A)].down = True
    with pytest.raises(KumoError):
        moves.confirm_server(env, admin, "vm")
    assert servers.show_server(env, admin, "vm")["status"] == "VERIFY_RESIZE"
    hosts[uri(A)].heal()
    assert moves.confirm_server(env, admin, "vm")["status"] == "ACTIVE"
    consistent(env)


def test_a_host_with_an_undecided_move_cannot_be_deleted(cloud, admin):
    from kumo.compute import host_admin

    env, _ = cloud
    servers.delete_server(env, admin, "off")
    moves.migrate_server(env, admin, "vm", host=B)
    with pytest.raises(StateError, match="cannot delete host 'kvm-a': server .* is being moved "
                                         "from it"):
        host_admin.delete_host(env, admin, A)
    moves.confirm_server(env, admin, "vm")
    assert host_admin.delete_host(env, admin, A) == A


# --- drain ------------------------------------------------------------------------------------

def test_drain_disables_the_host_and_moves_everything_off_it(cloud, admin):
    env, hosts = cloud
    servers.create_server(env, admin, "other", image="linux", flavor="tiny", host=B)
    lines: list[str] = []
    summary = drain.drain(env, admin, A, progress=lines.append)
    assert sorted(n for n, _ in summary.moved) == ["off", "vm"]
    assert (summary.skipped, summary.failed) == ([], [])
    assert sorted(ln.split(": ")[0][:5] for ln in lines) == ["[1/2]", "[2/2]"]
    assert summary.line().startswith("drain of kvm-a: 2 moved, 0 skipped, 0 failed")
    with env.db.session_scope(readonly=True) as s:
        host = s.scalars(select(Host).where(Host.name == A)).one()
        assert (host.enabled, host.instance_count, host.used_vcpus) == (False, 0, 0)
        assert host.disabled_reason == "draining (kumo host drain by admin)"
    assert hosts[uri(A)].domains == {} or all(
        row(env, n).uuid not in d for n in ("vm", "off") for d in hosts[uri(A)].domains)
    assert row(env, "vm").vm_state == "active" and row(env, "off").vm_state == "stopped"
    assert row(env, "other").node == B  # untouched
    consistent(env)


def test_drain_names_hosts_exactly_and_refuses_a_down_host(cloud, admin):
    env, _ = cloud
    with pytest.raises(NotFound, match="host 'kvm' not found"):
        drain.drain(env, admin, "kvm")
    with env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name == A).values(liveness="down"))
    with pytest.raises(StateError, match="cannot drain host 'kvm-a': it is down"):
        drain.drain(env, admin, A)


def test_a_drain_killed_midway_and_rerun_moves_each_server_once(cloud, admin, monkeypatch):
    env, hosts = cloud
    kill_at_failpoint(monkeypatch, moves, "migrate-confirm:after-cleanup")
    with pytest.raises(Killed):
        drain.drain(env, admin, A, parallel=1)
    _recover(env, monkeypatch)  # the interrupted confirm is finished by recovery
    summary = drain.drain(env, admin, A)  # "off" was moved first (by name): "vm" is left
    assert sorted(n for n, _ in summary.moved) == ["vm"], summary.line()
    for name in ("vm", "off"):
        uuid = row(env, name).uuid
        assert len(domains(hosts, uuid)) == 1 and A not in domains(hosts, uuid)
    consistent(env)


def test_drain_without_confirm_leaves_verify_resize_and_a_rerun_confirms(cloud, admin):
    env, _ = cloud
    summary = drain.drain(env, admin, A, confirm=False)
    assert all(t.endswith("(VERIFY_RESIZE)") for _, t in summary.moved)
    assert used(env)[A] != (0, 0, 0, 0)  # the source copies still hold their claims
    again = drain.drain(env, admin, A)
    assert all(t.endswith("(confirmed)") for _, t in again.moved), again.line()
    assert used(env)[A] == (0, 0, 0, 0)
    consistent(env)


def test_deleting_a_verify_resize_server_removes_both_copies_and_both_claims(cloud, admin):
    """As Nova deletes a VERIFY_RESIZE server: the move is confirmed, then the server deleted."""
    env, hosts = cloud
    vm = row(env, "vm")
    moves.migrate_server(env, admin, "vm", host=B)
    servers.delete_server(env, admin, "vm")
    assert domains(hosts, vm.uuid) == {}
    assert volumes(hosts, A, vm.uuid) == volumes(hosts, B, vm.uuid) == set()
    assert used(env)[A] == (1, 256, 2, 1) and used(env)[B] == (0, 0, 0, 0)  # "off" stays
    consistent(env)
