"""A kumo installation of a test's own on the real libvirtd: its environment (data directory,
SQLite database, storage pool with a random name), its ``kumo`` command in a process of its own,
and its removal, even after a failed test. The one clean-up every real-guest test uses, so a
resource kind kumo learns to make (networks, nwfilters) is removed everywhere at once."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from kumo.backends.libvirt_xml.domain import Domain
from kumo.compute import images, journal, naming, networks, secgroups, servers
from kumo.compute.context import RequestContext, admin_context
from kumo.compute.env import ComputeEnv
from kumo.compute.installation import installation_id
from kumo.errors import DomainNotFound, KumoError
from kumo.hosts.libvirt_host import LibvirtHost

if TYPE_CHECKING:
    from tests.e2e.probe import ProbeImage


def installation_environ(base: Path, **extra: str) -> dict[str, str]:
    """The KUMO_* variables of an installation under ``base`` (``extra``: more of them).

    KUMO_STOP_TIMEOUT is 2 s, as the tests' in-process ComputeEnv has it: the tiny guests'
    busybox init ignores the ACPI power button, so every stop, migrate and resize waits the
    whole graceful timeout before powering off, and the ``kumo`` processes and ``kumo serve``
    a test starts (which read only the environment) would otherwise wait the default 60 s."""
    return {"KUMO_DATA_DIR": str(base / "data"), "KUMO_DATABASE_URL": "",
            "KUMO_IMAGE_DIR": "", "KUMO_POOL_NAME": f"kumo-e2e-{secrets.token_hex(4)}",
            "KUMO_POOL_PATH": str(base / "pool"), "KUMO_STOP_TIMEOUT": "2", **extra}


def kumo_process(environ: dict[str, str], *argv: str, failpoint: str | None = None,
                 timeout_s: float = 600) -> subprocess.CompletedProcess:
    """The ``kumo`` command of this installation in a process of its own (so it can be
    killed: ``failpoint`` arms KUMO_FAILPOINT)."""
    env = {**os.environ, **environ}
    env.pop("KUMO_FAILPOINT", None)
    if failpoint:
        env["KUMO_FAILPOINT"] = failpoint
    return subprocess.run([sys.executable, "-m", "kumo.cli.main", *argv], env=env,
                          capture_output=True, text=True, timeout=timeout_s)


def add_probe_image(env: ComputeEnv, ctx: RequestContext, probe: ProbeImage, name: str,
                    directory: Path, *, visibility: str = "shared", **properties: str) -> str:
    """Image ``name`` whose servers boot ``probe`` (tests/e2e/probe.py): its kernel and
    initramfs as aki/ari images referenced by kernel_id/ramdisk_id, the probe's command line,
    and an empty 1 MiB qcow2 root disk (made in ``directory``; the probe runs from its
    initramfs); ``properties`` on top; ``visibility`` of the image (``public``: the API's
    users of other projects boot it too). Returns the image id."""
    aki = images.create_image(env, ctx, f"{name}-kernel", file=probe.kernel,
                              disk_format="aki")["id"]
    ari = images.create_image(env, ctx, f"{name}-initramfs", file=probe.initramfs,
                              disk_format="ari")["id"]
    root = directory / f"{name}-root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"], check=True)
    return images.create_image(env, ctx, name, file=root, disk_format="qcow2", properties={
        "kernel_id": aki, "ramdisk_id": ari, "os_command_line": probe.cmdline,
        **properties}, visibility=visibility)["id"]


def our_domains(env: ComputeEnv, conn: LibvirtHost) -> dict[str, str]:
    """This installation's domains on ``conn`` (marked with its installation id, or using its
    pool): name -> state."""
    mine = installation_id(env.db)
    found = {}
    for name in conn.list_domains():
        if not naming.instance_of_domain(name):
            continue
        try:  # others' tests define and undefine domains on the same daemon meanwhile
            xml = conn.domain_xml(name, inactive=True)
            mark = Domain.from_xml(xml).kumo
            if (mark is not None and mark.installation == mine) or env.pool_path in xml:
                found[name] = conn.domain_state(name)
        except DomainNotFound:
            continue
    return found


def remove_pool(conn: LibvirtHost, pool: str) -> None:
    """Every volume of ``pool`` and the pool with its directory; nothing when it was never
    made."""
    try:
        conn.refresh_pool(pool)
    except KumoError:  # never made: no server was
        return
    for volume in conn.list_volumes(pool):
        conn.delete_volume(pool, volume)
    conn.delete_pool(pool, delete_dir=True)


def remove_installation(env: ComputeEnv, conn: LibvirtHost, *,
                        extra_hosts: Iterable[LibvirtHost] = (), delete_servers: bool = True,
                        keep_pool: bool = False) -> None:
    """Remove what the installation made, even after a failed test, then close ``env``:

    - with ``delete_servers``, recover what a killed command left and delete every server
      through kumo (each failure is kept going past: the rest is removed below);
    - its networks and security groups' libvirt networks and nwfilters;
    - on ``conn`` and ``extra_hosts``, any domain of its left behind, then its pool (unless
      ``keep_pool``: installations sharing one pool). A host that is gone (a failed host of an
      evacuation test) is skipped."""
    ctx = admin_context()
    try:
        if delete_servers:
            journal.recover(env)
            for server in servers.list_servers(env, ctx, all_projects=True):
                with contextlib.suppress(KumoError):
                    servers.delete_server(env, ctx, server["id"])
        nets = networks.list_networks(env, ctx)
        for net in nets:
            with contextlib.suppress(KumoError):
                networks.delete_network(env, ctx, net["id"])
        libvirt_networks = {n["libvirt_network"] for n in nets}
        groups = {g["id"] for g in secgroups.list_groups(env, ctx)}
    except BaseException:
        env.close()
        raise
    try:
        for host in [conn, *extra_hosts]:
            try:
                for name, state in our_domains(env, host).items():
                    if state == "running":
                        host.destroy(name)
                    host.undefine(name)
                for name in host.list_networks():
                    if name in libvirt_networks:
                        host.delete_network(name)
                for f in host.list_nwfilters():
                    if f.startswith("kumo-port-") or f.removeprefix("kumo-sg-") in groups:
                        # another run's port filter may still be in use
                        with contextlib.suppress(KumoError):
                            host.undefine_nwfilter(f)
                if not keep_pool:
                    remove_pool(host, env.pool_name)
            except KumoError:
                if host is conn:
                    raise
                # an extra host already gone (the failed one): nothing of ours to clean
    finally:
        env.close()
