"""Create and delete speed: ``kumo`` (in one process, as a long-running controller runs it) against
raw ``virsh`` on the same XML, on the real libvirtd (qemu:///system, TCG), interleaved.

    .venv/bin/python bench/create.py [--rounds 7]

Three sides, each a create followed at once by its delete, the order of the sides rotating from
round to round, so that no side's create runs while another side's guest boots (a TCG guest
booting takes a core; the kumo side used to run first with the others timed under its boot):
  kumo      servers.create_server: validate, place (database claim), record, journal, root
            volume from the image, config drive built in memory and uploaded, define, start;
            then servers.delete_server: destroy, undefine, volumes deleted, claim released
  virsh     ``virsh define`` + ``virsh start`` of the XML kumo defined for its warm-up server
            (renamed, with copies of its volumes made beforehand and not timed); then
            ``virsh destroy`` + ``virsh undefine`` + ``virsh vol-delete`` of each volume
  api       the same calls through libvirt-python on one open connection: the floor (each virsh
            command is a process of its own that connects to libvirtd)
For each: the median wall time, the CPU time of the client (kumo's process, the virsh
processes, this process for api) and of libvirtd (/proc/PID/stat, in 10 ms ticks) --
wall time is what the targets are about, CPU what a loaded machine leaves comparable. The guest
is kumo's tiny guest (a cloud kernel and busybox initramfs, kumo.tiny_guest via the demo's
files, and a 1 MiB qcow2 root). Everything is made in a database, image store and storage pool
of this run's own and removed at the end. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import libvirt
from lxml import etree

from kumo.cli.demo import GUEST_CMDLINE, build_guest_files
from kumo.compute import flavors, hosts, images, journal, naming, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.hosts.libvirt_host import LibvirtHost

URI = "qemu:///system"


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def virsh(*argv: str) -> None:
    subprocess.run(["virsh", "-q", "-c", URI, *argv], check=True, capture_output=True)


def raw_copy(xml: str, name: str, workdir: Path, pool_path: str) -> tuple[str, list[str]]:
    """kumo's domain XML renamed to ``name``, every instance volume it names copied (untimed)
    to a new file in the pool directory: the same guest for ``virsh define``. Returns the XML
    and the copied volume paths."""
    root = etree.fromstring(xml.encode())
    root.find("name").text = name
    uuid = root.find("uuid")
    if uuid is not None:
        root.remove(uuid)
    copies: list[str] = []
    for src in root.iter("source"):
        for attr in ("file", "path"):
            path = src.get(attr)
            # the instance's own volumes; the image volumes (kernel, ramdisk) are shared by
            # every guest on the host, as kumo's image cache shares them
            if (path and path.startswith(pool_path) and os.path.exists(path)
                    and not naming.image_of_volume(os.path.basename(path))):
                new = os.path.join(pool_path, f"{name}-{len(copies)}-{os.path.basename(path)}")
                subprocess.run(["cp", "--reflink=auto", path, new], check=True)
                src.set(attr, new)
                copies.append(new)
    for log in root.iter("log"):
        if log.get("file"):
            log.set("file", str(workdir / f"{name}.log"))
    return etree.tostring(root, encoding="unicode"), copies


def libvirtd_cpu_s() -> float:
    """CPU seconds (user + system) libvirtd has used, its exited threads' included (a domain's
    threads end with it, so a sum over the live threads' schedstat can go down); clock ticks,
    so 10 ms steps: read the medians, not one round. 0.0 when it cannot be read."""
    try:
        pid = Path("/var/run/libvirtd.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Meter:
    """Wall, client CPU and libvirtd CPU of one timed piece of work."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.client: dict[str, list[float]] = {}
        self.daemon: dict[str, list[float]] = {}

    def __call__(self, key: str, work, *, children: bool = False) -> None:
        def cpu() -> float:
            if children:  # the virsh processes
                r = resource.getrusage(resource.RUSAGE_CHILDREN)
                return r.ru_utime + r.ru_stime
            return time.process_time()
        c0, d0, t0 = cpu(), libvirtd_cpu_s(), time.perf_counter()
        work()
        t1, d1, c1 = time.perf_counter(), libvirtd_cpu_s(), cpu()
        self.wall.setdefault(key, []).append(t1 - t0)
        self.client.setdefault(key, []).append(c1 - c0)
        self.daemon.setdefault(key, []).append(d1 - d0)

    def medians(self, key: str) -> tuple[float, float, float]:
        return (statistics.median(self.wall[key]), statistics.median(self.client[key]),
                statistics.median(self.daemon[key]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="kumo-bench-create-"))
    environ = {"KUMO_DATA_DIR": str(base / "data"), "KUMO_DATABASE_URL": "",
               "KUMO_IMAGE_DIR": "", "KUMO_POOL_NAME": f"kumo-bench-{secrets.token_hex(4)}",
               "KUMO_POOL_PATH": str(base / "pool")}
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    conn = LibvirtHost(URI)
    raw_domains: list[str] = []
    meter = Meter()
    lv = libvirt.open(URI)  # the in-process floor: one open connection, no virsh processes
    try:
        hosts.add_host(env, ctx, "local", URI, virt_type="qemu")
        flavors.create_flavor(env, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
        kernel, initramfs = build_guest_files(base / "guest")
        aki = images.create_image(env, ctx, "kernel", file=kernel, disk_format="aki")["id"]
        ari = images.create_image(env, ctx, "ramdisk", file=initramfs, disk_format="ari")["id"]
        root = base / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"], check=True)
        images.create_image(env, ctx, "linux", file=root, disk_format="qcow2", properties={
            "os_type": "linux", "kernel_id": aki, "ramdisk_id": ari,
            "os_command_line": GUEST_CMDLINE})
        # one warm-up create and delete (first image copy into the pool, imports, caches); its
        # XML and volumes, copied, are the template of the virsh and api sides' guests
        warm = servers.create_server(env, ctx, "warm", image="linux", flavor="tiny")
        template, _ = raw_copy(conn.domain_xml(naming.domain_name(warm.server["id"])),
                               f"kumo-bench-tpl-{secrets.token_hex(4)}", base, env.pool_path)
        servers.delete_server(env, ctx, warm.server["id"])
        print(f"{args.rounds} rounds on {URI} (TCG), {load()}")

        def kumo_side(k: int) -> None:
            made: list[str] = []
            meter("kumo create", lambda: made.append(servers.create_server(
                env, ctx, f"b{k}", image="linux", flavor="tiny").server["id"]))
            meter("kumo delete", lambda: servers.delete_server(env, ctx, made[0]))

        def virsh_side(k: int) -> None:
            name = f"kumo-bench-raw-{secrets.token_hex(4)}"
            xml, copies = raw_copy(template, name, base, env.pool_path)
            xml_file = base / f"{name}.xml"
            xml_file.write_text(xml)
            virsh("pool-refresh", env.pool_name)

            def create() -> None:
                virsh("define", str(xml_file))
                raw_domains.append(name)
                virsh("start", name)

            def delete() -> None:
                virsh("destroy", name)
                virsh("undefine", name)
                for path in copies:
                    virsh("vol-delete", path)
                raw_domains.remove(name)
            meter("virsh create", create, children=True)
            meter("virsh delete", delete, children=True)

        def api_side(k: int) -> None:
            name = f"kumo-bench-api-{secrets.token_hex(4)}"
            xml, copies = raw_copy(template, name, base, env.pool_path)
            virsh("pool-refresh", env.pool_name)

            def create() -> None:
                lv.defineXML(xml).create()
                raw_domains.append(name)

            def delete() -> None:
                d = lv.lookupByName(name)
                d.destroy()
                d.undefine()
                for path in copies:
                    lv.storageVolLookupByPath(path).delete(0)
                raw_domains.remove(name)
            meter("api create", create)
            meter("api delete", delete)

        sides = [kumo_side, virsh_side, api_side]
        for k in range(args.rounds):
            for side in sides[k % 3:] + sides[:k % 3]:
                side(k)
            print(f"  round {k + 1}: " + ", ".join(f"{key} {v[-1] * 1e3:.0f} ms"
                                                   for key, v in meter.wall.items()))
        print(f"medians ({load()}):")
        print(f"  {'':14s} {'wall ms':>8s} {'client cpu ms':>14s} {'libvirtd cpu ms':>16s}")
        for key in meter.wall:
            wall, client, daemon = meter.medians(key)
            print(f"  {key:14s} {wall * 1e3:8.0f} {client * 1e3:14.0f} {daemon * 1e3:16.0f}")
        for what, target in (("create", 1.3), ("delete", 1.5)):
            kw, kc, kd = meter.medians(f"kumo {what}")
            vw, vc, vd = meter.medians(f"virsh {what}")
            aw, ac, ad = meter.medians(f"api {what}")
            print(f"  {what}: kumo / virsh = {kw / vw:.2f}x wall (target <= {target}x), "
                  f"{(kc + kd) / (vc + vd):.2f}x CPU (client + libvirtd); "
                  f"kumo / libvirt-python {kw / aw:.2f}x wall, {(kc + kd) / (ac + ad):.2f}x CPU")
    finally:
        for name in raw_domains:
            subprocess.run(["virsh", "-q", "-c", URI, "destroy", name], capture_output=True)
            subprocess.run(["virsh", "-q", "-c", URI, "undefine", name], capture_output=True)
        try:
            journal.recover(env)
            for server in servers.list_servers(env, ctx):
                servers.delete_server(env, ctx, server["id"])
        finally:
            conn.refresh_pool(env.pool_name)
            for volume in conn.list_volumes(env.pool_name):
                conn.delete_volume(env.pool_name, volume)
            conn.delete_pool(env.pool_name, delete_dir=True)
            env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
