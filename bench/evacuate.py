"""Evacuation speed: N servers off one failed host onto in-memory test hosts.

    .venv/bin/python bench/evacuate.py [--instances 500] [--targets 10] [--parallel 3]
                                       [--database-url URL]

Each host is kumo's in-memory test host (kumo.hosts.fake.FakeHost, one per URI; libvirt's own
test driver has no volume upload, virStorageVolUpload, which every create uses for the config
drive), so the figures are kumo's own work -- the scheduler's placement and claim, the journal
(a host-level entry, a create entry per server with its steps), the record's move, the guest
rendered from its record and its config drive built, the volume and define/start calls -- not
libvirt's or QEMU's.
The N servers are recorded on the failed host (fenced, never contacted, as after a real failure)
and half of them are stopped (defined, not started, on the target). Prints the wall time,
servers/s, the CPU seconds of this process, and the load average (on a shared machine the wall
time is noise; the CPU seconds are the figure to compare). SQLite in a temporary directory
unless --database-url.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from kumo.compute import evacuate, flavors, images, records, servers
from kumo.compute.states import now
from kumo.hosts.capabilities import default_host_caps
from kumo.hosts.fake import FakeHosts
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.db.claims import claim
from kumo.db.models import Host, Instance

def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=3)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="kumo-bench-evacuate-") as tmp:
        base = Path(tmp)
        environ = {"KUMO_DATA_DIR": str(base / "data"), "KUMO_DATABASE_URL": args.database_url,
                   "KUMO_IMAGE_DIR": "", "KUMO_POOL_NAME": "kumo-bench",
                   "KUMO_POOL_PATH": str(base / "pool"), "KUMO_LOG_LEVEL": "warning"}
        env = ComputeEnv.from_env(environ, stop_timeout_s=1.0)
        env.connect = FakeHosts()
        upgrade(env.settings.database_url)
        ctx = admin_context()
        per_target = -(-args.instances // args.targets)
        names = ["failed", *[f"target-{i:02d}" for i in range(args.targets)]]
        for name in names:
            # recorded with the embedded KVM host's capabilities and room for the servers
            size = args.instances if name == "failed" else per_target
            with env.db.session_scope() as s:
                h = Host(name=name, uri=f"fake:///{name}", vcpus=size, ram_mib=64 * size,
                         disk_gib=2 * size, cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0,
                         disk_allocation_ratio=1.0, last_heartbeat=now())
                h.set_capabilities(default_host_caps())
                s.add(h)
        flavors.create_flavor(env, ctx, "nano", vcpus=1, ram_mib=64, disk_gib=1)
        disk = base / "root.qcow2"
        os.system(f"qemu-img create -q -f qcow2 {disk} 1M")
        images.create_image(env, ctx, "linux", file=disk, disk_format="qcow2",
                            properties={"os_type": "linux", "hw_disk_bus": "virtio"})
        for i in range(args.instances):
            instance, _ = servers.new_instance(env, ctx, f"s-{i:04d}", image="linux",
                                               flavor="nano")
            with env.db.session_scope() as s:
                h = s.scalars(select(Host).where(Host.name == "failed")).one()
                assert claim(s, h.id, records.resources(instance))
                instance.host_id, instance.node = h.id, h.name
                instance.vm_state = "active" if i % 2 else "stopped"
                instance.task_state = None
                s.add(instance)
        with env.db.session_scope() as s:
            s.scalars(select(Host).where(Host.name == "failed")).one().liveness = "down"
        evacuate.set_fenced(env, ctx, "failed", True, "bench")

        cpu0, t0 = cpu_seconds(), time.perf_counter()
        summary = evacuate.evacuate(env, ctx, "failed", accept_rebuild=True,
                                    parallel=args.parallel)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        with env.db.session_scope(readonly=True) as s:
            left = s.query(Instance).filter(Instance.node == "failed").count()
        env.close()
    backend = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    print(f"evacuated {len(summary.moved)} of {args.instances} servers ({len(summary.failed)} "
          f"failed, {left} left) off one host onto {args.targets} in-memory hosts, "
          f"{args.parallel} at a time, {backend}")
    print(f"wall {wall:.1f} s, {len(summary.moved) / wall:.1f} servers/s; CPU {cpu:.1f} s "
          f"in this process ({cpu / max(1, len(summary.moved)) * 1000:.1f} ms per server); "
          f"{load()}")
    return 0 if not summary.failed and not left else 1


if __name__ == "__main__":
    sys.exit(main())
