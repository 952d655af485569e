"""SIGKILL during a 50-server evacuation, then a re-run: every server on exactly one host, the
database and libvirt agreeing (issue 14).

The failed host is a record whose daemon is gone (a URI to a socket nothing listens on): 50
servers are recorded on it, as creates there left them, 3 running and 47 stopped. The target is
the machine's real libvirtd. ``kumo host evacuate`` runs in a process of its own, 3 servers at a
time, and SIGKILLs itself at the failpoint after the 20th move is committed (other moves are
mid-build then); the next ``kumo host evacuate`` recovers what the dead one left and finishes.
Stopped servers are defined and left off (as Nova keeps vm_state), so only 3 TCG guests boot.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kumo.compute import evacuate, naming
from kumo.db.models import Host, Instance, JournalEntry, UNFINISHED_STATES
from tests.e2e.evacuation_support import make_cloud
from tests.support.hosts import add_host

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAILED = "XXXX-HOST-YYYY34"
COUNT, RUNNING = 50, 3


@pytest.fixture
def cloud(tmp_path, system_libvirt):
    c = make_cloud(tmp_path, system_libvirt)
    yield c
    c.close()


def test_sigkill_mid_evacuation_and_rerun_leave_each_server_on_one_host(cloud):
    env, ctx = cloud.env, cloud.ctx
    # room for 50 tiny servers on this 2-core machine's host record (none boots but 3)
    r = cloud.kumo("host", "set", "local", "--cpu-allocation-ratio", "64",
                   "--ram-allocation-ratio", "8", "--disk-allocation-ratio", "64")
    assert r.returncode == 0, r.stderr
    dead = f"qemu+unix:///system?socket={cloud.base}/dead/libvirt-sock"
    add_host(env.db, FAILED, dead, vcpus=64, ram_mib=65536, disk_gib=1000)
    states = {}
    for i in range(COUNT):
        state = "active" if i < RUNNING else "stopped"
        uuid = cloud.record_on(FAILED, f"e-{i:02d}", "linux", state)
        states[uuid] = state
    evacuate.set_fenced(env, ctx, FAILED, True, "powered off (its daemon is gone)")

    killed = cloud.kumo("host", "evacuate", FAILED, "--accept-rebuild", "--parallel", "3",
                        failpoint="evacuate:after-move@20")
    assert killed.returncode == -9, (killed.returncode, killed.stdout[-2000:],
                                     killed.stderr[-2000:])
    with env.db.session_scope(readonly=True) as s:
        moved_before = s.query(Instance).filter(Instance.node == "local").count()
    assert 20 <= moved_before < COUNT  # killed in the middle

    done = cloud.kumo("host", "evacuate", FAILED, "--accept-rebuild", "--parallel", "3")
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert done.stdout.splitlines()[-1].startswith(f"evacuation of {FAILED}: ")
    assert ", 0 failed" in done.stdout.splitlines()[-1]

    # the database: every server on local, in the state it had, nothing in flight
    with env.db.session_scope(readonly=True) as s:
        rows = list(s.scalars(select(Instance).where(Instance.deleted.is_(False))))
        got = {i.uuid: (i.node, i.vm_state, i.task_state) for i in rows}
        unfinished = s.scalars(select(JournalEntry).where(
            JournalEntry.state.in_(UNFINISHED_STATES))).all()
        finished_moves: dict[str, int] = {}
        for e in s.scalars(select(JournalEntry).where(JournalEntry.operation == "create",
                                                      JournalEntry.state == "done")):
            if e.payload.get("evacuated_from") == FAILED:
                finished_moves[e.instance_uuid] = finished_moves.get(e.instance_uuid, 0) + 1
        counters = {h.name: (h.instance_count, h.used_vcpus) for h in s.scalars(select(Host))}
    assert got == {u: ("local", st, None) for u, st in states.items()}
    assert unfinished == []
    assert finished_moves == {u: 1 for u in states}  # each moved once, none twice
    assert counters[FAILED] == (0, 0) and counters["local"] == (COUNT, COUNT)

    # the host: exactly one domain per server, running or off as recorded, and nothing else
    domains = cloud.ours(cloud.conn)
    assert domains == {naming.domain_name(u): ("running" if st == "active" else "shutoff")
                       for u, st in states.items()}
    orphans = cloud.kumo("host", "orphans", "local", "-f", "value")
    assert (orphans.returncode, orphans.stdout) == (0, ""), orphans.stderr
