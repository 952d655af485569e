"""kumo audit's record check on in-memory hosts: the record vs what its host has -- domain gone,
power state, domains this installation made that no record owns (and never another
installation's), stale copies on another host -- and hosts that do not answer, busy instances,
guests today's rules refuse, and what a project member sees."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from kumo.audit.fleet import audit
from kumo.compute.selection import Selection
from kumo.compute import journal, naming
from kumo.compute.context import RequestContext
from kumo.db.models import Instance
from kumo.hosts.fake import FakeDomain, Fault
from kumo.hosts.protocol import DomainState
from tests.audit.test_fleet import rows, web  # noqa: F401
from tests.support.hosts import add_host

OTHER = "00000000-0000-4000-8000-000000000000"
GHOST = "99999999-9999-4999-8999-999999999999"


def _copy(host, uuid: str, new_uuid: str, installation: str | None = None) -> str:
    """The domain of ``uuid`` defined again as instance ``new_uuid`` (its mark naming
    ``installation`` when given): what another controller or a lost record leaves."""
    xml = host.domains[naming.domain_name(uuid)].xml.replace(uuid, new_uuid)
    if installation is not None:
        start = xml.index("<kumo:installation>") + len("<kumo:installation>")
        xml = xml[:start] + installation + xml[xml.index("</kumo:installation>"):]
    name = naming.domain_name(new_uuid)
    host.domains[name] = FakeDomain(name, xml, DomainState.RUNNING)
    return name


def _set(env, uuid, **values):
    with env.db.session_scope() as s:
        s.execute(update(Instance).where(Instance.uuid == uuid).values(**values))


def test_domain_gone(web, admin):
    env, host, uuid = web
    del host.domains[naming.domain_name(uuid)]
    report = audit(env, admin)
    assert rows(report) == [("domain-missing", "error", "record",
                             f"domain kumo-{uuid} is not on host kvm-1 (recorded active): the "
                             "server cannot start")]
    assert report.findings[0].fix == f"kumo server reboot {uuid} --hard (defines it again)"


@pytest.mark.parametrize("vm_state, state, reason, message", [
    ("active", DomainState.SHUTOFF, "destroyed (powered off from the host)",
     "recorded ACTIVE, but the guest is shutoff (destroyed (powered off from the host)): the "
     "server is down while kumo reports it running"),
    ("active", DomainState.CRASHED, None,
     "recorded ACTIVE, but the guest is crashed: the server is down while kumo reports it "
     "running"),
    ("stopped", DomainState.RUNNING, None,
     "recorded SHUTOFF, but the guest is running: it uses the host's CPU and memory while kumo "
     "reports it stopped"),
], ids=["destroyed", "crashed", "started-outside"])
def test_power_state(web, admin, vm_state, state, reason, message):
    env, host, uuid = web
    _set(env, uuid, vm_state=vm_state)
    dom = host.domains[naming.domain_name(uuid)]
    dom.state, dom.state_reason = state, reason
    assert rows(audit(env, admin)) == [("power-state", "warning", "record", message)]


def test_orphans_are_this_installations_only(web, admin):
    """A domain marked with this installation's id and no record is an orphan; one marked by
    another installation sharing the daemon, or kumo-named but unmarked, is not ours."""
    env, host, uuid = web
    _copy(host, uuid, GHOST)
    _copy(host, uuid, OTHER, installation="another-installation")
    unmarked = naming.domain_name("11111111-1111-4111-8111-111111111111")
    host.domains[unmarked] = FakeDomain(unmarked, f"<domain><name>{unmarked}</name></domain>")
    report = audit(env, admin, Selection(all_projects=True))
    assert rows(report) == [("orphan-domain", "warning", "record",
                             f"domain kumo-{GHOST} (running) was made by this installation "
                             "(project admin) but no record owns it: no one manages it, and it "
                             "holds host resources the scheduler does not count")]
    f = report.findings[0]
    assert (f.instance, f.host, f.project) == (GHOST, "kvm-1", "admin")


def test_stale_copy_on_another_host(web, admin, fake_hosts):
    """The instance is recorded on kvm-2 (evacuated); its old domain still runs on kvm-1."""
    env, host, uuid = web
    add_host(env.db, "kvm-2", "fake:///kvm-2")
    moved = fake_hosts["fake:///kvm-2"]
    moved.domains[naming.domain_name(uuid)] = FakeDomain(
        naming.domain_name(uuid), host.domains[naming.domain_name(uuid)].xml,
        DomainState.RUNNING)
    with env.db.session_scope() as s:
        from kumo.db.models import Host
        kvm2 = s.query(Host).filter_by(name="kvm-2").one().id
    _set(env, uuid, host_id=kvm2, node="kvm-2")
    assert rows(audit(env, admin, Selection(all_projects=True))) == [
        ("stale-domain", "error", "record",
         f"domain kumo-{uuid} (running) is a stale copy: instance {uuid} is recorded on another "
         "host and this copy runs: two guests may write one disk")]


def test_a_host_that_does_not_answer(web, admin):
    env, host, uuid = web
    host.fail("domain_states", Fault.CONNECTION_LOST)
    report = audit(env, admin)
    assert rows(report) == [("host-unreachable", "error", "record",
                             "host kvm-1 did not answer: its 1 instance was not audited "
                             "(cannot domain_states() on fake:///kvm-1: Cannot recv data: "
                             "Connection reset by peer)")]
    assert report.findings[0].instance is None


def test_busy_instances_are_left_to_their_operation(web, admin):
    env, host, uuid = web
    del host.domains[naming.domain_name(uuid)]  # would be "domain-missing" if it were idle
    with env.db.session_scope() as s:
        journal.begin(s, env, admin, "reboot-hard", uuid, "define")
    assert rows(audit(env, admin)) == [("busy", "info", "record",
                                        "operation reboot-hard is in progress on it: not "
                                        "audited")]


def test_a_guest_todays_rules_refuse(web, admin):
    """Frozen properties today's catalog refuses (written by an older kumo, or by hand)."""
    env, host, uuid = web
    _set(env, uuid, image_properties={"os_type": "dos", "hw_disk_bus": "virtio",
                                      "disk_format": "qcow2"})
    found = rows(audit(env, admin))
    assert ("rules-refuse", "error", "config",
            "today's rules cannot build this guest on host kvm-1: os_type='dos' is invalid: "
            "allowed one of linux, windows: its next hard reboot would fail") in found


def test_a_member_audits_its_projects_servers_without_hosts(web, admin):
    env, host, uuid = web
    member = RequestContext(user_id="alice", project_id="admin", roles=("member",))
    stranger = RequestContext(user_id="bob", project_id="p-bob", roles=("member",))
    del host.domains[naming.domain_name(uuid)]
    report = audit(env, member)
    assert [(f.id, f.host, f.instance, f.message) for f in report.findings] == [
        ("domain-missing", None, uuid, f"domain kumo-{uuid} is not on its host (recorded "
                                       "active): the server cannot start")]
    host.fail("domain_states", Fault.CONNECTION_LOST)
    (f,) = audit(env, member).findings
    assert (f.id, f.host, f.fix) == ("host-unreachable", None, "audit again when it answers")
    assert f.message == "its host did not answer: its 1 instance was not audited"
    assert audit(env, stranger).findings == [] and audit(env, stranger).instances == 0


def test_host_selection(web, admin, fake_hosts):
    """--host audits that host's instances (and this installation's domains there) only."""
    env, host, uuid = web
    add_host(env.db, "kvm-2", "fake:///kvm-2")
    other = fake_hosts["fake:///kvm-2"]
    _copy(host, uuid, GHOST)  # an orphan on kvm-1
    other.domains[naming.domain_name(OTHER)] = FakeDomain(
        naming.domain_name(OTHER), host.domains[naming.domain_name(GHOST)].xml.replace(
            GHOST, OTHER), DomainState.RUNNING)  # and one on kvm-2
    del host.domains[naming.domain_name(uuid)]
    kvm1 = audit(env, admin, Selection.of(hosts=["kvm-1"]))
    assert [(f.id, f.instance) for f in kvm1.findings] == [("domain-missing", uuid),
                                                           ("orphan-domain", GHOST)]
    kvm2 = audit(env, admin, Selection.of(hosts=["kvm-2"]))
    assert [(f.id, f.instance, f.host) for f in kvm2.findings] == [
        ("orphan-domain", OTHER, "kvm-2")]
    assert (kvm2.instances, kvm2.hosts) == (0, 1)
