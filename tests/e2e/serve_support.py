"""A small cloud on the machine's libvirtd for the ``kumo serve`` end-to-end tests, and
``kumo serve`` processes with JSON logs the tests read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx

from kumo.cli.demo import GUEST_CMDLINE, GUEST_INIT, build_guest_files
from kumo.compute import flavors, hosts, images
from kumo.compute.context import RequestContext, admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.hosts.libvirt_host import LibvirtHost
from kumo.tiny_guest import build_initramfs
from tests.api.live import free_port
from tests.support.e2e_cloud import installation_environ, remove_installation

URI = "qemu:///system"
#: the demo guest, but powering itself off 6 s after it booted
POWEROFF_INIT = GUEST_INIT.replace("while :; do $B sleep 3600; done",
                                   "$B sleep 6\n$B poweroff -f")


@dataclass
class Cloud:
    env: ComputeEnv
    ctx: RequestContext
    environ: dict[str, str]
    conn: LibvirtHost
    base: Path


def make_cloud(base: Path, conn: LibvirtHost, database_url: str = "") -> Cloud:
    environ = installation_environ(base, KUMO_DATABASE_URL=database_url)
    env = ComputeEnv.from_env(environ)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    hosts.add_host(env, ctx, "local", URI, virt_type="qemu")
    flavors.create_flavor(env, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
    kernel, initramfs = build_guest_files(base / "guest")
    _k, poweroff_initramfs = build_initramfs(POWEROFF_INIT, base / "guest", "poweroff")
    aki = images.create_image(env, ctx, "kernel", file=kernel, disk_format="aki")["id"]
    root = base / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"], check=True)
    for name, ramdisk in (("linux", initramfs), ("linux-poweroff", poweroff_initramfs)):
        ari = images.create_image(env, ctx, f"{name}-ramdisk", file=ramdisk,
                                  disk_format="ari")["id"]
        images.create_image(env, ctx, name, file=root, disk_format="qcow2", properties={
            "os_type": "linux", "kernel_id": aki, "ramdisk_id": ari,
            "os_command_line": GUEST_CMDLINE})
    return Cloud(env, ctx, environ, conn, base)


def clean_up(cloud: Cloud) -> None:
    """Remove everything the cloud made on the host, even after a failed test."""
    remove_installation(cloud.env, cloud.conn)


@contextmanager
def cloud_of_api_calls(base: Path, conn: LibvirtHost) -> Iterator[Cloud]:
    """``make_cloud`` for a test whose API calls (EC2's, in process) build and delete on worker
    threads: those are waited for before everything is removed, even after a failed test."""
    cloud = make_cloud(base, conn)
    try:
        yield cloud
    finally:
        for thread in threading.enumerate():
            if thread.name.startswith(("build-", "delete-")):
                thread.join(120)
        clean_up(cloud)


@dataclass
class Serve:
    """One ``kumo serve`` process with its JSON log file."""

    proc: subprocess.Popen
    log: Path
    port: int
    name: str
    stderr: Path = field(default=Path("/dev/null"))

    @classmethod
    def start(cls, cloud: Cloud, name: str, **settings: str | float) -> "Serve":
        port = free_port()
        log = cloud.base / f"{name}.log"
        stderr = cloud.base / f"{name}.stderr"
        environ = {**os.environ, **cloud.environ, "KUMO_PORT": str(port),
                   "KUMO_LOG_FORMAT": "json", "KUMO_LOG_FILE": str(log),
                   "KUMO_CONTROLLER_NAME": name, "KUMO_LOG_LEVEL": "debug"}
        environ.pop("KUMO_FAILPOINT", None)
        environ.update({k.upper() if k.startswith("KUMO_") else f"KUMO_{k.upper()}": str(v)
                        for k, v in settings.items()})
        proc = subprocess.Popen([sys.executable, "-m", "kumo.cli.main", "serve"], env=environ,
                                stdout=subprocess.DEVNULL, stderr=stderr.open("w"))
        serve = cls(proc, log, port, name, stderr)
        serve.wait_http()
        return serve

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_http(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"kumo serve {self.name} exited {self.proc.returncode}: "
                                     f"{self.stderr.read_text()}")
            try:
                httpx.get(self.url("/healthcheck"), timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"kumo serve {self.name} does not answer on port {self.port}")

    def lines(self) -> list[dict]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line being written
        return out

    def stopped(self) -> bool:
        """True when the process is stopped (SIGSTOP: /proc/<pid>/stat state T)."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] == "T"

    def terminate(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_for(predicate, timeout: float, step: float = 0.25):
    """Poll ``predicate`` until it returns something true; that value (or None at timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None
