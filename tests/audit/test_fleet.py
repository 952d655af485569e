"""kumo audit on in-memory hosts (kumo.hosts.fake): servers created through the real create path
(so each domain is exactly what kumo defined), then one drift per case -- in the domain, the
image, the record or the host -- and exactly the findings it must give, with their messages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kumo.audit.fleet import audit
from kumo.compute import images, journal, naming, servers
from kumo.db.models import ImageProperty
from tests.compute.fakehost import fake_cloud

FIX_CONFIG = ("kumo reconcile --instance {uuid} --apply --reboot now (or kumo server reboot "
              "{uuid} --hard): the domain is defined again from its record")


@pytest.fixture
def web(env, admin, image_file, fake_hosts):
    """ACTIVE server ``web`` on fake host kvm-1 (image ``linux``: os_type=linux,
    hw_disk_bus=virtio): (env, fake host, uuid)."""
    host = fake_cloud(env, admin, image_file, fake_hosts)
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    return env, host, uuid


def rows(report):
    return [(f.id, f.severity, f.kind, f.message) for f in report.findings]


def edit(host, uuid, old: str, new: str, *, running_only: bool = False) -> None:
    """Change the domain's XML as `virsh edit` would (``running_only``: only the running
    configuration, as a live change does)."""
    dom = host.domains[naming.domain_name(uuid)]
    assert old in dom.xml
    if running_only:
        dom.live_xml = dom.xml.replace(old, new)
    else:
        dom.xml = dom.xml.replace(old, new)


def test_a_fresh_fleet_has_no_findings(web, admin):
    env, host, uuid = web
    report = audit(env, admin)
    assert rows(report) == []
    assert (report.instances, report.hosts, report.worst) == (1, 1, None)


CLOCK = ("clock-offset", "error", "config",
         "clock offset localtime, should be utc: the guest reads local time from an RTC it "
         "expects in UTC: its clock is off by the host's UTC offset")
BUS = ("disk-bus", "error", "config",
       "root disk bus ide, should be virtio: the guest needs a driver for the bus it boots "
       "from: a Windows guest without it stops with INACCESSIBLE_BOOT_DEVICE, others run on a "
       "slower emulated bus")
HPET = ("timer", "warning", "config",
        "timer hpet present, should be absent: an HPET present makes Windows use it as its "
        "clock source: higher CPU use and time lost under host load")


@pytest.mark.parametrize("old, new, running_only, expected", [
    ('<clock offset="utc">', '<clock offset="localtime">', False, [CLOCK]),
    ('<target dev="vda" bus="virtio"/>', '<target dev="vda" bus="ide"/>', False, [BUS]),
    ('<timer name="hpet" present="no"/>', '<timer name="hpet" present="yes"/>', False, [HPET]),
    ('<clock offset="utc">', '<clock offset="localtime">', True,
     [CLOCK[:3] + ("running guest (its defined configuration is right: a restart fixes it): "
                   + CLOCK[3],)]),
], ids=["clock-offset", "disk-bus", "hpet", "running-only"])
def test_config_drift_is_reported_with_its_consequence(web, admin, old, new, running_only,
                                                       expected):
    env, host, uuid = web
    edit(host, uuid, old, new, running_only=running_only)
    report = audit(env, admin)
    assert rows(report) == expected
    f = report.findings[0]
    assert (f.instance, f.name, f.host, f.fix) == (uuid, "web", "kvm-1",
                                                   FIX_CONFIG.format(uuid=uuid))
    assert report.worst == expected[0][1]


def test_a_define_while_running_is_the_next_starts_config(web, admin):
    """libvirt keeps a running guest's configuration when its domain is defined again: the
    defined configuration (what the next start gets) drifted, the running one did not."""
    env, host, uuid = web
    dom = host.domains[naming.domain_name(uuid)]
    host.define(dom.xml.replace('<clock offset="utc">', '<clock offset="localtime">'))
    assert rows(audit(env, admin)) == [
        CLOCK[:3] + ("defined configuration (the guest's next start): " + CLOCK[3],)]


def test_image_gained_a_property(web, admin, image_file):
    """Seed 001: the image gains os_type=windows; the running guest keeps its frozen none --
    reported with when, and with what the image's properties would change in the guest."""
    env, host, _ = web
    images.create_image(env, admin, "legacy", file=image_file, disk_format="qcow2",
                        properties={"hw_disk_bus": "virtio"}, visibility="public")
    uuid = servers.create_server(env, admin, "old", image="legacy",
                                 flavor="tiny").server["id"]
    images.update_image(env, admin, "legacy", set_properties={"os_type": "windows"})
    with env.db.session_scope(readonly=True) as s:
        at = s.scalars(select(ImageProperty.updated_at).where(
            ImageProperty.name == "os_type", ImageProperty.value == "windows")).one()
    report = audit(env, admin)
    found = rows(report)
    fix = f"kumo reconcile --from-image --instance {uuid} (plan), then --apply"
    assert found[0] == (
        "image-clock-offset", "error", "properties",
        "with its image's current properties the guest's clock offset would be localtime; its "
        "record gives utc: the guest clock is off by the host's UTC offset; Windows KMS "
        "activation fails")
    assert ("image-property", "warning", "properties",
            f"image gained os_type=windows on {at:%Y-%m-%d %H:%M} UTC; this instance still has "
            "none") in found
    assert ("image-hyperv", "warning", "properties",
            "with its image's current properties the guest's Hyper-V relaxed would be on; its "
            "record gives absent: without relaxed timing Windows may stop with "
            "CLOCK_WATCHDOG_TIMEOUT when the host is busy") in found
    assert {f.fix for f in report.findings} == {fix}
    assert {f.kind for f in report.findings} == {"properties"}  # the domain is as recorded
    assert report.worst == "error"


def test_a_property_without_effect_is_info(web, admin):
    env, host, uuid = web
    images.update_image(env, admin, "linux", set_properties={"release_date": "2017-05-05"})
    (found,) = rows(audit(env, admin))
    assert re.fullmatch(
        r"image gained release_date=2017-05-05 on \d{4}-\d\d-\d\d \d\d:\d\d UTC; this instance "
        r"still has none: the guest's configuration would not change", found[3])
    assert found[:3] == ("image-property", "info", "properties")


def test_a_set_property_override_is_reported_with_how_to_keep_it(web, admin):
    env, host, uuid = web
    servers.set_property(env, admin, "web", {"hw_disk_bus": "sata"})
    with env.db.session_scope(readonly=True) as s:
        entry = s.scalars(select(journal.JournalEntry).where(
            journal.JournalEntry.operation == "set-property")).one()
        at, request = entry.created_at, entry.request_id
    found = rows(audit(env, admin))
    # the record says sata now; the domain keeps virtio until the next hard reboot
    assert found == [
        ("disk-bus", "error", "config", "ephemeral disk bus virtio, should be sata: the guest "
         "needs a driver for this bus: without it the disk is not there"),
        BUS[:3] + ("root disk bus virtio, should be sata:" + BUS[3].split(":", 1)[1],),
        ("image-property-overridden", "info", "properties",
         f"image has hw_disk_bus=virtio, this instance hw_disk_bus=sata as set by set-property "
         f"on {at:%Y-%m-%d %H:%M} UTC (request {request}): an operator's choice, which kumo "
         "reconcile --from-image replaces with the image's"),
    ]
    assert audit(env, admin).findings[-1].fix == (
        "nothing to do; to keep it through kumo reconcile --from-image, give --set-property "
        "hw_disk_bus=sata with it")


def test_audit_and_reconcile_agree_on_from_image(web, admin):
    """One rule (kumo.compute.reconcile.refrozen): the image gained a property, and the
    instance has a set-property override: audit's consequences are exactly what the
    ``reconcile --from-image`` plan changes -- the override replaced by the image's value."""
    from kumo.compute import reconcile

    env, host, uuid = web
    servers.set_property(env, admin, "web", {"hw_disk_bus": "sata"})
    servers.reboot_server(env, admin, "web", hard=True)  # the domain as the record says
    images.update_image(env, admin, "linux", set_properties={"hw_vif_model": "e1000"})
    found = [f for f in rows(audit(env, admin)) if f[0] != "image-property-overridden"]
    [plan] = reconcile.plan(env, admin, reconcile.Request(from_image=True))
    would = "with its image's current properties the guest's "
    assert found[:3] == [
        ("image-disk-bus", "error", "properties", would + "ephemeral disk bus would be virtio; "
         "its record gives sata: the guest needs a driver for this bus: without it the disk is "
         "not there"),
        ("image-disk-bus", "error", "properties", would + "root disk bus would be virtio; its "
         "record gives sata:" + BUS[3].split(":", 1)[1]),
        ("image-nic-model", "warning", "properties", would + "NIC 0 model would be e1000; its "
         "record gives virtio: the guest needs a driver for its NIC model: without it it has "
         "no network; with an emulated model it is slower"),
    ]
    assert found[3][:3] == ("image-property", "warning", "properties")
    assert re.fullmatch(r"image gained hw_vif_model=e1000 on \d{4}-\d\d-\d\d \d\d:\d\d UTC; "
                        r"this instance still has none", found[3][3])
    assert len(found) == 4
    # the plan changes exactly those: both disks' bus back to the image's, the NIC model
    assert plan.property_lines() == ["hw_disk_bus: sata -> virtio",
                                     "hw_vif_model: (unset) -> e1000"]
    changed = [line for line in plan.diff.splitlines()
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        '-      <target dev="sda" bus="sata"/>', '+      <target dev="vda" bus="virtio"/>',
        '-      <target dev="sdb" bus="sata"/>', '+      <target dev="vdb" bus="virtio"/>',
        '-      <model type="virtio"/>', '+      <model type="e1000"/>']


def test_one_class_many_instances(web, admin):
    """Instances of one class share one rendered configuration and their domains one parse
    per shape (kumo.audit.expected); a drift in one of them is still that one's alone."""
    env, host, uuid = web
    others = [servers.create_server(env, admin, f"web{i}", image="linux",
                                    flavor="tiny").server["id"] for i in range(3)]
    edit(host, others[1], '<clock offset="utc">', '<clock offset="localtime">')
    report = audit(env, admin)
    assert [(f.instance, f.id) for f in report.findings] == [(others[1], "clock-offset")]
    assert (report.renders, report.parses) == (1, 2)  # defined and running: one shape each
