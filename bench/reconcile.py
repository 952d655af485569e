"""Reconcile benchmark: ``kumo reconcile --from-image`` planned and applied over a fleet of
stopped servers on in-memory fake hosts (kumo.hosts.fake.FakeHost), recorded in SQLite.

    PYTHONPATH=src .venv/bin/python bench/reconcile.py [--hosts 10] [--per-host 100]

Every server was booted from an image without os_type that since gained os_type=windows (the
fleet fix reconcile exists for). Prints the plan (render, read back and diff every domain) and
the apply (per server: one unit of work changing the record with its audit entry and run item,
the domain defined again, the entry finished) as servers per second, wall and CPU time, and the
load average. The hosts answer at memory speed: the figures are kumo's own cost (rendering,
diffing, the database's commits), not libvirt's.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kumo import logs  # noqa: E402
from kumo.compute import spawn  # noqa: E402
from kumo.compute.context import admin_context  # noqa: E402
from kumo.compute.env import ComputeEnv  # noqa: E402
from kumo.compute.reconcile import Request, plan  # noqa: E402
from kumo.compute.reconcile_run import apply  # noqa: E402
from kumo.compute.selection import Selection  # noqa: E402
from kumo.config import Settings, sqlite_url  # noqa: E402
from kumo.db import Database, upgrade  # noqa: E402
from kumo.db.models import Host, Image, Instance, PowerState  # noqa: E402
from kumo.hosts.capabilities import default_host_caps  # noqa: E402
from kumo.hosts.fake import FakeHosts  # noqa: E402


def _timed(label: str, servers: int, work) -> object:
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = work()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"{label}: {servers} servers in {wall:.2f} s wall ({servers / wall:,.0f}/s), "
          f"{cpu:.2f} CPU-s ({cpu / servers * 1000:.2f} ms CPU per server)")
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=10)
    p.add_argument("--per-host", type=int, default=100)
    args = p.parse_args()
    logs.setup("error")
    total = args.hosts * args.per_host
    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp) / "bench.db")
        upgrade(url)
        env = ComputeEnv(db=Database(url), settings=Settings(data_dir=Path(tmp)),
                         pool_path=f"{tmp}/pool")
        fakes = FakeHosts()
        env.connect = fakes
        with env.db.session_scope() as s:
            image = Image(name="win", disk_format="qcow2", container_format="bare",
                          status="active", project_id="admin", visibility="public",
                          store_path="x", properties={"os_type": "windows"})
            s.add(image)
            s.flush()
            for h in range(args.hosts):
                host = Host(name=f"h{h:04d}", uri=f"fake:///h{h:04d}", vcpus=1024,
                            ram_mib=1 << 22, disk_gib=100000)
                host.set_capabilities(default_host_caps())
                s.add(host)
                s.flush()
                for i in range(args.per_host):
                    inst = Instance(name=f"s{h}-{i}", project_id="admin", user_id="admin",
                                    image_id=image.id, vcpus=1, ram_mib=256, disk_gib=1,
                                    image_properties={"disk_format": "qcow2"},
                                    host_id=host.id, vm_state="stopped",
                                    power_state=PowerState.SHUTDOWN.value)
                    s.add(inst)
                    s.flush()
                    fakes[host.uri].define(spawn.render(env, inst, host)[0])
        request = Request(Selection(all_projects=True), from_image=True)
        ctx = admin_context()
        print(f"{total} stopped servers on {args.hosts} fake hosts; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        plans = _timed("plan", total, lambda: plan(env, ctx, request))
        assert sum(1 for x in plans if x.diff) == total  # type: ignore[attr-defined]
        report = _timed("apply", total, lambda: apply(env, ctx, request))
        assert report.counts() == {"changed": total}, report.counts()  # type: ignore
        again = _timed("re-run (nothing to change)", total, lambda: apply(env, ctx, request))
        assert again.counts() == {"unchanged": total}, again.counts()  # type: ignore
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MiB; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        env.close()


if __name__ == "__main__":
    main()
