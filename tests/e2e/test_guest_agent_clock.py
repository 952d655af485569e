"""The guest's own clock through the QEMU guest agent, on the real libvirtd (qemu:///system, TCG).

The agent probe (tests/e2e/probe.py: Debian's qemu-ga and its libraries in the busybox initramfs)
boots from kumo's own rendering of an image with hw_qemu_guest_agent=yes (so the agent channel
is the renderer's), with its RTC deliberately an hour ahead (``<clock offset='variable'
adjustment='3600'>``; the kernel sets its clock from the RTC at boot). ``guest_time`` reads that
hour through the agent; ``set_guest_time`` sets the host's UTC time and the agent reads it back;
a stopped guest and a guest without the channel are the typed errors.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from kumo.backends import get_backend
from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.errors import GuestAgentNotConfigured, GuestNotRunning
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.libvirt_host import LibvirtHost
from tests.e2e.probe import (
    AGENT_PROBE_MARK,
    ProbeImage,
    adapt_for_probe,
    running_probe,
    wait_for_agent,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AHEAD_S = 3600
#: the agent starts a moment after the probe line; TCG on a loaded 2-core machine is slow
AGENT_WAIT_S = 60


def _agent_probe_xml(host: LibvirtHost, probe: ProbeImage, log, *, agent: bool = True,
                     ahead_s: int = AHEAD_S) -> str:
    caps = host.capabilities(virt_type="qemu")
    props = {"os_type": "linux", "os_distro": "debian", "os_version": "12",
             "os_command_line": probe.cmdline}
    if agent:
        props["hw_qemu_guest_agent"] = "yes"
    spec = build_guest(GuestRequest(
        ImageProperties.parse(props), flavor=Flavor(1, 512, 1), host=caps,
        name=f"kumo-e2e-agent-{uuid.uuid4().hex[:8]}", root_disk="/nonexistent",
        kernel=str(probe.kernel), initrd=str(probe.initramfs), console_log=str(log)))
    xml = adapt_for_probe(get_backend(spec.hypervisor).render(spec).text, probe, log)
    root = etree.fromstring(xml.encode())
    clock = root.find("clock")
    assert clock.get("offset") == "utc"  # kumo's choice for Linux; made wrong on purpose below
    clock.set("offset", "variable")
    clock.set("adjustment", str(ahead_s))
    clock.set("basis", "utc")
    return etree.tostring(root, encoding="unicode")


def _offset_s(guest: datetime) -> float:
    return (guest - datetime.now(timezone.utc)).total_seconds()


def test_guest_time_reads_a_wrong_clock_and_set_guest_time_fixes_it(system_libvirt, agent_probe,
                                                                     tmp_path):
    host = system_libvirt
    log = tmp_path / "console.log"
    xml = _agent_probe_xml(host, agent_probe, log)
    assert "org.qemu.guest_agent.0" in xml  # the renderer's channel, untouched
    with running_probe(xml, log, host=host) as (name, reading):
        # the RTC and so the kernel clock are an hour ahead of the host
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        assert abs((reading.system - now).total_seconds() - AHEAD_S) < 30, reading.line
        guest = wait_for_agent(host, name, AGENT_WAIT_S)
        assert guest.tzinfo == timezone.utc
        assert abs(_offset_s(guest) - AHEAD_S) < 2, (guest, log.read_text(errors="replace"))
        assert f"{AGENT_PROBE_MARK} port=/dev/vport" in log.read_text(errors="replace")

        host.set_guest_time(name)  # the host's UTC now
        assert abs(_offset_s(host.guest_time(name))) < 2
        target = datetime.now(timezone.utc) - timedelta(minutes=10)
        host.set_guest_time(name, target.astimezone(timezone(timedelta(hours=8))))
        assert abs(_offset_s(host.guest_time(name)) + 600) < 2
        host.set_guest_time(name)
        assert abs(_offset_s(host.guest_time(name))) < 2

        host.destroy(name)
        with pytest.raises(GuestNotRunning) as stopped:
            host.guest_time(name)
        assert str(stopped.value) == (
            f"cannot read the clock of domain {name!r} through its guest agent on "
            "qemu:///system: Requested operation is not valid: domain is not running")


def test_a_guest_without_the_agent_channel(system_libvirt, agent_probe, tmp_path):
    host = system_libvirt
    log = tmp_path / "console.log"
    xml = _agent_probe_xml(host, agent_probe, log, agent=False, ahead_s=0)
    assert "org.qemu.guest_agent.0" not in xml
    with running_probe(xml, log, host=host) as (name, _reading):
        with pytest.raises(GuestAgentNotConfigured) as e:
            host.set_guest_time(name)
        assert str(e.value) == (
            f"cannot set the clock of domain {name!r} through its guest agent on "
            "qemu:///system: argument unsupported: QEMU guest agent is not configured")
