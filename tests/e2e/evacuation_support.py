"""A cloud of its own on the machine's libvirtd for the evacuation end-to-end tests: a database,
image store and storage pool named for the test, host ``local`` (qemu:///system, TCG), the
tiny guest's kernel/ramdisk images and a Windows-typed and a Linux-typed image booting them,
flavor ``tiny``. ``Cloud.kumo`` runs the CLI in a process of its own (to be SIGKILLed);
``close`` removes every domain and volume the test made there, even after a failure."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from kumo.backends.libvirt_xml.domain import Domain
from kumo.cli.demo import GUEST_CMDLINE, build_guest_files
from kumo.compute import flavors, hosts, images, naming, records
from kumo.compute.context import RequestContext, admin_context
from kumo.compute.env import ComputeEnv
from kumo.compute.installation import installation_id
from kumo.db import upgrade
from kumo.db.claims import claim
from kumo.db.models import Host
from kumo.errors import DomainNotFound
from kumo.hosts.libvirt_host import LibvirtHost

LOCAL = "qemu:///system"


@dataclass
class Cloud:
    env: ComputeEnv
    ctx: RequestContext
    environ: dict[str, str]
    conn: LibvirtHost
    base: Path
    extra_hosts: list[LibvirtHost] = field(default_factory=list)

    def kumo(self, *argv: str, failpoint: str | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.environ}
        env.pop("KUMO_FAILPOINT", None)
        if failpoint:
            env["KUMO_FAILPOINT"] = failpoint
        return subprocess.run([sys.executable, "-m", "kumo.cli.main", *argv], env=env,
                              capture_output=True, text=True, timeout=timeout)

    def record_on(self, host_name: str, name: str, image: str, vm_state: str) -> str:
        """An instance recorded on ``host_name`` holding its claim, as a create there left it
        (the host has since died: nothing is asked of it); its uuid."""
        from kumo.compute import servers

        instance, _ = servers.new_instance(self.env, self.ctx, name, image=image,
                                           flavor="tiny")
        with self.env.db.session_scope() as s:
            host = s.scalars(select(Host).where(Host.name == host_name)).one()
            assert claim(s, host.id, records.resources(instance))
            instance.host_id, instance.node = host.id, host.name
            instance.vm_state, instance.task_state = vm_state, None
            instance.power_state = 1 if vm_state == "active" else 4
            s.add(instance)
            s.flush()
            return instance.uuid

    def ours(self, conn: LibvirtHost) -> dict[str, str]:
        """This installation's domains on ``conn``: name -> state."""
        mine = installation_id(self.env.db)
        found = {}
        for name in conn.list_domains():
            if not naming.instance_of_domain(name):
                continue
            try:  # others' tests define and undefine domains on the same daemon meanwhile
                mark = Domain.from_xml(conn.domain_xml(name, inactive=True)).kumo
                if mark is not None and mark.installation == mine:
                    found[name] = conn.domain_state(name)
            except DomainNotFound:
                continue
        return found

    def close(self) -> None:
        for conn in [self.conn, *self.extra_hosts]:
            try:
                for name in self.ours(conn):
                    if conn.domain_state(name) == "running":
                        conn.destroy(name)
                    conn.undefine(name)
                conn.refresh_pool(self.env.pool_name)
                for volume in conn.list_volumes(self.env.pool_name):
                    conn.delete_volume(self.env.pool_name, volume)
                conn.delete_pool(self.env.pool_name, delete_dir=True)
            except Exception:  # a host already gone (the failed one): nothing of ours to clean
                pass
        self.env.close()


def make_cloud(base: Path, conn: LibvirtHost, **settings: str) -> Cloud:
    environ = {"KUMO_DATA_DIR": str(base / "data"), "KUMO_DATABASE_URL": "",
               "KUMO_IMAGE_DIR": "", "KUMO_POOL_NAME": f"kumo-e2e-{secrets.token_hex(4)}",
               "KUMO_POOL_PATH": str(base / "pool"), **settings}
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    cloud = Cloud(env, ctx, environ, conn, base)
    try:
        hosts.add_host(env, ctx, "local", LOCAL, virt_type="qemu")
        flavors.create_flavor(env, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
        kernel, initramfs = build_guest_files(base / "guest")
        aki = images.create_image(env, ctx, "kernel", file=kernel, disk_format="aki")["id"]
        ari = images.create_image(env, ctx, "ramdisk", file=initramfs,
                                  disk_format="ari")["id"]
        root = base / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"],
                       check=True)
        for name, os_type in (("windows", "windows"), ("linux", "linux")):
            images.create_image(env, ctx, name, file=root, disk_format="qcow2", properties={
                "os_type": os_type, "kernel_id": aki, "ramdisk_id": ari,
                "os_command_line": GUEST_CMDLINE})
    except BaseException:
        cloud.close()
        raise
    return cloud
