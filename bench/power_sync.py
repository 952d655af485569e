"""Power-state sync benchmark: one run of kumo serve's power sync (kumo.periodic.power_sync) over
a fleet of in-memory fake hosts (kumo.hosts.fake.FakeHost) recorded in a SQLite database.

    .venv/bin/python bench/power_sync.py [--hosts 50] [--per-host 200] [--changed 0.05]

Prints, for the steady state (every record right) and for a run where a fraction of the guests
shut off behind kumo's back, the run's wall time and instances checked per second. The hosts
answer at memory speed, so the figure is kumo's own cost (queries and corrections), not
libvirt's.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kumo import logs  # noqa: E402
from kumo.compute import naming  # noqa: E402
from kumo.compute.env import ComputeEnv  # noqa: E402
from kumo.config import Settings, sqlite_url  # noqa: E402
from kumo.db import Database, upgrade  # noqa: E402
from kumo.db.models import Host, Instance  # noqa: E402
from kumo.hosts.capabilities import default_host_caps  # noqa: E402
from kumo.hosts.fake import FakeDomain, FakeHosts  # noqa: E402
from kumo.hosts.protocol import DomainState  # noqa: E402
from kumo.periodic import power_sync  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--per-host", type=int, default=200)
    p.add_argument("--changed", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    rng = random.Random(args.seed)
    logs.setup("error")  # the corrections' log lines are not the figure
    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp) / "bench.db")
        upgrade(url)
        env = ComputeEnv(db=Database(url), settings=Settings(data_dir=Path(tmp)))
        fakes = FakeHosts()
        env.connect = fakes
        uuids: dict[str, list[str]] = {}
        with env.db.session_scope() as s:
            for h in range(args.hosts):
                host = Host(name=f"h{h:04d}", uri=f"fake:///h{h:04d}", vcpus=64, ram_mib=1 << 20,
                            disk_gib=10000)
                host.set_capabilities(default_host_caps())
                s.add(host)
                s.flush()
                for i in range(args.per_host):
                    inst = Instance(name=f"s{h}-{i}", project_id="p", user_id="u", vcpus=1,
                                    ram_mib=256, disk_gib=1, host_id=host.id, vm_state="active",
                                    power_state=1)
                    s.add(inst)
                    s.flush()
                    uuids.setdefault(host.uri, []).append(inst.uuid)
        for uri, members in uuids.items():
            fake = fakes[uri]
            for uuid in members:
                name = naming.domain_name(uuid)
                fake.domains[name] = FakeDomain(name, "<domain/>", DomainState.RUNNING)
        total = args.hosts * args.per_host
        t0 = time.perf_counter()
        out = power_sync.run(env)
        steady = time.perf_counter() - t0
        print(f"steady state: {total} instances on {args.hosts} hosts in {steady:.2f} s "
              f"({total / steady:,.0f} instances/s): {out.summary}")
        changed = 0
        for uri, members in uuids.items():
            for uuid in members:
                if rng.random() < args.changed:
                    fakes[uri].domains[naming.domain_name(uuid)].state = DomainState.SHUTOFF
                    changed += 1
        t0 = time.perf_counter()
        out = power_sync.run(env)
        run = time.perf_counter() - t0
        print(f"{changed} guests shut off: {total} instances in {run:.2f} s "
              f"({total / run:,.0f} instances/s, {run / max(changed, 1) * 1000:.1f} ms per "
              f"correction): {out.summary}")
        env.db.dispose()


if __name__ == "__main__":
    main()
