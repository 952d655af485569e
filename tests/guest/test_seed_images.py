"""The seed reports' images rendered for the default KVM host: golden XML, accepted by libvirt.

Each golden file is the whole domain XML kumo writes for that image; the assertions beside it
pin the decisions each seed report is about, so a golden regeneration cannot silently undo them.
"""

import json
from importlib import resources

import pytest

from kumo.backends import get_backend
from kumo.catalog.properties import ImageDocument
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from tests.support.golden import assert_golden
from tests.support.libvirt_check import assert_libvirt_accepts

SEEDS = resources.files("kumo.data").joinpath("seed-images")


def seed_request(filename: str, **kw) -> GuestRequest:
    doc = ImageDocument.from_json(json.loads(SEEDS.joinpath(filename).read_text()))
    return GuestRequest(image=doc.properties, name=filename.removesuffix(".json"), **kw)


@pytest.mark.parametrize("filename", ["cern-windows10.json", "win2008r2-kms.json",
                                      "win2012-virtio-scsi.json", "centos7.1.json"])
def test_seed_golden(filename):
    spec = build_guest(seed_request(filename))
    xml = get_backend("kvm").render(spec).text
    assert_golden(f"kvm/seed-{filename.removesuffix('.json')}.xml", xml)
    assert_libvirt_accepts(xml)


def test_seed000_cern_windows10_gets_the_watchdog_cure_without_os_type():
    """Seed 000: os_distro=Windows alone (no os_type) must still give Hyper-V enlightenments."""
    spec = build_guest(seed_request("cern-windows10.json"))
    assert spec.os_type == "windows"
    assert spec.decision("os_type").rule == "os-type.inferred"
    assert [f.name for f in spec.hyperv][:3] == ["relaxed", "vapic", "spinlocks"]
    assert spec.hyperv[2].retries == 8191
    assert spec.clock.offset == "localtime"


def test_seed001_win2008r2_clock_is_localtime_with_nova_timers():
    spec = build_guest(seed_request("win2008r2-kms.json"))
    assert spec.clock.offset == "localtime"
    assert [(t.name, t.present, t.tickpolicy) for t in spec.clock.timers] == [
        ("rtc", None, "catchup"), ("pit", None, "delay"), ("hpet", False, None),
        ("hypervclock", True, None)]
    assert spec.guest_agent is True


def test_seed001_guest_timezone_gives_timezone_offset():
    from kumo.hosts.capabilities import HostConfig
    spec = build_guest(seed_request("win2008r2-kms.json",
                                    host_config=HostConfig(guest_timezone="Asia/Shanghai")))
    assert (spec.clock.offset, spec.clock.timezone) == ("timezone", "Asia/Shanghai")


def test_seed002_win2012_scsi_virtio_scsi_controller():
    spec = build_guest(seed_request("win2012-virtio-scsi.json"))
    assert spec.disk("root").bus == "scsi"
    assert [(c.type, c.model) for c in spec.controllers] == [("scsi", "virtio-scsi")]


def test_centos_is_utc_virtio_without_enlightenments():
    spec = build_guest(seed_request("centos7.1.json"))
    assert spec.clock.offset == "utc"
    assert spec.hyperv == ()
    assert spec.disk("root").bus == "virtio"
    assert spec.nics[0].model == "virtio"
