"""kumo reconcile on in-memory hosts (kumo.hosts.fake): the plan (property changes and the exact
diff of the domain XML, nothing changed), --apply (stopped guests redefined only, running ones
restarted only when asked: --reboot now hard-reboots, --reboot on-next-stop marks them for the
next stop/reboot/hard reboot), the audit record in the journal, idempotent re-runs, revert to the
exact prior records, a run resumed after its controller died, and the per-instance busy check
shared with every lifecycle operation. Every host call happens under the journal step that
covers it (JournalWatch)."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from sqlalchemy import select

from kumo.compute import images, journal, naming, reconcile, reconcile_run, servers
from kumo.compute.reconcile import Request
from kumo.compute.selection import Selection
from kumo.db.models import Instance, JournalEntry, ReconcileItem, ReconcileRun
from kumo.errors import Forbidden, InvalidInput, NotFound, StateError
from kumo.hosts.fake import Fault
from kumo.hosts.protocol import DomainState
from tests.compute.crash import Killed, kill_at_failpoint
from tests.compute.fakehost import fake_cloud

#: what seed 001's fix does to a guest booted from an image without os_type: the Hyper-V
#: enlightenments and the local-time RTC a Windows guest needs
SEED_001_DIFF = """\
@@ -18,14 +18,28 @@
   <features>
     <acpi/>
     <apic/>
+    <hyperv mode="custom">
+      <relaxed state="on"/>
+      <vapic state="on"/>
+      <spinlocks state="on" retries="8191"/>
+      <vpindex state="on"/>
+      <runtime state="on"/>
+      <synic state="on"/>
+      <stimer state="on"/>
+      <reset state="on"/>
+      <frequencies state="on"/>
+      <tlbflush state="on"/>
+      <ipi state="on"/>
+    </hyperv>
   </features>
   <cpu mode="host-model">
     <topology sockets="1" cores="1" threads="1"/>
   </cpu>
-  <clock offset="utc">
+  <clock offset="localtime">
     <timer name="rtc" tickpolicy="catchup"/>
     <timer name="pit" tickpolicy="delay"/>
     <timer name="hpet" present="no"/>
+    <timer name="hypervclock" present="yes"/>
   </clock>
   <pm>
     <suspend-to-mem enabled="no"/>
"""


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    """Seed 001: image ``win`` without os_type (nor os_distro), servers booted from it, then
    the image gains os_type=windows. (env, host); servers made with ``boot``."""
    host = fake_cloud(env, admin, image_file, fake_hosts)
    images.create_image(env, admin, "win", file=image_file, disk_format="qcow2",
                        properties={"hw_disk_bus": "virtio"}, visibility="public")
    yield env, host
    assert host.watch.violations == []


def boot(env, admin, *names: str, stopped: tuple[str, ...] = ()) -> dict[str, str]:
    """Servers of image ``win`` (name -> uuid); those in ``stopped`` stopped. Afterwards the
    image gains os_type=windows."""
    uuids = {n: servers.create_server(env, admin, n, image="win", flavor="tiny").server["id"]
             for n in names}
    for name in stopped:
        servers.stop_server(env, admin, name)
    images.update_image(env, admin, "win", set_properties={"os_type": "windows"})
    return uuids


def clock(host, uuid: str, *, inactive: bool = False) -> str:
    xml = host.domain_xml(naming.domain_name(uuid), inactive=inactive)
    return next(line.strip() for line in xml.splitlines() if "<clock" in line)


def record(env, uuid: str) -> tuple[dict, str | None, str | None]:
    with env.db.session_scope(readonly=True) as s:
        i = s.query(Instance).filter_by(uuid=uuid).one()
        return dict(i.image_properties), i.machine_type, i.pending_restart


def reconcile_entries(env, uuid: str | None = None) -> list[JournalEntry]:
    with env.db.session_scope(readonly=True) as s:
        rows = list(s.scalars(select(JournalEntry).where(
            JournalEntry.operation == "reconcile", JournalEntry.instance_uuid.is_not(None),
            *([JournalEntry.instance_uuid == uuid] if uuid else []))
            .order_by(JournalEntry.id)))
        s.expunge_all()
        return rows


def host_changes(host) -> list[tuple[str, str]]:
    return [(c.op, c.args.get("name", "")) for c in host.calls
            if c.op in ("define", "start", "destroy", "shutdown", "undefine")]


FROM_IMAGE = Request(from_image=True)


# --- plan ----------------------------------------------------------------------------------------

def test_plan_shows_change_and_exact_diff_and_changes_nothing(cloud, admin):
    env, host = cloud
    uuid = boot(env, admin, "w1")["w1"]
    before = record(env, uuid)
    host.calls.clear()
    [p] = reconcile.plan(env, admin, FROM_IMAGE)
    name = naming.domain_name(uuid)
    assert (p.name, p.host, p.action, p.error) == ("w1", "kvm-1", reconcile.SKIP,
                                                   reconcile.SKIP_REASON)
    assert p.property_lines() == ["os_type: (unset) -> windows"]
    assert p.diff == f"--- {name} (live)\n+++ {name} (planned)\n" + SEED_001_DIFF
    assert reconcile.plan_text([p]) == (
        f"server w1 ({uuid}) on kvm-1: skip ({reconcile.SKIP_REASON})\n"
        f"  os_type: (unset) -> windows\n--- {name} (live)\n+++ {name} (planned)\n"
        + SEED_001_DIFF)
    assert record(env, uuid) == before
    assert host_changes(host) == [] and reconcile_entries(env) == []
    assert clock(host, uuid) == '<clock offset="utc">'


def test_plan_diff_never_shows_the_display_password(cloud, admin):
    """libvirt's live XML has no passwd (only VIR_DOMAIN_XML_SECURE shows it); the rendered
    side has it: the printed diff shows it hidden."""
    env, host = cloud
    uuid = boot(env, admin, "w1")["w1"]
    dom = host.domains[naming.domain_name(uuid)]
    with env.db.session_scope(readonly=True) as s:
        password = s.query(Instance).filter_by(uuid=uuid).one().display_password
    assert f'passwd="{password}"' in dom.xml
    dom.xml = dom.xml.replace(f' passwd="{password}"', "")
    [p] = reconcile.plan(env, admin, FROM_IMAGE)
    assert password not in p.diff and password not in reconcile.plan_text([p])
    assert '+    <graphics type="vnc" port="-1" autoport="yes" passwd="(hidden)">' in p.diff


def test_plan_of_a_stopped_guest_diffs_its_definition(cloud, admin):
    env, host = cloud
    uuid = boot(env, admin, "w1", stopped=("w1",))["w1"]
    [p] = reconcile.plan(env, admin, dataclasses.replace(FROM_IMAGE, reboot="now"))
    name = naming.domain_name(uuid)
    assert (p.action, p.error) == (reconcile.REDEFINE, None)
    assert p.diff == f"--- {name} (defined)\n+++ {name} (planned)\n" + SEED_001_DIFF


def test_plan_without_xml_change_and_unchanged(cloud, admin):
    env, _host = cloud
    uuid = boot(env, admin, "w1", stopped=("w1",))["w1"]
    plans = reconcile.plan(env, admin, Request(set={"os_shutdown_timeout": "120"}))
    assert reconcile.plan_text(plans) == (
        f"server w1 ({uuid}) on kvm-1: redefine\n  os_shutdown_timeout: (unset) -> 120\n"
        "  (the domain configuration does not change)\n")
    [p] = reconcile.plan(env, admin, Request(unset=("no_such_key",)))
    assert (p.action, p.diff, p.property_lines()) == (reconcile.UNCHANGED, "", [])


@pytest.mark.parametrize("request_, message", [
    (Request(), "nothing to reconcile: give --from-image, --set-property KEY=VALUE, "
                "--unset-property KEY or --sync-time"),
    (Request(set={"os_type": "windows"}, unset=("os_type",)),
     "property os_type is both set and unset: give each key once"),
    (Request(from_image=True, reboot="later"),
     "--reboot 'later' is invalid: allowed now, on-next-stop"),
    (Request(set={" os_type": "x"}), "property name ' os_type' is invalid (surrounding spaces): "
                                     "allowed 1 to 255 characters, no surrounding spaces, no "
                                     "control characters"),
], ids=["nothing", "set-and-unset", "bad-reboot", "bad-key"])
def test_bad_requests_are_refused(cloud, admin, request_, message):
    env, _host = cloud
    with pytest.raises(InvalidInput) as e:
        reconcile.plan(env, admin, request_)
    assert str(e.value) == message


def test_an_invalid_value_is_a_per_server_error(cloud, admin):
    env, _host = cloud
    uuid = boot(env, admin, "w1", stopped=("w1",))["w1"]
    [p] = reconcile.plan(env, admin, Request(set={"os_type": "dos"}))
    assert (p.action, p.error) == (reconcile.SKIP,
                                   "os_type='dos' is invalid: allowed one of linux, windows")
    report = reconcile_run.apply(env, admin, Request(set={"os_type": "dos"}))
    assert [(i.state, i.detail) for i in report.items] == [
        ("failed", "os_type='dos' is invalid: allowed one of linux, windows")]
    assert record(env, uuid)[0] == {"disk_format": "qcow2", "container_format": "bare",
                                    "hw_disk_bus": "virtio"}


def test_members_may_not_reconcile(cloud, admin, alice):
    env, _host = cloud
    with pytest.raises(Forbidden, match="^reconciling servers' image properties needs the "):
        reconcile.plan(env, alice, FROM_IMAGE)
    with pytest.raises(Forbidden):
        reconcile_run.apply(env, alice, FROM_IMAGE)


def test_selection_by_host_and_instance(cloud, admin):
    env, _host = cloud
    uuids = boot(env, admin, "a", "b", stopped=("a", "b"))
    picked = reconcile.plan(env, admin, Request(set={"os_type": "windows"},
                                                selection=Selection.of(instances=["b"])))
    assert [p.uuid for p in picked] == [uuids["b"]]
    assert [p.name for p in reconcile.plan(env, admin, dataclasses.replace(
        FROM_IMAGE, selection=Selection.of(hosts=["kvm-1"])))] == ["a", "b"]
    with pytest.raises(NotFound, match="^host 'kvm' not found"):
        reconcile.plan(env, admin, dataclasses.replace(FROM_IMAGE,
                                                       selection=Selection.of(hosts=["kvm"])))


# --- apply ---------------------------------------------------------------------------------------

def test_apply_redefines_a_stopped_guest_only_with_an_audit_record(cloud, admin):
    env, host = cloud
    uuid = boot(env, admin, "w1", stopped=("w1",))["w1"]
    host.calls.clear()
    report = reconcile_run.apply(env, admin, FROM_IMAGE)
    assert [(i.name, i.state, i.detail, i.journal_state) for i in report.items] == [
        ("w1", "changed", "redefine", "done")]
    assert report.state == "done"
    assert host_changes(host) == [("define", "")]
    assert host.domain_state(naming.domain_name(uuid)) == DomainState.SHUTOFF
    assert clock(host, uuid, inactive=True) == '<clock offset="localtime">'
    props, _machine, pending = record(env, uuid)
    assert props["os_type"] == "windows" and pending is None
    [entry] = reconcile_entries(env, uuid)
    assert (entry.state, entry.step, entry.request_id) == ("done", "define", admin.request_id)
    assert entry.payload == {"run_id": report.run_id, "action": "redefine",
                             "user_id": "admin", "set": {"os_type": "windows"}, "unset": [],
                             "before": {"os_type": None}, "digest": entry.payload["digest"]}
    with env.db.session_scope(readonly=True) as s:
        assert s.scalars(select(Instance.config_digest).where(
            Instance.uuid == uuid)).one() == entry.payload["digest"]


def test_a_running_guest_is_not_restarted_unless_asked(cloud, admin):
    env, host = cloud
    uuid = boot(env, admin, "w1")["w1"]
    before = record(env, uuid)
    host.calls.clear()
    report = reconcile_run.apply(env, admin, FROM_IMAGE)
    assert [(i.state, i.detail) for i in report.items] == [("skipped", reconcile.SKIP_REASON)]
    assert record(env, uuid) == before and host_changes(host) == []


def test_reboot_now_hard_reboots(cloud, admin):
    env, host = cloud
    uuid = boot(env, admin, "w1")["w1"]
    host.calls.clear()
    report = reconcile_run.apply(env, admin, dataclasses.replace(FROM_IMAGE, reboot="now"))
    name = naming.domain_name(uuid)
    assert [(i.state, i.detail, i.journal_state) for i in report.items] == [
        ("changed", "hard reboot", "done")]
    assert host_changes(host) == [("destroy", name), ("define", ""), ("start", name)]
    assert clock(host, uuid) == '<clock offset="localtime">'
    assert servers.show_server(env, admin, uuid)["status"] == "ACTIVE"


@pytest.mark.parametrize("operation", ["stop", "reboot", "reboot-hard"])
def test_on_next_stop_applies_at_the_next_stop_or_reboot(cloud, admin, operation):
    env, host = cloud
    uuid = boot(env, admin, "w1")["w1"]
    host.calls.clear()
    report = reconcile_run.apply(env, admin, dataclasses.replace(FROM_IMAGE,
                                                                 reboot="on-next-stop"))
    assert [(i.state, i.detail) for i in report.items] == [("changed", "redefine, restart "
                                                                       "pending")]
    assert host_changes(host) == [("define", "")]  # not restarted
    assert clock(host, uuid) == '<clock offset="utc">'  # the running guest as it was
    assert clock(host, uuid, inactive=True) == '<clock offset="localtime">'
    assert record(env, uuid)[2] == report.run_id
    assert servers.show_server(env, admin, "w1")["pending_restart"] == report.run_id
    if operation == "stop":
        servers.stop_server(env, admin, "w1")
        servers.start_server(env, admin, "w1")
    else:
        servers.reboot_server(env, admin, "w1", hard=operation == "reboot-hard")
    assert clock(host, uuid) == '<clock offset="localtime">'
    assert record(env, uuid)[2] is None


def test_rerun_changes_nothing_twice(cloud, admin):
    env, host = cloud
    uuids = boot(env, admin, "a", "b", stopped=("a", "b"))
    first = reconcile_run.apply(env, admin, FROM_IMAGE)
    host.calls.clear()
    second = reconcile_run.apply(env, admin, FROM_IMAGE)
    assert second.run_id != first.run_id
    assert [i.state for i in second.items] == ["unchanged", "unchanged"]
    assert host_changes(host) == []
    assert [len(reconcile_entries(env, u)) for u in uuids.values()] == [1, 1]


# --- revert --------------------------------------------------------------------------------------

def test_revert_restores_the_exact_records_and_domains(cloud, admin):
    env, host = cloud
    uuids = boot(env, admin, "a", "b", stopped=("a", "b"))
    # b's record was repaired by hand before the run (and its domain regenerated)
    servers.set_property(env, admin, "b", {"os_type": "linux", "note": "kept"})
    servers.reboot_server(env, admin, "b", hard=True)
    servers.stop_server(env, admin, "b")
    before = {n: record(env, u) for n, u in uuids.items()}
    xml_before = {n: host.domain_xml(naming.domain_name(u), inactive=True)
                  for n, u in uuids.items()}
    run = reconcile_run.apply(env, admin, dataclasses.replace(
        FROM_IMAGE, set={"hw_machine_type": "q35"}))
    assert [i.state for i in run.items] == ["changed", "changed"]
    # the machine family moved: pinned afresh to the host's versioned machine
    assert (before["a"][1], record(env, uuids["a"])[1]) == ("pc", "pc-q35-7.2")
    undo = reconcile_run.revert(env, admin, run.run_id)
    assert undo.revert_of == run.run_id and undo.run_id != run.run_id
    assert [(i.state, i.detail, i.journal_state) for i in undo.items] == [
        ("changed", "redefine", "done")] * 2
    assert {n: record(env, u) for n, u in uuids.items()} == before
    assert {n: host.domain_xml(naming.domain_name(u), inactive=True)
            for n, u in uuids.items()} == xml_before
    entry = reconcile_entries(env, uuids["b"])[-1]
    assert {k: v for k, v in entry.payload.items() if k != "digest"} == {
        "run_id": undo.run_id, "revert_of": run.run_id, "action": "redefine",
        "user_id": "admin", "set": {"os_type": "linux", "note": "kept"},
        "unset": ["hw_machine_type"],
        "before": {"os_type": "windows", "note": None, "hw_machine_type": "q35"},
        "machine_type": {"before": "pc-q35-7.2", "after": "pc"}}
    with pytest.raises(StateError) as e:
        reconcile_run.revert(env, admin, run.run_id)
    assert str(e.value) == f"reconcile run {run.run_id} was already reverted by run {undo.run_id}"


def test_revert_leaves_a_record_changed_since(cloud, admin):
    env, _host = cloud
    uuids = boot(env, admin, "a", "b", stopped=("a", "b"))
    run = reconcile_run.apply(env, admin, FROM_IMAGE)
    servers.set_property(env, admin, "a", {"hw_qemu_guest_agent": "yes"})
    changed_since = record(env, uuids["a"])
    undo = reconcile_run.revert(env, admin, run.run_id)
    assert [(i.name, i.state) for i in undo.items] == [("a", "skipped"), ("b", "changed")]
    assert undo.items[0].detail == (f"changed since run {run.run_id}: its record is not what "
                                    "that run made it, so it is left as it is")
    assert record(env, uuids["a"]) == changed_since
    assert "os_type" not in record(env, uuids["b"])[0]


def test_revert_of_an_unknown_run(cloud, admin):
    env, _host = cloud
    with pytest.raises(NotFound) as e:
        reconcile_run.revert(env, admin, "no-such-run")
    assert str(e.value) == "reconcile run 'no-such-run' not found"


# --- failures, concurrency, resume ---------------------------------------------------------------

def test_a_refused_definition_gives_the_record_back(cloud, admin):
    env, host = cloud
    uuid = boot(env, admin, "w1", stopped=("w1",))["w1"]
    before = record(env, uuid)
    host.fail("define", Fault.REFUSED)
    report = reconcile_run.apply(env, admin, FROM_IMAGE)
    [item] = report.items
    assert (item.state, item.journal_state) == ("failed", "rolled-back")
    assert item.detail.startswith("host kvm-1 refused the new definition: ")
    assert item.detail.endswith("; the record is as before")
    assert record(env, uuid) == before
    assert servers.show_server(env, admin, uuid)["status"] == "SHUTOFF"


def test_a_busy_server_is_skipped_and_a_reconciling_one_is_busy(cloud, admin):
    env, host = cloud
    uuids = boot(env, admin, "a", "b", stopped=("a", "b"))
    _entry, _uuid = servers.begin_operation(env, admin, "a", "start")  # another operation
    seen = []

    def try_stop(call):  # while b's domain is being redefined, b is busy for everyone
        if call.op == "define":
            with pytest.raises(StateError) as e:
                servers.start_server(env, admin, "b")
            seen.append(str(e.value))
    host.hooks.append(try_stop)
    report = reconcile_run.apply(env, admin, FROM_IMAGE)
    assert [(i.name, i.state) for i in report.items] == [("a", "skipped"), ("b", "changed")]
    assert report.items[0].detail.startswith("server ")
    assert "is busy: another operation (start, started " in report.items[0].detail
    assert "os_type" not in record(env, uuids["a"])[0]
    [message] = seen
    assert "is busy: another operation (reconcile, started " in message
    # a's start, begun by the test and never carried out, was unfinished throughout
    assert host.watch.violations == ["define None: 2 unfinished journal entries"]
    host.watch.violations.clear()


def test_a_run_killed_midway_is_resumed_and_changes_each_server_once(cloud, admin,
                                                                     monkeypatch):
    env, host = cloud
    names = [f"s{i}" for i in range(6)]
    uuids = boot(env, admin, *names, stopped=tuple(names))
    kill_at_failpoint(monkeypatch, reconcile_run, "reconcile:after-record", nth=3)
    # the dead controller: a process of this machine that no longer runs
    dead = dataclasses.replace(env, owner=f"{socket.gethostname()}:999999999:0")
    with pytest.raises(Killed):
        reconcile_run.apply(dead, admin, FROM_IMAGE)
    assert [len(reconcile_entries(env, uuids[n])) for n in names] == [1, 1, 1, 0, 0, 0]
    assert reconcile_entries(env, uuids["s2"])[0].state == "in-progress"

    recovered = journal.recover(env)  # what every kumo command does first
    [run_id] = {r.outcome.split()[2] for r in recovered if r.instance_uuid is None
                and r.operation == "reconcile"}
    assert [r.outcome for r in recovered if r.operation == "reconcile"] == [
        f"reconcile run {run_id} was interrupted with 3 server(s) still to do: run the same "
        "kumo reconcile command again to resume it",
        f"reconcile (run {run_id}) interrupted at step begin: domain defined again"]
    report = reconcile_run.apply(env, admin, FROM_IMAGE)
    assert (report.run_id, report.resumed, report.state) == (run_id, True, "done")
    assert [i.state for i in report.items] == ["changed"] * 6
    for name in names:
        [entry] = reconcile_entries(env, uuids[name])
        assert (entry.state, entry.payload["run_id"]) == ("done", run_id)
        assert clock(host, uuids[name], inactive=True) == '<clock offset="localtime">'
    defines = [c for c in host.calls if c.op == "define"]
    assert len(defines) == 6 + 6 + 0  # create, then once each by the run (s2 by recovery)


def test_a_run_in_progress_elsewhere_is_not_resumed(cloud, admin, monkeypatch):
    env, _host = cloud
    boot(env, admin, "a", stopped=("a",))

    kill_at_failpoint(monkeypatch, reconcile_run)  # the first failpoint it reaches
    with pytest.raises(Killed):  # this process's own (live) controller holds it
        reconcile_run.apply(env, admin, FROM_IMAGE)
    other = dataclasses.replace(env, owner=f"{socket.gethostname()}:999999999:0")
    with pytest.raises(StateError, match=r"^reconcile run \S+ of this request is in progress "
                                         r"\(controller "):
        reconcile_run.apply(other, admin, FROM_IMAGE)
    with env.db.session_scope(readonly=True) as s:
        assert s.query(ReconcileRun).count() == 1
        assert s.query(ReconcileItem).one().state == "changed"
