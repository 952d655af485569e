"""A cloud of its own on the machine's libvirtd for the evacuation end-to-end tests: a database,
image store and storage pool named for the test, host ``local`` (qemu:///system, TCG), the
tiny guest's kernel/ramdisk images and a Windows-typed and a Linux-typed image booting them,
flavor ``tiny``. ``Cloud.kumo`` runs the CLI in a process of its own (to be SIGKILLed);
``close`` removes every domain and volume the test made there, even after a failure."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from kumo.compute import records
from kumo.compute.context import RequestContext, admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.db.claims import claim
from kumo.db.models import Host
from kumo.hosts.libvirt_host import LibvirtHost
from tests.support import tiny_cloud
from tests.support.e2e_cloud import (installation_environ, kumo_process, our_domains,
                                     remove_installation)

LOCAL = tiny_cloud.URI


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
        return kumo_process(self.environ, *argv, failpoint=failpoint, timeout_s=timeout)

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
        return our_domains(self.env, conn)

    def close(self) -> None:
        # The servers are not deleted through kumo: the failed host may be gone for good.
        remove_installation(self.env, self.conn, extra_hosts=self.extra_hosts,
                            delete_servers=False)


def make_cloud(base: Path, conn: LibvirtHost, **settings: str) -> Cloud:
    environ = installation_environ(base, **settings)
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    cloud = Cloud(env, ctx, environ, conn, base)
    try:
        tiny_cloud.seed(env, ctx, base)
    except BaseException:
        cloud.close()
        raise
    return cloud
