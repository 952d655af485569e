"""Parsing libvirt's own XML back with the same model: what kumo rendered is read back intact,
and everything libvirt adds (addresses, auto-added controllers, ps2 inputs, <audio>, defaults)
is ignored without error.

data/dumpxml-<case>.xml are ``virsh dumpxml --inactive`` of the rendered cases as defined on
qemu:///system (libvirt 9.0, QEMU 7.2); they are captured output, not kumo's.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import libvirt
import pytest

from kumo.backends.kvm import parse, render, to_domain
from kumo.backends.libvirt_xml import Domain
from kumo.guest.spec import GuestSpec
from tests.backends.kvm.specs import CASES
from tests.support.libvirt_check import assert_libvirt_accepts

DATA = Path(__file__).parent / "data"
DUMPS = sorted(p.stem.removeprefix("dumpxml-") for p in DATA.glob("dumpxml-*.xml"))


def assert_holds_what_kumo_rendered(live: Domain, spec: GuestSpec) -> None:
    """Every modelled value kumo rendered is in ``live`` (libvirt may add more)."""
    want = to_domain(spec)
    assert (live.type, live.name, live.uuid, live.vcpu) == (want.type, want.name, want.uuid,
                                                            want.vcpu)
    assert live.memory_mib() == spec.memory_mib
    assert live.features == want.features
    assert live.clock == want.clock
    assert live.cpu.topology.sockets == spec.cpu.sockets
    assert (live.os.firmware, live.os.firmware_features, live.os.loader) == (
        want.os.firmware, want.os.firmware_features, want.os.loader)
    assert (live.os.kernel, live.os.initrd, live.os.cmdline) == (
        want.os.kernel, want.os.initrd, want.os.cmdline)
    got, exp = live.devices, want.devices
    assert got.disks == exp.disks
    # libvirt assigns a MAC when kumo gives none and writes serial target types out in full
    assert [(i.type, i.model, i.source_network, i.source_bridge) for i in got.interfaces] == [
        (i.type, i.model, i.source_network, i.source_bridge) for i in exp.interfaces]
    assert [(s.type, s.source_path, s.log_file, s.log_append)
            for s in got.serials + got.consoles] == [
        (s.type, s.source_path, s.log_file, s.log_append) for s in exp.serials + exp.consoles]
    # libvirt shows the VNC password only to VIR_DOMAIN_XML_SECURE, and the port it picks
    assert [(g.type, g.autoport, g.listen_type, g.listen_address) for g in got.graphics] == [
        (g.type, g.autoport, g.listen_type, g.listen_address) for g in exp.graphics]
    assert (got.channels, got.tpms, got.watchdogs, got.rngs) == (
        exp.channels, exp.tpms, exp.watchdogs, exp.rngs)
    for c in exp.controllers:
        assert c in got.controllers
    for i in exp.inputs:
        assert i in got.inputs


@pytest.mark.parametrize("case", DUMPS)
def test_parse_qemu_dumpxml(case):
    live = parse((DATA / f"dumpxml-{case}.xml").read_text())
    assert_holds_what_kumo_rendered(live, CASES[case]())


@pytest.mark.parametrize("case", DUMPS)
def test_dumpxml_reads_libvirt_additions(case):
    live = parse((DATA / f"dumpxml-{case}.xml").read_text())
    assert live.memory_unit == "KiB"
    assert live.vcpu_placement == "static"
    assert live.devices.emulator == "/usr/bin/qemu-system-x86_64"
    assert live.devices.memballoon.model == "virtio"
    assert (live.on_poweroff, live.on_reboot, live.on_crash) == ("destroy", "restart", "destroy")


@pytest.mark.parametrize("case", DUMPS)
def test_rendering_a_parsed_dumpxml_is_valid_libvirt_xml(case):
    """Unmodelled content is dropped, not kept: the modelled subset must still stand alone."""
    live = parse((DATA / f"dumpxml-{case}.xml").read_text())
    xml = live.to_xml()
    assert "<address" not in xml
    assert_libvirt_accepts(xml)
    assert parse(xml) == live


@pytest.mark.parametrize("case", CASES)
def test_parse_test_driver_dumpxml(case):
    spec = CASES[case]()
    conn = libvirt.open("test:///default")
    try:
        dom = conn.defineXML(render(spec))
        try:
            live = parse(dom.XMLDesc(0))
        finally:
            dom.undefine()
    finally:
        conn.close()
    assert_holds_what_kumo_rendered(live, spec)


@pytest.mark.e2e
@pytest.mark.parametrize("case", CASES)
def test_qemu_driver_defines_and_dumps_back(case):
    """libvirt's QEMU driver (qemu:///system) accepts the XML: firmware autoselection, TPM, NIC
    and device checks the test driver does not make. Defined under a unique name, undefined."""
    try:
        conn = libvirt.open("qemu:///system")
    except libvirt.libvirtError as e:
        pytest.skip(f"qemu:///system is not reachable: {e.get_error_message()}")
    spec = replace(CASES[case](), name=f"kumo-test-{case}-{uuid.uuid4().hex[:8]}",
                   uuid=str(uuid.uuid4()))
    try:
        dom = conn.defineXML(render(spec))
        try:
            live = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        finally:
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    finally:
        conn.close()
    assert_holds_what_kumo_rendered(live, spec)
