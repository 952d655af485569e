"""A real host fails, is fenced by its fence command, and its server is evacuated onto the
machine's libvirtd, where the guest boots with its RTC still right for its OS; when the failed
host comes back, its stale domain of the evacuated server is destroyed, never started, and only
this installation's (issue 14).

The failed host is a second libvirt daemon of its own (tests/e2e/second_daemon.py: another
user's session libvirtd with its own host UUID and its own storage, in a mount namespace),
added as host XXXX-HOST-YYYY34. Its failure: the daemon is SIGKILLed while the guest's QEMU
keeps running (a host cut off, its guest still alive -- the case that must not be evacuated
unfenced). kumo serve's automatic mode then runs the host's fence command (a script that kills
that daemon's QEMU processes and exits 0 once none is left) and evacuates. The Windows-typed
guest keeps its clock in the guest time zone (Asia/Shanghai, UTC+8) on both hosts: the tiny
guest prints the RTC it reads.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from kumo.compute import evacuate, naming, servers
from kumo.compute.installation import installation_id
from kumo.db.models import Host, Instance, JournalEntry
from kumo.cli.demo import GUEST_MARK
from kumo.errors import StateError
from kumo.hosts.libvirt_host import LibvirtHost
from kumo.periodic import host_failure, host_liveness
from kumo.compute import hosts
from tests.e2e.second_daemon import cloud_and_second_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAILED = "XXXX-HOST-YYYY34"


def guest_reading(log: Path, timeout_s: float = 120) -> tuple[datetime, str]:
    """(the RTC the guest read, its line) from its console log, waiting for it to boot."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        m = re.search(rf"{GUEST_MARK} rtc=(\S+) [^\r\n]*\r?\n", text)
        if m:
            return datetime.fromisoformat(m.group(1)), m.group(0).strip()
        time.sleep(0.5)
    pytest.fail(f"no {GUEST_MARK} line in {log} after {timeout_s} s: {text[-500:]}")


def rtc_hours_ahead(rtc: datetime) -> float:
    return (rtc - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds() / 3600


@pytest.fixture
def world(system_libvirt):
    with cloud_and_second_daemon("evacuate", system_libvirt,
                                 KUMO_GUEST_TIMEZONE="Asia/Shanghai",
                                 KUMO_HOST_PROBE_INTERVAL="30", KUMO_AUTO_EVACUATE="true",
                                 KUMO_AUTO_EVACUATE_AFTER="1") as world:
        yield world


def test_failed_host_fenced_evacuated_guest_boots_and_stale_domain_cleaned(world):
    cloud, remote = world
    env, ctx = cloud.env, cloud.ctx
    hosts.add_host(env, ctx, FAILED, remote.uri, virt_type="qemu")
    remote_conn = LibvirtHost(remote.uri)
    cloud.extra_hosts.append(remote_conn)

    created = servers.create_server(env, ctx, "win", image="windows", flavor="tiny",
                                    host=FAILED)
    uuid = created.server["id"]
    domain = naming.domain_name(uuid)
    console = naming.volume_name(uuid, naming.CONSOLE)
    rtc, line = guest_reading(remote.private_pool / console)
    assert abs(rtc_hours_ahead(rtc) - 8) < 0.05, line  # Windows: local time, UTC+8

    # another installation's domain under kumo's naming on the failed host: never ours to touch
    theirs = f"kumo-{secrets.token_hex(4)}-0000-4000-8000-{secrets.token_hex(6)}"
    foreign = remote_conn.domain_xml(domain, inactive=True).replace(
        installation_id(env.db), "another-installation").replace(uuid, theirs[5:])
    foreign = re.sub(r"<uuid>[^<]*</uuid>", "", foreign)
    remote_conn.define(foreign)

    # the host fails: its daemon dies, the guest's QEMU keeps running
    guest_pids = remote.guest_pids()
    assert f"{domain}.pid" in guest_pids, guest_pids
    remote.kill_daemon()
    env.forget_host(remote.uri)
    cloud.extra_hosts.remove(remote_conn)
    host_liveness.run(env)
    with env.db.session_scope(readonly=True) as s:
        h = s.scalars(select(Host).where(Host.name == FAILED)).one()
        assert (h.liveness, h.forced_down, h.down_probes) == ("down", False, 1)
    # not fenced: no evacuation, by hand or automatically
    with pytest.raises(StateError, match="not confirmed fenced"):
        evacuate.evacuate(env, ctx, FAILED, accept_rebuild=True)
    assert host_failure.run(env).corrections == {"not-fenced": 1}

    # with a fence command, kumo serve's automatic mode fences, then evacuates
    from kumo.compute import fencing
    fencing.set_fence_command(env, ctx, FAILED,
                              str(remote.fence_script(remote.base / "fence.sh")))
    assert host_failure.run(env).corrections == {"fenced": 1, "evacuated": 1}
    assert remote.guest_pids() == {}  # powered off by the fence
    with env.db.session_scope(readonly=True) as s:
        inst = s.scalars(select(Instance).where(Instance.uuid == uuid)).one()
        assert (inst.node, inst.vm_state, inst.task_state) == ("local", "active", None)
        fence = s.scalars(select(JournalEntry).where(
            JournalEntry.operation == "host-fence")).one()
        assert (fence.state, fence.payload["exit_status"]) == ("done", 0)
        assert f"killed guest process {guest_pids[domain + '.pid']}\n" in fence.payload["stdout"]
        assert fence.payload["stdout"].endswith("host powered off\n")

    # the evacuated guest really boots here, its RTC still UTC+8
    assert cloud.conn.domain_state(domain) == "running"
    assert '<clock offset="timezone" timezone="Asia/Shanghai">' in \
        cloud.conn.domain_xml(domain).replace("'", '"')
    rtc, line = guest_reading(Path(env.pool_volume_path(console)))
    assert abs(rtc_hours_ahead(rtc) - 8) < 0.05, line

    # the failed host comes back: its stale domain of the evacuated server goes, unstarted
    remote.start()
    remote_conn = LibvirtHost(remote.uri)
    cloud.extra_hosts.append(remote_conn)
    assert remote_conn.domain_state(domain) == "shutoff"  # still defined there
    out = host_liveness.run(env)
    assert out.corrections.get("evacuated-domain-destroyed") == 1, out.corrections
    assert not remote_conn.domain_exists(domain)
    assert remote_conn.domain_exists(theirs)  # another installation's: left alone
    remote_conn.refresh_pool(env.pool_name)
    assert [v for v in remote_conn.list_volumes(env.pool_name) if uuid in v] == []
    assert f"{domain}.pid" not in remote.guest_pids()
    # started once on the failed host (its create), never again: QEMU's log there says so
    qemu_log = (remote.base / "cache" / "libvirt" / "qemu" / "log" / f"{domain}.log")
    assert qemu_log.read_text().count("starting up") == 1
    # the evacuated guest runs on, untouched
    assert cloud.conn.domain_state(domain) == "running"
    evacuate.set_fenced(env, ctx, FAILED, False)  # back in service
    remote_conn.undefine(theirs)
