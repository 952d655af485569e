"""kumo serve on the real libvirtd: a guest destroyed outside kumo (``virsh destroy``) and a
guest that powers itself off are recorded SHUTOFF within one power-sync interval, each with an
instance event saying what was seen; /healthcheck and /metrics answer from the live process;
a second kumo serve on the same SQLite file refuses to start; SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from kumo.compute import naming, servers
from kumo.compute.states import now
from kumo.periodic import power_sync
from tests.e2e.serve_support import Serve, clean_up, make_cloud, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYNC_S = 4.0
#: the sync's own run and the test's polling, on a loaded 2-core machine
SLACK_S = 3.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, system_libvirt):
    c = make_cloud(tmp_path_factory.mktemp("serve-sync"), system_libvirt)
    yield c
    clean_up(c)


def _status(cloud, uuid):
    return servers.show_server(cloud.env, cloud.ctx, uuid)["status"]


def _events(cloud, uuid):
    from sqlalchemy import select

    from kumo.db.models import JournalEntry
    with cloud.env.db.session_scope(readonly=True) as s:
        return [e.payload["message"] for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid == uuid,
                                       JournalEntry.operation == power_sync.EVENT))]


def _off_then_recorded(cloud, uuid):
    """Seconds from the domain being off (as libvirt says) to the record saying SHUTOFF."""
    name = naming.domain_name(uuid)
    off = wait_for(lambda: cloud.conn.domain_state(name) == "shutoff" and time.monotonic(), 90,
                   0.1)
    assert off, f"domain {name} never shut off"
    recorded = wait_for(lambda: _status(cloud, uuid) == "SHUTOFF" and time.monotonic(),
                        SYNC_S + 30, 0.1)
    assert recorded, f"server {uuid} still {_status(cloud, uuid)}"
    return recorded - off


def test_guests_that_stop_outside_kumo_are_recorded_shutoff(cloud):
    serve = Serve.start(cloud, "ctl-sync", sync_power_state_interval=SYNC_S,
                        host_probe_interval=2, recovery_interval=2, image_cache_interval=0)
    try:
        victim = servers.create_server(cloud.env, cloud.ctx, "victim", image="linux",
                                       flavor="tiny").server["id"]
        assert _status(cloud, victim) == "ACTIVE"
        before = now()
        subprocess.run(["virsh", "-c", "qemu:///system", "destroy",
                        naming.domain_name(victim)], check=True, capture_output=True)
        lag = _off_then_recorded(cloud, victim)
        print(f"virsh destroy -> SHUTOFF recorded in {lag:.1f} s (interval {SYNC_S:g} s)")
        assert lag <= SYNC_S + SLACK_S, f"recorded {lag:.1f} s after the destroy"
        [event] = _events(cloud, victim)
        assert event.startswith(f"domain {naming.domain_name(victim)} found shutoff on host "
                                "local at ")
        assert event.endswith(": destroyed (powered off from the host); recorded SHUTOFF")
        seen_at = event.split(" at ", 1)[1].split(": ", 1)[0]
        assert seen_at >= before.isoformat(timespec="seconds")
        view = servers.show_server(cloud.env, cloud.ctx, victim)
        assert (view["status"], view["power_state"], view["fault"]) == (
            "SHUTOFF", "shutdown", None)

        selfoff = servers.create_server(cloud.env, cloud.ctx, "self-off",
                                        image="linux-poweroff", flavor="tiny").server["id"]
        lag = _off_then_recorded(cloud, selfoff)  # the guest powers off 6 s after booting
        print(f"guest poweroff -> SHUTOFF recorded in {lag:.1f} s (interval {SYNC_S:g} s)")
        assert lag <= SYNC_S + SLACK_S, f"recorded {lag:.1f} s after the guest powered off"
        [event] = _events(cloud, selfoff)
        assert event.endswith(": the guest shut itself down; recorded SHUTOFF")
        assert cloud.conn.domain_state(naming.domain_name(selfoff)) == "shutoff"  # not restarted

        health = httpx.get(serve.url("/healthcheck"), timeout=10)
        assert health.status_code == 200
        assert health.json()["hosts"]["local"]["state"] == "up"
        text = httpx.get(serve.url("/metrics"), timeout=10).text
        assert 'kumo_state_corrections_total{kind="shut-off",task="power-sync"} 2.0' in text
        assert 'kumo_hosts{state="up"} 1.0' in text
        assert 'kumo_instances{vm_state="stopped"} 2.0' in text

        second = subprocess.run(
            [sys.executable, "-m", "kumo.cli.main", "serve"], capture_output=True, text=True,
            timeout=60, env={**serve_env(cloud), "KUMO_PORT": "1"})
        assert second.returncode == 2
        assert second.stderr == (
            f"kumo: error: another kumo serve (pid {serve.proc.pid}) already runs on the SQLite "
            f"database {cloud.env.settings.data_dir}/kumo.db: SQLite allows one controller; "
            "stop it, or use PostgreSQL (database_url) for several\n")
    finally:
        rc = serve.terminate()
    assert rc == 0
    messages = [line["message"] for line in serve.lines()]
    assert "received SIGTERM" in messages
    assert messages[-1].startswith("controller ctl-sync:") and messages[-1].endswith(" stopped")


def serve_env(cloud):
    env = {**os.environ, **cloud.environ}
    env.pop("KUMO_FAILPOINT", None)
    return env
