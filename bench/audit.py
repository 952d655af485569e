"""Audit benchmark: ``kumo audit --all-projects`` (kumo.audit.fleet) over a fleet on libvirt's
test driver -- 10,000 instances on 100 hosts by default, each host its own test:///<file>
daemon whose domains are exactly what kumo renders for its instances (type 'test').

    PYTHONPATH=src .venv/bin/python bench/audit.py [--hosts 100] [--per-host 100] [--parallel 8]

Some drift is planted so the audit has work: 1 % of the domains with a clock offset that is not
the rules' (error), 0.5 % of the records with no domain (error), 20 domains of this installation
with no record (orphans), 20 of another installation (never reported), and 5 % of the instances
booted from an image that has since gained os_type=windows (seed 001). The run is done twice:
cold (the connections opened, which for the test driver includes parsing its file: a real
daemon holds its domains already) and warm (connections kept, as ``kumo serve``'s periodic audit
has them). Prints wall time, instances per second, CPU seconds of this process (the test
driver's work is in-process too), the time its threads were runnable but waited for a CPU (what
a loaded machine adds: /proc's schedstat), peak RSS, the findings, and the load average: figures
taken on a busy machine are depressed. A third run audits one host at a time (one working
thread: wall = CPU + waiting for a CPU + waiting on anything else), and the connection setup of
the cold run is measured on its own.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kumo import logs  # noqa: E402
from kumo.audit.fleet import audit  # noqa: E402
from kumo.compute.selection import Selection  # noqa: E402
from kumo.compute import domain_config, naming  # noqa: E402
from kumo.compute.context import admin_context  # noqa: E402
from kumo.compute.env import ComputeEnv  # noqa: E402
from kumo.config import Settings, sqlite_url  # noqa: E402
from kumo.db import Database, upgrade  # noqa: E402
from kumo.db.models import Host, Image, Instance  # noqa: E402
from kumo.db.base import new_uuid  # noqa: E402
from kumo.hosts.capabilities import default_host_caps  # noqa: E402
from sqlalchemy import select  # noqa: E402

#: image name -> (properties, share of the fleet)
IMAGES = {
    "win2019": ({"os_type": "windows", "os_distro": "windows", "hw_disk_bus": "sata"}, 0.35),
    "ubuntu": ({"os_type": "linux", "os_distro": "ubuntu", "hw_disk_bus": "virtio",
                "hw_qemu_guest_agent": "yes"}, 0.45),
    "centos": ({"os_type": "linux", "hw_disk_bus": "virtio"}, 0.15),
    "win2008-legacy": ({"hw_disk_bus": "sata"}, 0.05),  # gains os_type=windows below
}
FLAVORS = [(1, 1024, 10), (2, 4096, 40), (4, 8192, 80)]


def build(tmp: Path, hosts: int, per_host: int, rng: random.Random) -> ComputeEnv:
    url = sqlite_url(tmp / "bench.db")
    upgrade(url)
    env = ComputeEnv(db=Database(url), settings=Settings(data_dir=tmp))
    names, weights = list(IMAGES), [w for _, w in IMAGES.values()]
    with env.db.session_scope() as s:
        images = {}
        for name, (props, _) in IMAGES.items():
            img = Image(name=name, status="active", disk_format="qcow2",
                        container_format="bare", visibility="public", store_path="x")
            img.properties.update(props)
            s.add(img)
            s.flush()
            images[name] = img.id
        uuid_sets: list[tuple[Host, list[Instance]]] = []
        for h in range(hosts):
            host = Host(name=f"h{h:04d}", uri=f"test://{tmp}/h{h:04d}.xml", vcpus=512,
                        ram_mib=1 << 22, disk_gib=100000)
            host.set_capabilities(default_host_caps())
            s.add(host)
            s.flush()
            members = []
            for i in range(per_host):
                image = rng.choices(names, weights)[0]
                vcpus, ram, disk = rng.choice(FLAVORS)
                props = {**IMAGES[image][0], "disk_format": "qcow2",
                         "container_format": "bare"}
                inst = Instance(uuid=new_uuid(), name=f"s{h}-{i}", project_id="p", user_id="u",
                                vcpus=vcpus, ram_mib=ram, disk_gib=disk, host_id=host.id,
                                node=host.name, vm_state="active", power_state=1,
                                image_id=images[image], image_properties=props,
                                flavor_name=f"f{vcpus}")
                s.add(inst)
                members.append(inst)
            s.flush()
            uuid_sets.append((host, members))
        templates: dict[tuple, tuple[str, str]] = {}
        for host, members in uuid_sets:
            domains = []
            for inst in members:
                if rng.random() < 0.005:
                    continue  # a record whose domain is gone
                key = (host.id, inst.vcpus, repr(sorted(inst.image_properties.items())))
                if key not in templates:  # the real render, once per class
                    xml = domain_config.desired(env, inst, host).text
                    templates[key] = (inst.uuid, xml.replace('<domain type="kvm">',
                                                             '<domain type="test">', 1))
                first, xml = templates[key]
                xml = xml.replace(first, inst.uuid)
                if rng.random() < 0.01:  # clock drift
                    xml = xml.replace('<clock offset="utc">', '<clock offset="localtime">') \
                        if 'offset="utc"' in xml else \
                        xml.replace('<clock offset="localtime">', '<clock offset="utc">')
                domains.append(xml)
            (tmp / f"{host.name}.xml").write_text("<node>\n" + "".join(domains) + "</node>\n")
        # orphans (this installation's mark, no record) and another installation's domains
        for n in range(40):
            host = uuid_sets[n % hosts][0]
            first, xml = next(iter(templates.values()))
            ghost = new_uuid()
            xml = xml.replace(first, ghost)
            if n % 2:
                start = xml.index("<kumo:installation>") + len("<kumo:installation>")
                xml = xml[:start] + "another-installation" + xml[
                    xml.index("</kumo:installation>"):]
            path = tmp / f"{host.name}.xml"
            text = path.read_text()
            path.write_text(text.replace("</node>\n", xml + "</node>\n"))
        legacy = s.get(Image, images["win2008-legacy"])
        legacy.properties["os_type"] = "windows"  # seed 001: the image is fixed, not the guests
    return env


class RunQueueWait:
    """Seconds this process's threads spent runnable but waiting for a CPU (the second field
    of /proc/<pid>/task/<tid>/schedstat), summed over threads -- what a loaded machine adds
    to the wall time. Sampled every 20 ms, so threads that end (the audit's workers) are
    counted up to their last sample."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._start: dict[str, int] = {}
        self._stop = threading.Event()
        self._sampler_tid = ""
        self._sampler = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> dict[str, int]:
        out = {}
        for task in Path("/proc/self/task").iterdir():
            if task.name == self._sampler_tid:
                continue  # the sampler's own waits are not the audit's
            try:
                out[task.name] = int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                pass  # the thread ended meanwhile, or no schedstats in this kernel
        return out

    def _loop(self) -> None:
        self._sampler_tid = str(threading.get_native_id())
        while not self._stop.wait(0.02):
            self._last.update(self._sample())

    def __enter__(self) -> "RunQueueWait":
        self._start = self._sample()
        self._last = dict(self._start)
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join()
        self._last.update(self._sample())

    @property
    def seconds(self) -> float:
        return sum(v - self._start.get(t, 0) for t, v in self._last.items()) / 1e9


def run(env: ComputeEnv, parallel: int, label: str, total: int) -> None:
    cpu0, t0 = time.process_time(), time.perf_counter()
    # guest clocks are not read: the test driver's agent answers a fixed time in 1989
    with RunQueueWait() as waited:
        report = audit(env, admin_context(), Selection(all_projects=True), parallel=parallel,
                       guest_clock=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ids = Counter((f.severity, f.id) for f in report.findings)
    print(f"{label}: {report.instances} instances on {report.hosts} hosts in {wall:.2f} s "
          f"({report.instances / wall:,.0f} instances/s), {cpu:.2f} CPU s, "
          f"{waited.seconds:.2f} s runnable but waiting for a CPU (threads summed; wall - CPU "
          f"- that: {wall - cpu - waited.seconds:+.2f} s), "
          f"{report.renders} configurations rendered, {report.parses} XML shapes parsed; load "
          f"average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("   findings: " + ", ".join(f"{n} {sev} {id}" for (sev, id), n in sorted(ids.items())))
    assert report.instances == total


def connect(env: ComputeEnv) -> None:
    """What the cold run adds: the hosts' connections opened again, one after another."""
    with env.db.session_scope(readonly=True) as s:
        uris = list(s.scalars(select(Host.uri)))
    for uri in uris:
        env.forget_host(uri)
    cpu0, t0 = time.process_time(), time.perf_counter()
    with RunQueueWait() as waited:
        for uri in uris:
            env.host(uri).domain_states()
    print(f"connection setup: {len(uris)} hosts connected (and listed) in "
          f"{time.perf_counter() - t0:.2f} s, {time.process_time() - cpu0:.2f} CPU s, "
          f"{waited.seconds:.2f} s waiting for a CPU (the test driver parses its file here: a "
          "real libvirtd holds its domains already)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=100)
    p.add_argument("--per-host", type=int, default=100)
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args()
    logs.setup("error")
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        env = build(Path(tmp), args.hosts, args.per_host, random.Random(args.seed))
        total = args.hosts * args.per_host
        print(f"fleet built in {time.perf_counter() - t0:.1f} s: {total} instances on "
              f"{args.hosts} test:/// hosts; audit with --parallel {args.parallel}")
        run(env, args.parallel, "cold (connections opened)", total)
        run(env, args.parallel, "warm (connections kept)  ", total)
        # one host at a time: one thread works, so wall = CPU + waiting for a CPU + waiting
        # on anything else (the database, the hosts)
        run(env, 1, "warm, --parallel 1       ", total)
        connect(env)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MiB (the 100 test-driver daemons' domains included: they "
              "live in this process)")
        env.close()


if __name__ == "__main__":
    main()
