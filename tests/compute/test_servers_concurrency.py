"""200 concurrent creates against capacity for 100, through the service layer (SQLite and
PostgreSQL): each thread runs create's scheduling-and-recording phase
(``servers.schedule_and_record``: heartbeats, place, guest plan on the chosen host, the host asked,
instance and journal recorded) -- everything but the boot, which would need 200 real guests.

Exactly 100 are recorded on a host, no host over its limit and every host's counters equal to
what its recorded instances hold; the other 100 are recorded ERROR with the summary
``kumo placement explain`` gives as their fault."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import select

from kumo.compute import flavors, images, servers
from kumo.db.models import Host, Instance, JournalEntry
from tests.support.hosts import add_host
from kumo.scheduler import service
from kumo.scheduler.errors import NoValidHost

THREADS = 200
SUMMARY = "0/10 hosts: 10 insufficient vCPU (requested 1 vCPU, largest free 0 vCPU)"


def test_200_concurrent_creates_against_capacity_for_100(env, admin, image_file):
    images.create_image(env, admin, "linux", file=image_file, disk_format="qcow2",
                        properties={"os_type": "linux"}, visibility="public")
    flavors.create_flavor(env, admin, "c1", vcpus=1, ram_mib=1024, disk_gib=10)
    for i in range(10):  # room for ten c1 each (ratios 1.0); answered a moment ago
        add_host(env.db, f"h{i}", vcpus=10, ram_mib=10240, disk_gib=100,
                 cpu_allocation_ratio=1.0, last_heartbeat=datetime.now(timezone.utc))
    env.host("test:///default").node_info()  # one connection, opened before the threads share it
    todo = [servers.new_instance(env, admin, f"vm-{i}", image="linux", flavor="c1")[0]
            for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    recorded: list[str] = []
    refused: list[NoValidHost] = []
    other: list[BaseException] = []
    lock = threading.Lock()

    def create(instance: Instance) -> None:
        barrier.wait()
        try:
            servers.schedule_and_record(env, admin, instance)
            with lock:
                recorded.append(instance.uuid)
        except NoValidHost as e:
            with lock:
                refused.append(e)
        except BaseException as e:  # reported below, not lost in a thread
            with lock:
                other.append(e)

    threads = [threading.Thread(target=create, args=(i,)) for i in todo]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert other == []
    assert (len(recorded), len(refused)) == (100, 100)

    with env.db.session_scope(readonly=True) as s:
        hosts = {h.id: h for h in s.scalars(select(Host))}
        rows = list(s.scalars(select(Instance)))
        entries = Counter((e.step, e.state) for e in s.scalars(select(JournalEntry)))
    placed = [i for i in rows if i.host_id is not None]
    assert sorted(i.uuid for i in placed) == sorted(recorded)
    assert all((i.vm_state, i.task_state) == ("building", "spawning") for i in placed)
    per_host = Counter(i.host_id for i in placed)
    for host_id, h in hosts.items():
        mine = [i for i in placed if i.host_id == host_id]
        # the counters are exactly what the recorded instances hold, and within the limits
        assert (h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count) == (
            sum(i.vcpus for i in mine), sum(i.ram_mib for i in mine),
            sum(i.disk_gib for i in mine), len(mine)), h.name
        assert h.used_vcpus <= h.vcpus and h.used_ram_mib <= h.ram_mib
        assert h.used_disk_gib <= h.disk_gib
        assert per_host[host_id] == 10, h.name

    spec = service.request_spec_for_instance(todo[0])
    config = service.load_config(settings=env.settings)
    assert service.explain(env.db, spec, config).summary == SUMMARY
    assert {e.summary for e in refused} == {SUMMARY}
    failed = [i for i in rows if i.host_id is None]
    assert len(failed) == 100
    assert {(i.vm_state, i.task_state, i.fault_reason) for i in failed} == {
        ("error", None, SUMMARY)}
    assert entries == {("claimed", "in-progress"): 100, ("scheduling", "failed"): 100}
