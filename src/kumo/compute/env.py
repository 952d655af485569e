"""ComputeEnv: what the service functions act on -- the database, the settings, host connections.

One per controller process (the CLI makes one per command, the API one per server). Host
connections are opened on first use, one per libvirt URI, and kept for the env's life.

The storage pool kumo keeps its volumes in on every host is the configuration's ``pool_name``
and ``pool_path`` (KUMO_POOL_NAME, KUMO_POOL_PATH; kumo.config): the host's path, not the
controller's, so a remote host gets its pool at the same place.
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


def this_process(controller_name: str | None = None) -> str:
    """The journal owner name of this process: <controller name>:pid:start (the controller
    name is the machine's hostname unless configured)."""
    pid = os.getpid()
    return f"{controller_name or socket.gethostname()}:{pid}:{_process_start(pid)}"


def owner_gone(owner: str | None) -> bool | None:
    """What this machine can tell about ``owner`` without waiting for its lease: True if it
    names a process of this machine that is no longer running (or is no owner at all), False
    if that process still runs, None if it is another machine's (only its lease tells)."""
    if not owner:
        return True
    try:
        hostname, pid, start = owner.rsplit(":", 2)
    except ValueError:
        return None
    if hostname != socket.gethostname():
        return None
    return not (pid.isdigit() and _process_start(int(pid)) == start)


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
    #: kumo.compute.lease.Renewer, started by the first journal entry this env owns
    _renewer: Any = field(default=None, repr=False)
    #: guards ``_hosts``: an API server's threads share one env
    _hosts_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> "ComputeEnv":
        env = os.environ if environ is None else environ
        return cls.from_settings(Settings.from_env(env), **kwargs)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> "ComputeEnv":
        kwargs.setdefault("pool_name", settings.pool_name)
        kwargs.setdefault("pool_path", settings.pool_path)
        kwargs.setdefault("stop_timeout_s", settings.stop_timeout)
        kwargs.setdefault("owner", this_process(settings.controller_name))
        return cls(db=Database(settings.database_url), settings=settings, **kwargs)

    def keep_leases(self) -> None:
        """Renew this controller's journal leases from now on (kumo.compute.lease)."""
        if self._renewer is None:
            from kumo.compute.lease import Renewer

            self._renewer = Renewer(self)
        self._renewer.ensure_running()

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
        if self._renewer is not None:
            self._renewer.stop()
        with self._hosts_lock:
            uris = list(self._hosts)
        for uri in uris:
            self.forget_host(uri)
        self.db.dispose()
