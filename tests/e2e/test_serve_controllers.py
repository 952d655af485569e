"""Two kumo serve processes on one PostgreSQL database and the real libvirtd.

A ``kumo server create`` is killed after defining the domain (its controller is gone). One of
the two controllers takes the create over and is frozen there (SIGSTOP, as a hung machine), and
the test SIGKILLs it in the middle of the create. The other finishes it within the journal
lease plus one recovery interval: the server ACTIVE and running, one domain, the journal entry
done once. From both controllers' JSON logs: each periodic task ran on one of them at a time
(no two runs of a task overlap), and the create was taken over exactly once by each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
from sqlalchemy import select

from kumo.compute import naming, servers
from kumo.db.models import JournalEntry
from tests.db.fixtures import DatabaseMaker, pg_admin_url  # noqa: F401
from tests.e2e.serve_support import Serve, clean_up, make_cloud, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

LEASE_S, RECOVERY_S = 6.0, 2.0
#: define and start of a TCG guest, and polling, on a loaded 2-core machine
WORK_S = 15.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, system_libvirt, pg_admin_url):  # noqa: F811
    base = tmp_path_factory.mktemp("serve-two")
    maker = DatabaseMaker("postgresql", base, pg_admin_url)
    c = make_cloud(base, system_libvirt, maker.new_url())
    yield c
    try:
        clean_up(c)
    finally:
        maker.drop_all()


def _runs(serve: Serve, end: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """task -> [(start, finish)] from a controller's log; a run never finished ends at ``end``."""
    started: dict[str, tuple[str, datetime]] = {}
    runs: dict[str, list[tuple[datetime, datetime]]] = {}
    for line in serve.lines():
        msg, at = line["message"], datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
        if msg.startswith("periodic task ") and ": run " in msg:
            task = msg[len("periodic task "):].split(":", 1)[0]
            if msg.endswith("run started"):
                started[line["request_id"]] = (task, at)
            elif line["request_id"] in started:
                task, t0 = started.pop(line["request_id"])
                runs.setdefault(task, []).append((t0, at))
    for task, t0 in started.values():
        runs.setdefault(task, []).append((t0, end))
    return runs


def test_a_controller_killed_mid_create_is_taken_over_by_the_other(cloud):
    armed = {"KUMO_FAILPOINT": "create:after-define", "KUMO_FAILPOINT_ACTION": "stop",
             "KUMO_FAILPOINT_ONCE": str(cloud.base / "fired")}
    common = dict(journal_lease=LEASE_S, recovery_interval=RECOVERY_S, host_probe_interval=1,
                  sync_power_state_interval=2, image_cache_interval=2, **armed)
    a = Serve.start(cloud, "ctl-a", **common)
    b = Serve.start(cloud, "ctl-b", **common)
    survivor = None
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "kumo.cli.main", "server", "create", "web", "--image",
             "linux", "--flavor", "tiny"], capture_output=True, text=True, timeout=120,
            env={**os.environ, **cloud.environ, "KUMO_CONTROLLER_NAME": "cli-box",
                 "KUMO_JOURNAL_LEASE": str(LEASE_S), "KUMO_FAILPOINT": "create:after-define"})
        assert cli.returncode == -signal.SIGKILL, cli.stderr
        [uuid] = [s["id"] for s in servers.list_servers(cloud.env, cloud.ctx)]

        frozen = wait_for(lambda: next((s for s in (a, b) if s.stopped()), None),
                          LEASE_S + RECOVERY_S + WORK_S)
        assert frozen is not None, "no controller took the dead command's create over"
        survivor = b if frozen is a else a
        killed_at = datetime.now().astimezone()
        t_kill = time.monotonic()
        frozen.kill()

        def done():
            with cloud.env.db.session_scope(readonly=True) as s:
                entry = s.scalars(select(JournalEntry).where(
                    JournalEntry.instance_uuid == uuid)).one()
                return entry.state == "done" and (entry.state, entry.owner)
        finished = wait_for(done, LEASE_S + RECOVERY_S + WORK_S)
        took = time.monotonic() - t_kill
        print(f"{survivor.name} finished the create {took:.1f} s after {frozen.name} was "
              f"killed (lease {LEASE_S:g} s, recovery interval {RECOVERY_S:g} s)")
        assert finished, "the surviving controller did not finish the create"
        assert finished[1].startswith(f"{survivor.name}:")
        assert took <= LEASE_S + RECOVERY_S + WORK_S

        view = servers.show_server(cloud.env, cloud.ctx, uuid)
        assert (view["status"], view["power_state"], view["fault"]) == ("ACTIVE", "running",
                                                                         None)
        domains = [d for d in cloud.conn.list_domains() if naming.instance_of_domain(d) == uuid]
        assert domains == [naming.domain_name(uuid)]
        assert cloud.conn.domain_state(domains[0]) == "running"
        with cloud.env.db.session_scope(readonly=True) as s:
            ops = [(e.operation, e.state) for e in s.scalars(
                select(JournalEntry).where(JournalEntry.instance_uuid == uuid))]
        assert ops == [("create", "done")]  # one operation, finished once

        takeovers = {s.name: [line["message"] for line in s.lines()
                              if line["message"].startswith("taking over create")]
                     for s in (a, b)}
        assert len(takeovers[frozen.name]) == 1 and " from cli-box:" in takeovers[frozen.name][0]
        assert len(takeovers[survivor.name]) == 1
        assert f" from {frozen.name}:" in takeovers[survivor.name][0]

        end = datetime.now().astimezone()
        runs_a, runs_b = _runs(a, min(end, killed_at) if frozen is a else end), \
            _runs(b, min(end, killed_at) if frozen is b else end)
        for task in ("host-liveness", "power-sync", "recovery", "image-cache"):
            mine, theirs = runs_a.get(task, []), runs_b.get(task, [])
            assert mine or theirs, f"{task} never ran"
            overlaps = [(x, y) for x in mine for y in theirs if x[0] < y[1] and y[0] < x[1]]
            assert overlaps == [], f"{task} ran on both controllers at once: {overlaps[:3]}"
        print({t: (len(runs_a.get(t, [])), len(runs_b.get(t, []))) for t in
               ("host-liveness", "power-sync", "recovery", "image-cache")})
        assert survivor.terminate() == 0  # SIGTERM: a clean stop
    finally:
        for s in (a, b):  # whatever failed above: no controller left behind
            s.kill()
