"""Fencing and evacuation of exactly one failed host (kumo.compute.evacuate), against in-memory
hosts (kumo.hosts.fake): seed 002's fleet, XXXX-HOST-YYYY34 and XXXX-HOST-YYYY340..349, with
servers on every host. Only 34's servers move; 340-349 are untouched; a prefix is an error naming
the nearest hosts; an unfenced or up host is refused with the reason; a crash mid-evacuation and
a re-run leave every server on exactly one host."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from kumo.compute import evacuate, journal, servers
from kumo.compute.lookup import prefix_clashes
from kumo.db.models import Host, Instance, JournalEntry
from kumo.errors import InvalidInput, NotFound, StateError
from tests.compute.crash import Killed, kill_at_failpoint
from tests.compute.fleet import FAILED, NEIGHBOURS, fail_host, make_fleet, placement, uri
from tests.support.hosts import add_host


@pytest.fixture
def fleet(env, admin, image_file, fake_hosts):
    """11 hosts; two servers on 34, one on each of 340-349 (named s-<host suffix>-<n>)."""
    make_fleet(env, admin, image_file, fake_hosts)
    return env, fake_hosts


def domains_by_host(hosts) -> dict[str, set[str]]:
    return {u: set(h.domains) for u, h in hosts.hosts.items()}


def test_evacuate_moves_exactly_the_failed_hosts_servers(fleet, admin):
    env, hosts = fleet
    before = placement(env)
    neighbour_domains = {n: set(hosts[uri(n)].domains) for n in NEIGHBOURS}
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True, "IPMI power off confirmed")
    calls_on_failed = len(hosts[uri(FAILED)].calls)
    lines: list[str] = []
    summary = evacuate.evacuate(env, admin, FAILED, accept_rebuild=True, progress=lines.append)
    after = placement(env)
    moved = {n for n in before if before[n] != after[n]}
    assert moved == {"s-Y34-0", "s-Y34-1"}
    assert all(after[n] in NEIGHBOURS for n in moved)
    assert {n: after[n] for n in before if n not in moved} == \
        {n: before[n] for n in before if n not in moved}
    # the failed host is never asked anything: it is off
    assert len(hosts[uri(FAILED)].calls) == calls_on_failed
    for n in NEIGHBOURS:  # the neighbours keep their own guests, plus any evacuee placed there
        assert neighbour_domains[n] <= set(hosts[uri(n)].domains)
    assert (len(summary.moved), summary.skipped, summary.failed) == (2, [], [])
    # one line per server as it finishes (in parallel: in any order), counted
    assert sorted(ln.split(": ")[0][:5] for ln in lines) == ["[1/2]", "[2/2]"]
    assert sorted(ln.split(" ")[1].rstrip(":") for ln in lines) == ["s-Y34-0", "s-Y34-1"]
    assert all("moved to XXXX-HOST-YYYY34" in ln for ln in lines)
    with env.db.session_scope(readonly=True) as s:
        for i in s.scalars(select(Instance).where(Instance.name.in_(moved))):
            assert (i.vm_state, i.task_state) == ("active", None)
        failed = s.scalars(select(Host).where(Host.name == FAILED)).one()
        assert (failed.used_vcpus, failed.instance_count) == (0, 0)
        ops = [e.operation for e in s.scalars(select(JournalEntry).where(
            JournalEntry.instance_uuid.is_(None)).order_by(JournalEntry.id))]
        assert ops == ["host-fence", "evacuate"]


def test_a_prefix_is_an_error_naming_the_nearest_hosts(fleet, admin):
    env, _ = fleet
    before = placement(env)
    with pytest.raises(NotFound) as e:
        evacuate.evacuate(env, admin, "XXXX-HOST-YYYY3", accept_rebuild=True)
    msg = str(e.value)
    assert msg == ("host 'XXXX-HOST-YYYY3' not found (hosts are named exactly); nearest: "
                   "XXXX-HOST-YYYY34, XXXX-HOST-YYYY340, XXXX-HOST-YYYY341, XXXX-HOST-YYYY342, "
                   "XXXX-HOST-YYYY343 and 6 more")
    assert placement(env) == before


def test_list_warns_of_a_name_that_is_a_prefix_of_others():
    assert prefix_clashes([FAILED, *NEIGHBOURS, "kvm-1"]) == [
        "warning: host name 'XXXX-HOST-YYYY34' is a prefix of 10 other host name(s) "
        "(XXXX-HOST-YYYY340, XXXX-HOST-YYYY341, XXXX-HOST-YYYY342 and 7 more); refer to hosts "
        "by exact name (zero-padded numbers avoid this)"]
    assert prefix_clashes(["kvm-01", "kvm-02"]) == []


@pytest.mark.parametrize("liveness, fenced, forced, why", [
    pytest.param("down", False, None, "is down but not confirmed fenced", id="down-unfenced"),
    pytest.param(None, False, None, "is unknown but not confirmed fenced", id="unknown"),
    pytest.param("up", True, None, "is up (it answered at", id="up-even-if-fenced"),
    pytest.param("up", False, "trust me", "is up (it answered at", id="up-even-if-forced"),
])
def test_a_host_not_confirmed_off_is_refused_with_the_reason(fleet, admin, liveness, fenced,
                                                             forced, why):
    env, _ = fleet
    with env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name == FAILED).values(
            liveness=liveness, forced_down=fenced,
            liveness_checked_at=datetime.now(timezone.utc)))
    before = placement(env)
    with pytest.raises(StateError) as e:
        evacuate.evacuate(env, admin, FAILED, accept_rebuild=True, force_unfenced_reason=forced)
    assert str(e.value).startswith(f"cannot evacuate: host '{FAILED}' {why}")
    assert placement(env) == before


def test_after_down_it_evacuates_and_an_override_is_journaled(fleet, admin):
    env, _ = fleet
    fail_host(env, FAILED)
    with pytest.raises(StateError, match="not confirmed fenced"):
        evacuate.evacuate(env, admin, FAILED, accept_rebuild=True)
    summary = evacuate.evacuate(env, admin, FAILED, accept_rebuild=True,
                                force_unfenced_reason="rack PDU off, seen on site")
    assert len(summary.moved) == 2
    with env.db.session_scope(readonly=True) as s:
        entry = s.scalars(select(JournalEntry).where(JournalEntry.operation == "evacuate")).one()
        assert (entry.payload["forced_unfenced"], entry.payload["by"]) == (
            "rack PDU off, seen on site", admin.user_id)


def test_rebuild_must_be_accepted_and_dry_run_changes_nothing(fleet, admin):
    env, _ = fleet
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True)
    before = placement(env)
    with pytest.raises(InvalidInput, match="rebuilds the root disk of 2 server"):
        evacuate.evacuate(env, admin, FAILED)
    name, items = evacuate.plan(env, admin, FAILED)
    assert name == FAILED
    assert [(i.name, i.target in NEIGHBOURS, i.disk, i.skip) for i in items] == [
        (n, True, "root disk rebuilt from image 'linux' (data on it lost: no shared storage)",
         None) for n in ("s-Y34-0", "s-Y34-1")]
    assert placement(env) == before


@pytest.mark.parametrize("parallel", [1, 3], ids=["serial", "parallel"])
@pytest.mark.parametrize("point", ["evacuate:after-move", "evacuate:after-instance"])
def test_a_crash_mid_evacuation_and_a_rerun_leave_every_server_on_one_host(
        fleet, admin, monkeypatch, point, parallel):
    env, hosts = fleet
    servers.stop_server(env, admin, "s-Y34-0")  # the first moved: rolled back after-move
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True)
    before = placement(env)

    kill_at_failpoint(monkeypatch, evacuate, point)
    with pytest.raises(Killed):
        evacuate.evacuate(env, admin, FAILED, accept_rebuild=True, parallel=parallel)
    monkeypatch.setattr(evacuate, "failpoint", lambda name: None)
    # the controller is gone: its unfinished entries have no live owner, recovery takes them
    with env.db.session_scope() as s:
        s.execute(update(JournalEntry).where(JournalEntry.state == "in-progress")
                  .values(owner=None))
    recovered = journal.recover(env)
    assert "evacuate" in [r.operation for r in recovered]
    # left: still on 34, or moved and rolled back by recovery (ERROR on no host)
    left = sorted(n for n, h in placement(env).items() if n.startswith("s-Y34")
                  and h in (FAILED, None))
    summary = evacuate.evacuate(env, admin, FAILED, accept_rebuild=True, parallel=parallel)
    after = placement(env)
    assert all(after[n] in NEIGHBOURS for n in ("s-Y34-0", "s-Y34-1"))
    assert {n: h for n, h in after.items() if not n.startswith("s-Y34")} == \
        {n: h for n, h in before.items() if not n.startswith("s-Y34")}
    # every server's domain is on exactly one live host, the one its record names
    where: dict[str, list[str]] = {}
    for u, h in hosts.hosts.items():
        if u != uri(FAILED):
            for d in h.domains:
                where.setdefault(d, []).append(u.removeprefix("fake:///"))
    with env.db.session_scope(readonly=True) as s:
        for i in s.scalars(select(Instance)):
            assert where.get(f"kumo-{i.uuid}") == [i.node], i.name
            assert i.vm_state == ("stopped" if i.name == "s-Y34-0" else "active"), i.name
    # the re-run moves what the first run had not finished, nothing twice: after-move, the
    # first server's unbuilt create was rolled back (ERROR on no host) and is moved again;
    # after-instance, the first was done (serial: only the second remains; in parallel the
    # second may have been moved meanwhile too)
    assert sorted(n for n, _t in summary.moved) == left, summary.line()
    if parallel == 1:
        assert len(left) == {"evacuate:after-move": 2, "evacuate:after-instance": 1}[point]


def test_a_stopped_server_stays_stopped_and_an_active_one_runs(fleet, admin):
    """Nova keeps vm_state across an evacuation (compute manager rebuild_instance: a STOPPED
    instance is rebuilt without being powered on): a server stopped before its host failed is
    defined on the target but not started."""
    env, hosts = fleet
    servers.stop_server(env, admin, "s-Y34-0")
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True)
    evacuate.evacuate(env, admin, FAILED, accept_rebuild=True)
    with env.db.session_scope(readonly=True) as s:
        rows = {i.name: i for i in s.scalars(select(Instance).where(
            Instance.name.in_(["s-Y34-0", "s-Y34-1"])))}
        got = {n: (i.vm_state, i.task_state, i.power_state, i.node in NEIGHBOURS)
               for n, i in rows.items()}
        domains = {n: hosts[uri(i.node)].domains[f"kumo-{i.uuid}"].state.name
                   for n, i in rows.items()}
    assert got == {"s-Y34-0": ("stopped", None, 4, True), "s-Y34-1": ("active", None, 1, True)}
    assert domains == {"s-Y34-0": "SHUTOFF", "s-Y34-1": "RUNNING"}


def test_a_failed_host_back_loses_its_stale_domains_never_starting_them(fleet, admin):
    """Nova's evacuated-instances cleanup: when 34 answers again, the domains (and volumes) of
    its evacuated servers are destroyed and undefined, never started; a domain under kumo's
    naming that another installation marked, and one without a mark, stay."""
    from kumo.compute.installation import installation_id
    from kumo.hosts.fake import FakeDomain
    from kumo.hosts.protocol import DomainState
    from kumo.periodic import host_liveness

    env, hosts = fleet
    servers.stop_server(env, admin, "s-Y34-1")
    failed = hosts[uri(FAILED)]
    with env.db.session_scope(readonly=True) as s:
        uuids = {i.name: i.uuid for i in s.scalars(select(Instance))}
    ours = installation_id(env.db)
    stale = {f"kumo-{uuids['s-Y34-0']}", f"kumo-{uuids['s-Y34-1']}"}
    assert stale <= set(failed.domains)
    # one of them kept running on the "dead" host (partitioned, not powered off)
    assert [failed.domains[f"kumo-{uuids[n]}"].state for n in ("s-Y34-0", "s-Y34-1")] == [
        DomainState.RUNNING, DomainState.SHUTOFF]
    other = "kumo-00000000-0000-4000-8000-000000000001"
    xml = failed.domains[f"kumo-{uuids['s-Y34-1']}"].xml
    failed.domains[other] = FakeDomain(other, xml.replace(ours, "another-installation")
                                       .replace(uuids["s-Y34-1"], other[5:]))
    unmarked = "kumo-00000000-0000-4000-8000-000000000002"
    failed.domains[unmarked] = FakeDomain(unmarked, f"<domain><name>{unmarked}</name></domain>")
    failed.down = True
    host_liveness.run(env)
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True)
    evacuate.evacuate(env, admin, FAILED, accept_rebuild=True)
    with pytest.raises(StateError, match="does not answer"):
        evacuate.set_fenced(env, admin, FAILED, False)  # not cleared while it cannot be cleaned
    failed.down = False
    failed.calls.clear()
    out = host_liveness.run(env)
    assert out.corrections.get("evacuated-domain-destroyed") == 2
    assert stale.isdisjoint(failed.domains)
    assert {other, unmarked} <= set(failed.domains)
    assert not [c for c in failed.calls if c.op == "start"]
    assert [c.args["name"] for c in failed.calls if c.op == "destroy"] == [
        f"kumo-{uuids['s-Y34-0']}"]
    failed.ensure_pool(env.pool_name, env.pool_path)
    left = [v for v in failed.list_volumes(env.pool_name)
            if any(u in v for u in (uuids["s-Y34-0"], uuids["s-Y34-1"]))]
    assert left == []
    # the evacuated servers run on their new hosts, untouched
    after = placement(env)
    assert after["s-Y34-0"] in NEIGHBOURS and after["s-Y34-1"] in NEIGHBOURS
    evacuate.set_fenced(env, admin, FAILED, False)
    with env.db.session_scope(readonly=True) as s:
        assert [e.state for e in s.scalars(select(JournalEntry).where(
            JournalEntry.operation == "evacuated-cleanup"))] == ["done"]


def test_reserved_hosts_are_chosen_first_and_activated_one_at_a_time(env, admin, image_file,
                                                                       fake_hosts):
    """Masakari's reserved_host / rh_priority: spares of the failed host's zone take its
    servers first, each enabled (and no longer reserved) when first needed; an ordinary host
    takes what no spare can."""
    from kumo.compute import spares

    make_fleet(env, admin, image_file, fake_hosts, neighbours=["XXXX-HOST-YYYY340"],
               on_failed=3)
    now = datetime.now(timezone.utc)
    # two small spares: one tiny server (1 vCPU, 256 MiB, 2 GiB disk) fills each
    for name in ("spare-b", "spare-a"):
        add_host(env.db, name, uri(name), vcpus=1, ram_mib=300, disk_gib=2, last_heartbeat=now,
                 cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0)
        spares.set_reserved(env, admin, name, True)
    with pytest.raises(StateError, match="cannot reserve host 'XXXX-HOST-YYYY340': 1 server"):
        spares.set_reserved(env, admin, "XXXX-HOST-YYYY340", True)
    # a spare takes no ordinary server
    servers.create_server(env, admin, "ordinary", image="linux", flavor="tiny")
    assert placement(env)["ordinary"] == "XXXX-HOST-YYYY340"
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True)
    assert evacuate.reserved_hosts(env, FAILED) == ["spare-a", "spare-b"]
    summary = evacuate.evacuate(env, admin, FAILED, accept_rebuild=True, parallel=1)
    after = placement(env)
    assert sorted(after[n] for n in ("s-Y34-0", "s-Y34-1", "s-Y34-2")) == [
        "XXXX-HOST-YYYY340", "spare-a", "spare-b"]
    assert (after["s-Y34-0"], after["s-Y34-1"]) == ("spare-a", "spare-b")  # in name order
    assert len(summary.moved) == 3
    with env.db.session_scope(readonly=True) as s:
        got = {h.name: (h.reserved, h.enabled, h.disabled_reason) for h in s.scalars(
            select(Host).where(Host.name.like("spare-%")))}
        activated = [e.payload["host"] for e in s.scalars(select(JournalEntry).where(
            JournalEntry.operation == "host-spare").order_by(JournalEntry.id))]
    assert got == {"spare-a": (False, True, None), "spare-b": (False, True, None)}
    assert activated == ["spare-a", "spare-b"]


def test_a_vtpm_server_is_refused_with_the_reason_unless_a_new_tpm_is_accepted(fleet, admin,
                                                                               image_file):
    from kumo.compute import images

    env, _ = fleet
    images.create_image(env, admin, "win11", file=image_file, disk_format="qcow2",
                        properties={"os_type": "windows", "hw_tpm_version": "2.0",
                                    "hw_machine_type": "q35", "hw_firmware_type": "uefi"},
                        visibility="public")
    servers.create_server(env, admin, "tpm", image="win11", flavor="tiny", host=FAILED)
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True)
    summary = evacuate.evacuate(env, admin, FAILED, accept_rebuild=True)
    assert len(summary.moved) == 2
    assert summary.skipped == [("tpm", "has a vTPM (TPM 2.0) whose state is on the failed "
                                "host's disk: moved, it boots with a new, empty TPM (BitLocker "
                                "keys and other secrets sealed to the old one are lost); pass "
                                "--accept-new-tpm to move it anyway")]
    assert placement(env)["tpm"] == FAILED
    summary = evacuate.evacuate(env, admin, FAILED, accept_rebuild=True, accept_new_tpm=True)
    assert [n for n, _t in summary.moved] == ["tpm"]
    assert placement(env)["tpm"] in NEIGHBOURS


def test_evacuate_one_server_as_the_compute_api_does(fleet, admin):
    """evacuate_server (the API's evacuate action): the same fencing rule, Nova's state and
    target checks, then the claim; the build is the caller's."""
    from kumo.compute import reschedule

    env, _ = fleet
    with pytest.raises(StateError, match=f"host '{FAILED}' is unknown but not confirmed fenced"):
        evacuate.evacuate_server(env, admin, "s-Y34-0")
    fail_host(env, FAILED)
    evacuate.set_fenced(env, admin, FAILED, True)
    with pytest.raises(InvalidInput, match="that is the host it is on"):
        evacuate.evacuate_server(env, admin, "s-Y34-0", host=FAILED)
    with env.db.session_scope() as s:
        s.execute(update(Instance).where(Instance.name == "s-Y34-1").values(
            task_state="rebooting"))
    with pytest.raises(StateError, match="while it is active \\(task rebooting\\): allowed "
                                         "active, stopped or error with no task in progress"):
        evacuate.evacuate_server(env, admin, "s-Y34-1")
    uuid, entry_id = evacuate.evacuate_server(env, admin, "s-Y34-0", host=NEIGHBOURS[3])
    assert placement(env)["s-Y34-0"] == NEIGHBOURS[3]  # claimed and recorded there
    reschedule.build(env, admin, entry_id, uuid)
    with env.db.session_scope(readonly=True) as s:
        row = s.scalars(select(Instance).where(Instance.uuid == uuid)).one()
        assert (row.vm_state, row.task_state, row.node) == ("active", None, NEIGHBOURS[3])
    with pytest.raises(StateError, match=f"host '{NEIGHBOURS[3]}' is unknown but not confirmed"):
        evacuate.evacuate_server(env, admin, "s-Y34-0")  # its host now is not a failed one
