"""Seed 001 end to end on the real libvirtd (qemu:///system, TCG), with the probe guest
(tests/e2e/probe.py) as the server's kernel and initramfs: a Windows guest booted from an image
without os_type (and without os_distro) gets a UTC RTC; the image gains os_type=windows;
``kumo audit`` reports the instance with the consequence; the plan shows the clock change;
``kumo reconcile --from-image --apply --reboot now`` gives it the local-time RTC -- in its
live domain XML and in the RTC the guest itself reads -- and
``kumo reconcile --revert RUN_ID --reboot now`` gives back the old record and the UTC RTC.

This machine's own zone is UTC, where local time and UTC read alike; the guests' zone is set to
Asia/Shanghai (KUMO_GUEST_TIMEZONE, as an operator in UTC+8 has it), so local time is 8 hours
off UTC -- exactly seed 001's 8 hours -- and kumo writes it as ``<clock offset='timezone'
timezone='Asia/Shanghai'>``, the way it writes a Windows guest's local time in a zone that is
not the host's.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kumo.compute import flavors, hosts, images, naming, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.db.models import Instance
from tests.e2e.probe import PROBE_MARK, ProbeReading, parse_probe_line
from tests.support.e2e_cloud import (add_probe_image, installation_environ, kumo_process,
                                    remove_installation)

pytestmark = pytest.mark.e2e

URI = "qemu:///system"
UTC_CLOCK = "<clock offset='utc'>"
LOCAL_CLOCK = "<clock offset='timezone' timezone='Asia/Shanghai'>"


@pytest.fixture
def cloud(tmp_path, system_libvirt, probe_image):
    environ = installation_environ(tmp_path, KUMO_GUEST_TIMEZONE="Asia/Shanghai")
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    try:
        hosts.add_host(env, ctx, "local", URI, virt_type="qemu")
        flavors.create_flavor(env, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
        # seed 001: a Windows image uploaded without os_type (and without os_distro)
        add_probe_image(env, ctx, probe_image, "win2016", tmp_path)
        yield env, environ, system_libvirt
    finally:
        remove_installation(env, system_libvirt)


def live_clock(conn, uuid: str) -> str:
    return re.search(r"<clock[^>]*>", conn.domain_xml(naming.domain_name(uuid))).group(0)


def rtc_reading(env: ComputeEnv, uuid: str, boot: int, timeout_s: float = 120) -> ProbeReading:
    """The probe line of the guest's ``boot``-th start (1 = the first): the console log is
    appended to across starts (virtlogd, ``<log append='on'>``), one probe line per start."""
    log = Path(env.pool_volume_path(naming.volume_name(uuid, naming.CONSOLE)))
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        starts = [m.start() for m in re.finditer(re.escape(PROBE_MARK), text)]
        if len(starts) >= boot:
            reading = parse_probe_line(text[starts[boot - 1]:])
            if reading is not None:
                return reading
        time.sleep(0.3)
    pytest.fail(f"the guest printed no probe line for start {boot} in {timeout_s} s: "
                f"{text[-500:]}")


def rtc_offset_hours(env: ComputeEnv, uuid: str, boot: int) -> float:
    reading = rtc_reading(env, uuid, boot)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return reading.rtc_offset_hours(now)


def record(env: ComputeEnv, uuid: str) -> tuple[dict, str | None]:
    with env.db.session_scope(readonly=True) as s:
        row = s.query(Instance).filter_by(uuid=uuid).one()
        return dict(row.image_properties), row.machine_type


def test_seed_001_reconcile_and_revert(cloud):
    env, environ, conn = cloud
    ctx = admin_context()
    uuid = servers.create_server(env, ctx, "win", image="win2016", flavor="tiny").server["id"]
    assert live_clock(conn, uuid) == UTC_CLOCK
    assert abs(rtc_offset_hours(env, uuid, 1)) < 0.05  # the guest reads UTC: 8 hours off
    before = record(env, uuid)
    assert "os_type" not in before[0]

    images.update_image(env, ctx, "win2016", set_properties={"os_type": "windows"})

    audited = kumo_process(environ, "audit", "--instance", "win", "-f", "json")
    assert audited.returncode == 1, audited.stderr  # an error-level finding
    findings = {f["id"]: f for f in json.loads(audited.stdout) if f["instance"] == uuid}
    gained = findings["image-property"]["message"]
    assert gained.startswith("image gained os_type=windows on "), gained
    assert gained.endswith("; this instance still has none"), gained
    assert (findings["image-clock-offset"]["severity"],
            findings["image-clock-offset"]["message"]) == (
        "error", "with its image's current properties the guest's clock offset would be "
                 "timezone (Asia/Shanghai); its record gives utc: the guest clock is off by the "
                 "host's UTC offset; Windows KMS activation fails")
    assert findings["image-clock-offset"]["fix"] == (
        f"kumo reconcile --from-image --instance {uuid} (plan), then --apply")

    plan = kumo_process(environ, "reconcile", "--from-image")
    assert plan.returncode == 0, plan.stderr
    name = naming.domain_name(uuid)
    assert plan.stdout.startswith(
        f"server win ({uuid}) on local: skip (running: its owner must be told before its "
        "configuration changes; give --reboot now or --reboot on-next-stop)\n"
        "  os_type: (unset) -> windows\n")
    assert '\n-  <clock offset="utc">\n+  <clock offset="timezone" timezone="Asia/Shanghai">\n' \
        in plan.stdout
    assert f"\n--- {name} (" in plan.stdout and f"\n+++ {name} (planned)\n" in plan.stdout
    assert record(env, uuid) == before and live_clock(conn, uuid) == UTC_CLOCK

    applied = kumo_process(environ, "reconcile", "--from-image", "--apply", "--reboot", "now",
                   "-f", "json")
    assert applied.returncode == 0, applied.stderr
    run = json.loads(applied.stdout)
    assert run["items"] == [{"id": uuid, "name": "win", "result": "changed",
                             "detail": "hard reboot", "journal": "done"}]
    assert live_clock(conn, uuid) == LOCAL_CLOCK
    assert abs(rtc_offset_hours(env, uuid, 2) - 8) < 0.05  # the guest reads local time now
    assert record(env, uuid)[0]["os_type"] == "windows"

    reverted = kumo_process(environ, "reconcile", "--revert", run["run_id"], "--reboot", "now",
                    "-f", "json")
    assert reverted.returncode == 0, reverted.stderr
    assert [i["result"] for i in json.loads(reverted.stdout)["items"]] == ["changed"]
    assert record(env, uuid) == before
    assert live_clock(conn, uuid) == UTC_CLOCK
    assert abs(rtc_offset_hours(env, uuid, 3)) < 0.05
