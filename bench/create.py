"""Create and delete speed: ``kumo`` (in one process, as a long-running controller runs it) against
raw ``virsh`` on the same XML, on the real libvirtd (qemu:///system, TCG), interleaved.

    .venv/bin/python bench/create.py [--rounds 5]

Per round (the order of the two sides alternates between rounds):
  kumo create    servers.create_server: validate, place (database claim), record, journal, root
                 volume from the image, config drive built in memory and uploaded, define, start
  raw create     ``virsh define`` + ``virsh start`` of the XML kumo defined (renamed, with copies
                 of its volumes made beforehand and not timed)
  kumo delete    servers.delete_server: destroy, undefine, volumes deleted, claim released
  raw delete     ``virsh destroy`` + ``virsh undefine`` + ``virsh vol-delete`` of each volume
  api create/delete  the same calls through libvirt-python on one open connection: the floor
                 (each virsh command is a process of its own that connects to libvirtd)
The guest is kumo's tiny guest (a cloud kernel and busybox initramfs, kumo.tiny_guest via the
demo's files, and a 1 MiB qcow2 root). Everything is made in a database, image store and storage
pool of this run's own and removed at the end. Medians and the kumo/raw ratios are printed with
the load average (the figures are depressed on a busy machine).
"""

from __future__ import annotations

import argparse
import os
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
    """kumo's domain XML renamed to ``name``, every file it names copied (untimed) to a new
    file in the pool directory: the same guest for ``virsh define``. Returns the XML and the
    copied volume paths."""
    root = etree.fromstring(xml.encode())
    root.find("name").text = name
    uuid = root.find("uuid")
    if uuid is not None:
        root.remove(uuid)
    copies: list[str] = []
    for src in root.iter("source"):
        for attr in ("file", "path"):
            path = src.get(attr)
            if path and path.startswith(pool_path) and os.path.exists(path):
                new = os.path.join(pool_path, f"{name}-{len(copies)}-{os.path.basename(path)}")
                subprocess.run(["cp", "--reflink=auto", path, new], check=True)
                src.set(attr, new)
                copies.append(new)
    for log in root.iter("log"):
        if log.get("file"):
            log.set("file", str(workdir / f"{name}.log"))
    return etree.tostring(root, encoding="unicode"), copies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
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
    times: dict[str, list[float]] = {k: [] for k in ("kumo create", "raw create", "api create",
                                                     "kumo delete", "raw delete", "api delete")}
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
        # one warm-up create and delete (first image copy into the pool, imports, caches)
        warm = servers.create_server(env, ctx, "warm", image="linux", flavor="tiny")
        servers.delete_server(env, ctx, warm.server["id"])
        print(f"{args.rounds} rounds on {URI} (TCG), {load()}")
        for k in range(args.rounds):
            t = time.perf_counter()
            created = servers.create_server(env, ctx, f"b{k}", image="linux", flavor="tiny")
            kumo_create = time.perf_counter() - t
            uuid = created.server["id"]
            dom = naming.domain_name(uuid)
            xml = conn.domain_xml(dom)
            name = f"kumo-bench-raw-{secrets.token_hex(4)}"
            raw_xml, copies = raw_copy(xml, name, base, env.pool_path)
            xml_file = base / f"{name}.xml"
            xml_file.write_text(raw_xml)
            virsh("pool-refresh", env.pool_name)

            def raw_create() -> float:
                t = time.perf_counter()
                virsh("define", str(xml_file))
                raw_domains.append(name)
                virsh("start", name)
                return time.perf_counter() - t

            def raw_delete() -> float:
                t = time.perf_counter()
                virsh("destroy", name)
                virsh("undefine", name)
                for path in copies:
                    virsh("vol-delete", path)
                raw_domains.remove(name)
                return time.perf_counter() - t

            def kumo_delete() -> float:
                t = time.perf_counter()
                servers.delete_server(env, ctx, uuid)
                return time.perf_counter() - t

            api_name = f"kumo-bench-api-{secrets.token_hex(4)}"
            api_xml, api_copies = raw_copy(xml, api_name, base, env.pool_path)
            virsh("pool-refresh", env.pool_name)

            def api_create() -> float:
                t = time.perf_counter()
                lv.defineXML(api_xml).create()
                raw_domains.append(api_name)
                return time.perf_counter() - t

            def api_delete() -> float:
                t = time.perf_counter()
                d = lv.lookupByName(api_name)
                d.destroy()
                d.undefine()
                for path in api_copies:
                    lv.storageVolLookupByPath(path).delete(0)
                raw_domains.remove(api_name)
                return time.perf_counter() - t

            # kumo's create ran first this round (it made the XML); the deletes alternate
            times["kumo create"].append(kumo_create)
            times["raw create"].append(raw_create())
            times["api create"].append(api_create())
            times["api delete"].append(api_delete())
            if k % 2:
                times["raw delete"].append(raw_delete())
                times["kumo delete"].append(kumo_delete())
            else:
                times["kumo delete"].append(kumo_delete())
                times["raw delete"].append(raw_delete())
            print(f"  round {k + 1}: " + ", ".join(f"{key} {v[-1] * 1e3:.0f} ms"
                                                   for key, v in times.items()))
        med = {key: statistics.median(v) for key, v in times.items()}
        print(f"medians ({load()}):")
        for key, v in med.items():
            print(f"  {key:12s} {v * 1e3:8.0f} ms")
        print(f"  create: kumo / raw virsh = {med['kumo create'] / med['raw create']:.2f}x "
              f"(target <= 1.3x)")
        print(f"  delete: kumo / raw virsh = {med['kumo delete'] / med['raw delete']:.2f}x "
              f"(target <= 1.5x)")
        print(f"  against libvirt-python in-process (define+create; destroy+undefine+delete): "
              f"create {med['kumo create'] / med['api create']:.2f}x, "
              f"delete {med['kumo delete'] / med['api delete']:.2f}x")
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
