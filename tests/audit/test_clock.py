"""kumo audit's guest clock check (through the guest agent) on in-memory hosts: the guest's own
clock against the host's UTC clock, severity by size, the time-zone hint, and a silent agent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kumo.audit.fleet import audit
from kumo.compute import images, naming, servers
from kumo.hosts.protocol import DomainState
from tests.audit.test_fleet import rows, web  # noqa: F401

KERBEROS = ("Kerberos (Active Directory) logons fail beyond 5 minutes of skew, and TLS "
            "certificates, tokens and log times are judged by a wrong clock")


@pytest.fixture
def agent(web, admin, image_file):
    """Server ``agent`` booted from an image with hw_qemu_guest_agent=yes: (env, host, uuid)."""
    env, host, _ = web
    images.create_image(env, admin, "with-agent", file=image_file, disk_format="qcow2",
                        properties={"os_type": "linux", "hw_disk_bus": "virtio",
                                    "hw_qemu_guest_agent": "yes"}, visibility="public")
    uuid = servers.create_server(env, admin, "agent", image="with-agent",
                                 flavor="tiny").server["id"]
    return env, host, uuid


@pytest.mark.parametrize("offset, expected", [
    (timedelta(seconds=0.5), []),
    (timedelta(seconds=30), [("guest-clock", "info", "clock", "guest clock 30 s ahead of the "
                              "host's UTC clock: drift NTP in the guest should be correcting")]),
    (timedelta(seconds=-120), [("guest-clock", "warning", "clock",
                                "guest clock 120 s behind the host's UTC clock: Kerberos "
                                "(Active Directory) logons fail once it reaches 5 minutes")]),
    (timedelta(hours=8), [("guest-clock", "error", "clock",
                           f"guest clock 28800 s ahead of the host's UTC clock: {KERBEROS}; 8 "
                           "hours exactly: the guest reads its RTC in the wrong time zone "
                           "(local time where UTC is kept, or the reverse)")]),
    (timedelta(minutes=-17), [("guest-clock", "error", "clock",
                               f"guest clock 1020 s behind the host's UTC clock: {KERBEROS}")]),
], ids=["in-sync", "drift", "warning", "eight-hours", "minutes-off"])
def test_guest_clock_offset(agent, admin, offset, expected):
    env, host, uuid = agent
    host.domains[naming.domain_name(uuid)].guest_clock_offset = offset
    report = audit(env, admin)
    assert rows(report) == expected
    assert all(f.instance == uuid and f.fix == f"kumo reconcile --sync-time --instance {uuid} "
               "--apply" for f in report.findings)


def test_a_silent_agent_and_a_stopped_guest(agent, admin):
    env, host, uuid = agent
    dom = host.domains[naming.domain_name(uuid)]
    dom.agent_answers, dom.guest_clock_offset = False, timedelta(hours=8)
    (found,) = rows(audit(env, admin))
    assert found[:3] == ("guest-agent-silent", "info", "clock")
    assert found[3].startswith("the guest agent did not answer (")
    assert found[3].endswith("): the guest clock was not read")
    servers.stop_server(env, admin, "agent")
    assert rows(audit(env, admin)) == []  # not running: nothing to read
    assert host.domains[naming.domain_name(uuid)].state == DomainState.SHUTOFF


def test_no_agent_no_reading(web, admin):
    """A guest whose image does not give it the agent is not asked (the web server's image)."""
    env, host, uuid = web
    host.domains[naming.domain_name(uuid)].guest_clock_offset = timedelta(hours=8)
    assert rows(audit(env, admin)) == []
    assert host.ops("guest_time") == []


def test_no_guest_clock_reads_none(agent, admin):
    env, host, uuid = agent
    host.domains[naming.domain_name(uuid)].guest_clock_offset = timedelta(hours=8)
    host.calls.clear()
    assert rows(audit(env, admin, guest_clock=False)) == []
    assert host.ops("guest_time") == []
    assert len(rows(audit(env, admin))) == 1 and len(host.ops("guest_time")) == 1
