"""A second, separate libvirt daemon on this machine, to stand for another hypervisor host that
an end-to-end test can make fail and bring back.

``kumo host add`` refuses a second URI form of the machine's libvirtd (qemu:///session as root
reaches the same daemon; one daemon is one host), and the test driver (test:///) keeps its
domains inside the process that opened it, so neither can play a failed host. This is an honest
second host instead:

* its own libvirtd, in session mode, run as an unprivileged user of its own (``kumoremote``,
  created when missing) with its own configuration, run and state directories under ``base``;
  its ``libvirtd.conf`` gives it a host UUID of its own (``host_uuid``), which is what kumo
  tells daemons apart by;
* its own storage: it runs in a mount namespace of its own (``unshare -m``) where kumo's pool
  directory is bind-mounted from a private directory, so the two hosts share no disk (kumo has
  no shared storage: an evacuated server's root disk is rebuilt on the target);
* reached by root through its socket: ``qemu+unix:///session?socket=<base>/run/libvirt/
  libvirt-sock``. Its QEMU writes logs to files (``stdio_handler = "file"``), so no session
  virtlogd is started.

``kill_daemon`` SIGKILLs the daemon only (its guests keep running: a host cut off, not off);
``power_off`` SIGKILLs its guests' QEMU processes (by their pid files) -- what a fence does;
``start`` starts the daemon again on the same directories (it finds its persistent domains).
Every process is ended by its pid, never by name. ``cloud_and_second_daemon`` is the tests'
world: a cloud on the machine's libvirtd and this daemon beside it, both removed afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kumo.hosts.libvirt_host import LibvirtHost
from tests.e2e.evacuation_support import Cloud, make_cloud

USER = "kumoremote"


def ensure_user() -> None:
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", USER], check=True)


class SecondDaemon:
    def __init__(self, base: Path, pool_path: Path):
        self.base, self.pool_path = base, pool_path
        self.private_pool = base / "remote-pool"
        self.run_dir = base / "run"
        self.host_uuid = str(uuid.uuid4())
        self.socket = self.run_dir / "libvirt" / "libvirt-sock"
        self.uri = f"qemu+unix:///session?socket={self.socket}"

    # --- set-up ----------------------------------------------------------------------------

    def prepare(self) -> None:
        ensure_user()
        config = self.base / "config" / "libvirt"
        config.mkdir(parents=True, exist_ok=True)
        (config / "libvirtd.conf").write_text(f'host_uuid = "{self.host_uuid}"\n')
        (config / "qemu.conf").write_text('stdio_handler = "file"\n')
        for d in (self.run_dir, self.base / "cache", self.base / "data", self.private_pool):
            d.mkdir(parents=True, exist_ok=True)
        self.pool_path.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        subprocess.run(["chown", "-R", USER, str(self.base / "config"), str(self.run_dir),
                        str(self.base / "cache"), str(self.base / "data"),
                        str(self.private_pool)], check=True)
        self.run_dir.chmod(0o700)

    def start(self, timeout_s: float = 30) -> None:
        self.socket.unlink(missing_ok=True)
        environ = " ".join(f"{k}={v}" for k, v in {
            "HOME": self.base / "data", "XDG_RUNTIME_DIR": self.run_dir,
            "XDG_CONFIG_HOME": self.base / "config", "XDG_CACHE_HOME": self.base / "cache",
            "XDG_DATA_HOME": self.base / "data"}.items())
        script = (f"mount --bind {self.private_pool} {self.pool_path} && "
                  f"exec runuser -u {USER} -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "
                  f"{environ} libvirtd --daemon")
        subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       check=True, timeout=60)
        deadline = time.monotonic() + timeout_s
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the second libvirtd did not create {self.socket}")
            time.sleep(0.2)
        deadline = time.monotonic() + timeout_s
        while subprocess.run(["virsh", "-c", self.uri, "version"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the second libvirtd does not answer at {self.uri}")
            time.sleep(0.2)

    # --- failing ---------------------------------------------------------------------------

    def daemon_pid(self) -> int | None:
        pidfile = self.run_dir / "libvirt" / "libvirtd.pid"
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def guest_pids(self) -> dict[str, int]:
        """pid file name -> pid of each live process the daemon's QEMU driver started."""
        run = self.run_dir / "libvirt" / "qemu" / "run"
        pids = {}
        for f in run.glob("*.pid") if run.exists() else ():
            if f.name == "driver.pid":  # the daemon's own
                continue
            try:
                pids[f.name] = int(f.read_text().strip())
            except ValueError:
                continue
        return {n: p for n, p in pids.items() if _alive(p)}

    def kill_daemon(self) -> None:
        pid = self.daemon_pid()
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)

    def fence_script(self, path: Path) -> Path:
        """A fence command for this host: SIGKILL every QEMU its daemon started (by their pid
        files) and exit 0 only when none is left -- the test's 'IPMI power off'."""
        run = self.run_dir / "libvirt" / "qemu" / "run"
        # driver.pid is the daemon's own; a zombie (state Z) has ended
        path.write_text(f"""#!/bin/sh
running() {{ [ -r /proc/$1/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$1/stat; }}
for f in {run}/*.pid; do
  [ -e "$f" ] && [ "${{f##*/}}" != driver.pid ] || continue
  pid=$(cat "$f")
  running "$pid" && kill -9 "$pid" && echo "killed guest process $pid"
done
sleep 0.5
for f in {run}/*.pid; do
  [ -e "$f" ] && [ "${{f##*/}}" != driver.pid ] || continue
  if running "$(cat "$f")"; then echo "still running: $f" >&2; exit 1; fi
done
echo "host powered off"
""")
        path.chmod(0o755)
        return path

    def stop(self) -> None:
        """Everything this daemon started, then the daemon (teardown)."""
        for pid in self.guest_pids().values():
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
        self.kill_daemon()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextmanager
def cloud_and_second_daemon(name: str, system_libvirt: LibvirtHost,
                            **settings: str) -> Iterator[tuple[Cloud, SecondDaemon]]:
    """A second daemon started and a cloud of its own on the machine's libvirtd
    (evacuation_support.make_cloud with ``settings``), under /var/tmp/kumo-e2e-NAME-XXXX -- not
    under pytest's tmp_path: the daemon's user must reach these directories. The test adds the
    daemon as a host when it wants it. Afterwards this installation's domains and volumes go
    from both daemons: the second is reached again if it is alive then and not already among
    ``cloud.extra_hosts`` (an evacuation test may leave it killed, or restarted under a new
    connection; a migration test leaves it running), then stopped and its directories
    removed."""
    base = Path(f"/var/tmp/kumo-e2e-{name}-{secrets.token_hex(4)}")
    base.mkdir(mode=0o755)
    remote = SecondDaemon(base, base / "pool")
    cloud = None
    try:
        remote.prepare()
        remote.start()
        cloud = make_cloud(base, system_libvirt, **settings)
        yield cloud, remote
    finally:
        try:
            if cloud is not None:
                if (remote.daemon_pid() is not None and remote.socket.exists()
                        and all(h.uri != remote.uri for h in cloud.extra_hosts)):
                    try:
                        cloud.extra_hosts.append(LibvirtHost(remote.uri))
                    except Exception:  # noqa: BLE001 - dead after all: nothing to clean there
                        pass
                cloud.close()
        finally:
            remote.stop()
            shutil.rmtree(base, ignore_errors=True)
