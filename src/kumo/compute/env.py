"""ComputeEnv: what the service functions act on -- the database, the settings, host connections.

One per controller process (the CLI makes one per command, the API one per server). Host
connections are opened on first use, one per libvirt URI, and kept for the env's life.

The storage pool kumo keeps its volumes in on every host:

    KUMO_POOL_NAME   libvirt pool name               default ``kumo``
    KUMO_POOL_PATH   its directory on the host       default ``/var/lib/kumo/pool``

(the host's path, not the controller's: a remote host gets its pool at the same place).
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from kumo.config import Settings
from kumo.db import Database
from kumo.hosts.protocol import HostConnection  # no libvirt: that comes with LibvirtHost

DEFAULT_POOL_NAME = "kumo"
DEFAULT_POOL_PATH = "/var/lib/kumo/pool"
#: seconds a graceful shutdown may take before the domain is destroyed (Nova's shutdown_timeout)
DEFAULT_STOP_TIMEOUT_S = 60.0


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): with the
    pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> str:
    """The journal owner name of this process: host:pid:start."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def owner_alive(owner: str | None) -> bool:
    """True if ``owner`` names a process on this machine that is still running. Owners on other
    machines are assumed alive (their own controller recovers them)."""
    if not owner:
        return False
    try:
        hostname, pid, start = owner.rsplit(":", 2)
    except ValueError:
        return False
    if hostname != socket.gethostname():
        return True
    return pid.isdigit() and _process_start(int(pid)) == start


def _default_connect(uri: str) -> HostConnection:
    from kumo.hosts.libvirt_host import LibvirtHost

    return LibvirtHost(uri)


@dataclass
class ComputeEnv:
    db: Database
    settings: Settings
    pool_name: str = DEFAULT_POOL_NAME
    pool_path: str = DEFAULT_POOL_PATH
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    #: opens a host connection for a libvirt URI: kumo.hosts.libvirt_host.LibvirtHost, or in
    #: unit tests kumo.hosts.fake.FakeHosts (the seam: kumo.hosts.protocol.HostConnection)
    connect: Callable[[str], HostConnection] = _default_connect
    #: the journal owner name of this controller process
    owner: str = field(default_factory=this_process)
    _hosts: dict[str, HostConnection] = field(default_factory=dict, repr=False)
    #: guards ``_hosts``: an API server's threads share one env
    _hosts_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> "ComputeEnv":
        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        kwargs.setdefault("pool_name", env.get("KUMO_POOL_NAME") or DEFAULT_POOL_NAME)
        kwargs.setdefault("pool_path", env.get("KUMO_POOL_PATH") or DEFAULT_POOL_PATH)
        return cls(db=Database(settings.database_url), settings=settings, **kwargs)

    def host(self, uri: str) -> HostConnection:
        """The (cached) connection to the host at ``uri``."""
        with self._hosts_lock:
            conn = self._hosts.get(uri)
            if conn is None:
                conn = self._hosts[uri] = self.connect(uri)
            return conn

    def forget_host(self, uri: str) -> None:
        """Drop a cached connection (after the host stopped answering)."""
        with self._hosts_lock:
            conn = self._hosts.pop(uri, None)
        if conn is not None:
            conn.close()

    def pool_volume_path(self, volume: str) -> str:
        """Where ``volume`` of kumo's pool is on a host."""
        return f"{self.pool_path.rstrip('/')}/{volume}"

    def close(self) -> None:
        with self._hosts_lock:
            uris = list(self._hosts)
        for uri in uris:
            self.forget_host(uri)
        self.db.dispose()
