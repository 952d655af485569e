"""The guest's own clock through ``kumo audit`` and ``kumo reconcile --sync-time``, on the real
libvirtd (qemu:///system, TCG), with a server kumo created from an image that says it runs the
QEMU guest agent (hw_qemu_guest_agent=yes) -- the agent probe (tests/e2e/probe.py: Debian's
qemu-ga in the busybox initramfs) as its kernel and initramfs.

Its clock is wrong the way seed 001's clocks were, in reverse: the image is marked
os_type=windows with kumo_guest_timezone=Africa/Lagos (UTC+1 all year, no summer time), so
kumo gives the guest an RTC in local time (``<clock offset='timezone'
timezone='Africa/Lagos'>``), while the probe -- a Linux guest -- reads its RTC as UTC: its
clock runs an hour ahead. ``kumo audit`` reads that hour through the agent (error, exit 1,
"1 hour exactly: the RTC in the wrong time zone"), the ``kumo reconcile --sync-time`` plan shows
it, ``--apply`` sets the guest's clock from the host's through the agent (journaled, the offset
it had recorded), the agent reads it back right, and a second audit finds nothing.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from kumo.compute import flavors, hosts, naming, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.db.models import JournalEntry
from tests.e2e.probe import wait_for_agent
from tests.support.e2e_cloud import (add_probe_image, installation_environ, kumo_process,
                                    remove_installation)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

URI = "qemu:///system"
AHEAD_S = 3600  # Africa/Lagos: UTC+1
#: the agent starts a moment after boot; TCG on a loaded 2-core machine is slow
AGENT_WAIT_S = 120
CLOCK_FINDING = re.compile(
    r"guest clock (\d+) s ahead of the host's UTC clock: Kerberos \(Active Directory\) logons "
    r"fail beyond 5 minutes of skew, and TLS certificates, tokens and log times are judged by "
    r"a wrong clock; 1 hour exactly: the guest reads its RTC in the wrong time zone \(local "
    r"time where UTC is kept, or the reverse\)")


@pytest.fixture
def cloud(tmp_path, system_libvirt, agent_probe):
    environ = installation_environ(tmp_path)
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    try:
        hosts.add_host(env, ctx, "local", URI, virt_type="qemu")
        flavors.create_flavor(env, ctx, "small", vcpus=1, ram_mib=512, disk_gib=1)
        add_probe_image(env, ctx, agent_probe, "lagos", tmp_path, os_type="windows",
                        kumo_guest_timezone="Africa/Lagos", hw_qemu_guest_agent="yes")
        yield env, environ, system_libvirt
    finally:
        remove_installation(env, system_libvirt)


def offset_s(conn, domain: str) -> float:
    return (conn.guest_time(domain) - datetime.now(timezone.utc)).total_seconds()


def audit(environ: dict[str, str], uuid: str) -> tuple[int, list[dict]]:
    done = kumo_process(environ, "audit", "--instance", uuid, "-f", "json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, [f for f in json.loads(done.stdout) if f["instance"] == uuid]


def sync_entries(env: ComputeEnv, uuid: str) -> list[tuple[str, float | None]]:
    with env.db.session_scope(readonly=True) as s:
        return [(e.state, e.payload.get("offset_s")) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.operation == "sync-time",
                                       JournalEntry.instance_uuid == uuid))]


def test_audit_reads_the_guest_clock_and_sync_time_fixes_it(cloud):
    env, environ, conn = cloud
    ctx = admin_context()
    uuid = servers.create_server(env, ctx, "lagos", image="lagos", flavor="small").server["id"]
    domain = naming.domain_name(uuid)
    assert "<clock offset='timezone' timezone='Africa/Lagos'>" in conn.domain_xml(domain)
    assert "org.qemu.guest_agent.0" in conn.domain_xml(domain)
    wait_for_agent(conn, domain, AGENT_WAIT_S)
    assert abs(offset_s(conn, domain) - AHEAD_S) < 30  # booted from an RTC an hour ahead

    code, findings = audit(environ, uuid)
    assert code == 1  # an error-level finding
    assert [(f["id"], f["severity"], f["kind"], f["name"], f["host"]) for f in findings] == [
        ("guest-clock", "error", "clock", "lagos", "local")]
    reported = CLOCK_FINDING.fullmatch(findings[0]["message"])
    assert reported is not None, findings[0]["message"]
    assert abs(int(reported.group(1)) - AHEAD_S) <= 2, findings[0]["message"]
    assert findings[0]["fix"] == f"kumo reconcile --sync-time --instance {uuid} --apply"

    plan = kumo_process(environ, "reconcile", "--sync-time", "--instance", uuid)
    assert plan.returncode == 0, plan.stderr
    planned = re.fullmatch(
        rf"server lagos \({uuid}\) on local: unchanged\n"
        r"  guest clock: \+(\d+) s off the host's UTC clock: set from it\n", plan.stdout)
    assert planned is not None, plan.stdout
    assert abs(int(planned.group(1)) - AHEAD_S) <= 2, plan.stdout
    assert abs(offset_s(conn, domain) - AHEAD_S) < 30  # the plan changed nothing

    applied = kumo_process(environ, "reconcile", "--sync-time", "--instance", uuid, "--apply",
                           "-f", "json")
    assert applied.returncode == 0, applied.stderr
    [item] = json.loads(applied.stdout)["items"]
    detail = re.fullmatch(r"clock set from the host's \(it was \+(\d+) s off\)", item["detail"])
    assert detail is not None, item
    assert abs(int(detail.group(1)) - AHEAD_S) <= 2, item
    assert (item["id"], item["name"], item["result"], item["journal"]) == (
        uuid, "lagos", "unchanged", None)
    [(state, had)] = sync_entries(env, uuid)
    assert state == "done" and abs(had - AHEAD_S) <= 2, (state, had)

    assert abs(offset_s(conn, domain)) < 2  # read back through the agent

    code, findings = audit(environ, uuid)
    assert (code, findings) == (0, [])  # within 2 s: nothing to report
