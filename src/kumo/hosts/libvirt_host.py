"""One libvirt host, through libvirt-python: a thin, typed wrapper with no policy.

It only opens the connection, calls libvirt and turns what comes back into plain values
(``HostCapabilities``, ``NodeInfo``, ``DomainState``, ``VolumeInfo``); deciding what to define,
where and when is the callers' business (design.md, "hosts" layer; conventions.md #4).
Every ``libvirt.libvirtError`` is translated here, by error code, into a kumo exception that
names the host URI and keeps libvirt's message (``kumo.hosts.errors``).

Storage goes through libvirt's storage API only (pools, volumes, streams), never the local
filesystem, so a remote host (``qemu+ssh://...``) works exactly like the local one.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import libvirt
from lxml import etree

from kumo.errors import (
    ConfigConflict,
    DomainNotFound,
    HostError,
    InvalidInput,
    NotFound,
    StateError,
)
from kumo.hosts import firmware, probe
from kumo.hosts.capabilities import HostCapabilities
from kumo.hosts.uri import is_local
from kumo.hosts.errors import host_error, translate
from kumo.hosts.libvirt_networks import LibvirtNetworks
from kumo.hosts.protocol import (
    DomainState,
    DomainStatus,
    NodeInfo,
    PoolInfo,
    VolumeInfo,
    guest_time_to_set,
)

__all__ = ["DomainState", "GiB", "LibvirtHost", "NodeInfo", "PoolInfo", "VolumeInfo",
           "version_tuple"]

GiB = 1024 ** 3
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: how long an upload waits for its pool to be refreshable (another volume being built)
_REFRESH_WAIT_S = 30.0


def _ignore_error_report(_ctx: object, _err: object) -> None:
    """libvirt's default handler prints every error to stderr, including the ones translated
    and handled here; errors reach callers as exceptions instead."""


libvirt.registerErrorHandler(_ignore_error_report, None)


#: virDomainShutoffReason / virDomainCrashedReason -> what it means for an operator
_REASONS: dict[DomainState, dict[int, str]] = {
    DomainState.SHUTOFF: {
        libvirt.VIR_DOMAIN_SHUTOFF_UNKNOWN: "shut off (reason unknown)",
        libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN: "the guest shut itself down",
        libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED: "destroyed (powered off from the host)",
        libvirt.VIR_DOMAIN_SHUTOFF_CRASHED: "the guest crashed",
        libvirt.VIR_DOMAIN_SHUTOFF_MIGRATED: "migrated to another host",
        libvirt.VIR_DOMAIN_SHUTOFF_SAVED: "saved to a file",
        libvirt.VIR_DOMAIN_SHUTOFF_FAILED: "the hypervisor failed to start it",
        libvirt.VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT: "restored from a snapshot",
        getattr(libvirt, "VIR_DOMAIN_SHUTOFF_DAEMON", 8): "the libvirt daemon stopped it",
    },
    DomainState.CRASHED: {
        libvirt.VIR_DOMAIN_CRASHED_UNKNOWN: "crashed (reason unknown)",
        getattr(libvirt, "VIR_DOMAIN_CRASHED_PANICKED", 1): "the guest kernel panicked",
    },
}


def version_tuple(encoded: int) -> tuple[int, ...] | None:
    """libvirt's major * 1,000,000 + minor * 1,000 + micro as (major, minor, micro); None for 0
    (drivers that do not know)."""
    if not encoded:
        return None
    return (encoded // 1_000_000, encoded // 1_000 % 1_000, encoded % 1_000)


class LibvirtHost(LibvirtNetworks):
    """A connection to the libvirt daemon at ``uri``, opened on first use (or by ``open()``)
    and closed by ``close()`` or on leaving a ``with`` block. Satisfies
    kumo.hosts.protocol.HostConnection."""

    def __init__(self, uri: str):
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        # libvirt connections are thread-safe once open; opening and closing are not, so two
        # threads reaching open() together must not close each other's fresh connection
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"LibvirtHost({self.uri!r})"

    def __enter__(self) -> "LibvirtHost":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- connection --------------------------------------------------------------------------

    def open(self) -> None:
        """Connect now (otherwise the first call does); reconnects a connection that died.
        Raises HostUnreachable when the URI does not answer."""
        with self._lock:
            if self._conn is not None and self._conn.isAlive():
                return
            self.close()
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as e:
                raise translate(e, self.uri, "open a connection", opening=True) from e
            self._keep_alive(self._conn)

    def _keep_alive(self, conn: libvirt.virConnect) -> None:
        """With an event loop running (kumo serve), enable keepalive and report the
        connection's close (kumo.hosts.events); without one, libvirt refuses keepalive."""
        from kumo.hosts import events

        if not events.running():
            return
        interval, count = events.keepalive
        uri = self.uri
        with contextlib.suppress(libvirt.libvirtError):  # a driver without keepalive (test:///)
            conn.setKeepAlive(interval, count)
        with contextlib.suppress(libvirt.libvirtError):
            conn.registerCloseCallback(
                lambda _conn, reason, _opaque: events.connection_closed(uri, reason), None)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    def _connection(self) -> libvirt.virConnect:
        with self._lock:
            self.open()
            assert self._conn is not None
            return self._conn

    @contextlib.contextmanager
    def _translating(self, action: str, *, agent: bool = False) -> Iterator[None]:
        """libvirt errors inside become kumo's (``agent``: the call goes through the guest
        agent, whose errors say more; kumo.hosts.errors.AGENT_ERROR_CLASSES)."""
        try:
            yield
        except libvirt.libvirtError as e:
            raise translate(e, self.uri, action, agent=agent) from e

    # --- the host ----------------------------------------------------------------------------

    def capabilities(self, virt_type: str | None = None, machine: str | None = None,
                     arch: str | None = None, emulator: str | None = None) -> HostCapabilities:
        """The host's capabilities for ``virt_type`` (kvm, qemu, xen...; None lets libvirt pick).

        With ``machine`` (pc, q35...) only that machine's domain capabilities are read. Without
        it, every machine family the architecture has is probed and merged (kumo.hosts.probe):
        libvirt's default machine alone (i440fx) would hide q35's Secure Boot firmware. Adds the
        hypervisor version and, when domcaps do not name it, the host CPU vendor; for a local
        URI also the QEMU firmware descriptors and whether swtpm is installed."""
        conn = self._connection()
        with self._translating("read domain capabilities"):
            version = version_tuple(conn.getVersion())
            if machine is not None:
                caps = HostCapabilities.from_domcaps_xml(
                    conn.getDomainCapabilities(emulator, arch, machine, virt_type, 0))
            else:
                caps = self._probe_families(conn, virt_type, arch, emulator, version)
        return replace(caps, hypervisor_version=version or caps.hypervisor_version,
                       cpu_vendor=caps.cpu_vendor or self.host_cpu_vendor())

    def _probe_families(self, conn: libvirt.virConnect, virt_type: str | None,
                        arch: str | None, emulator: str | None,
                        version: tuple[int, ...] | None) -> HostCapabilities:
        default = conn.getDomainCapabilities(emulator, arch, None, virt_type, 0)
        first = HostCapabilities.from_domcaps_xml(default)
        if not first.is_libvirt_qemu:
            return first  # Xen and others: one document describes the host
        docs: dict[str, str] = {}
        for family in probe.FAMILIES.get(first.arch, ()):
            try:
                docs[family] = conn.getDomainCapabilities(emulator, first.arch, family,
                                                          virt_type, 0)
            except libvirt.libvirtError as e:
                if e.get_error_code() in (libvirt.VIR_ERR_INVALID_ARG,
                                          libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
                                          libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
                    continue  # the emulator has no such machine
                raise
        if not docs:
            return first
        local = is_local(self.uri)
        return probe.assemble(docs, conn.getCapabilities(), hypervisor_version=version,
                              descriptors=firmware.read_descriptors() if local else None,
                              swtpm=shutil.which("swtpm") is not None if local else None)

    def host_cpu_vendor(self) -> str | None:
        conn = self._connection()
        with self._translating("read host capabilities"):
            xml = conn.getCapabilities()
        vendor = etree.fromstring(xml.encode()).findtext("host/cpu/vendor")
        return vendor.strip() if vendor else None

    def daemon_id(self) -> str:
        """What names the daemon this connection reached, whatever URI reached it: ``uuid:`` and
        the host UUID libvirt reports (virConnectGetCapabilities host/uuid: the machine's SMBIOS
        UUID, or libvirtd.conf's host_uuid), else -- for a driver that reports none, such as the
        test driver -- ``uri:`` and the URI libvirt resolved (virConnectGetURI)."""
        conn = self._connection()
        with self._translating("read host capabilities"):
            found = etree.fromstring(conn.getCapabilities().encode()).findtext("host/uuid")
            return f"uuid:{found.strip()}" if found and found.strip() else f"uri:{conn.getURI()}"

    def node_info(self) -> NodeInfo:
        conn = self._connection()
        with self._translating("read node info"):
            arch, memory_mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
        return NodeInfo(arch=arch, cpus=cpus, memory_mib=memory_mib, mhz=mhz, numa_nodes=nodes,
                        sockets_per_node=sockets, cores_per_socket=cores,
                        threads_per_core=threads)

    # --- domains -----------------------------------------------------------------------------

    def _domain(self, name: str, action: str) -> libvirt.virDomain:
        conn = self._connection()
        with self._translating(action):
            return conn.lookupByName(name)

    def define(self, xml: str) -> str:
        """Define (or redefine) a persistent domain; returns its name."""
        conn = self._connection()
        with self._translating("define domain"):
            return conn.defineXML(xml).name()

    def start(self, name: str) -> None:
        action = f"start domain {name!r}"
        dom = self._domain(name, action)
        with self._translating(action):
            dom.create()

    def destroy(self, name: str) -> None:
        """Power off at once (the domain stays defined)."""
        action = f"destroy domain {name!r}"
        dom = self._domain(name, action)
        with self._translating(action):
            dom.destroy()

    def shutdown(self, name: str, timeout_s: float, *, poll_s: float = 0.5) -> bool:
        """Ask the guest to power off (ACPI), wait up to ``timeout_s``, then destroy it.
        True when it stopped by itself, False when it had to be destroyed (also when the
        hypervisor refused the graceful request). StateError when it is not running."""
        action = f"shut down domain {name!r}"
        dom = self._domain(name, action)
        with self._translating(action):
            if not dom.isActive():
                raise host_error(StateError, self.uri, action, "it is not running")
        try:
            with self._translating(action):
                dom.shutdown()
        except StateError:
            return self._destroy_unless_off(dom, action)
        deadline = time.monotonic() + timeout_s
        while True:
            with self._translating(action):
                if not dom.isActive():
                    return True
            if time.monotonic() >= deadline:
                return self._destroy_unless_off(dom, action)
            time.sleep(poll_s)

    def _destroy_unless_off(self, dom: libvirt.virDomain, action: str) -> bool:
        try:
            with self._translating(action):
                dom.destroy()
        except StateError:  # it went off between our look and the destroy
            return True
        return False

    def reboot(self, name: str) -> None:
        action = f"reboot domain {name!r}"
        dom = self._domain(name, action)
        with self._translating(action):
            dom.reboot(0)

    def undefine(self, name: str, *, keep_nvram: bool = False) -> None:
        """Remove the domain's definition and, unless ``keep_nvram``, its UEFI variable store.
        (The NVRAM flag is passed only to domains that have an <nvram>, as some drivers reject
        it outright.)"""
        action = f"undefine domain {name!r}"
        dom = self._domain(name, action)
        with self._translating(action):
            flags = 0
            if has_nvram(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)):
                flags = (libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM if keep_nvram
                         else libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            dom.undefineFlags(flags)

    def domain_xml(self, name: str, *, inactive: bool = False, secure: bool = False) -> str:
        """The live XML (or, with ``inactive``, the definition used at next start)."""
        action = f"read the XML of domain {name!r}"
        dom = self._domain(name, action)
        flags = ((libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)
                 | (libvirt.VIR_DOMAIN_XML_SECURE if secure else 0))
        with self._translating(action):
            return dom.XMLDesc(flags)

    def domain_state(self, name: str) -> DomainState:
        action = f"read the state of domain {name!r}"
        dom = self._domain(name, action)
        with self._translating(action):
            code, _reason = dom.state()
        return DomainState.from_code(code)

    def set_user_password(self, name: str, user: str, password: str) -> None:
        """virDomainSetUserPassword: the QEMU guest agent inside the guest sets ``user``'s
        password (guest-set-user-password; on Windows through the agent's NetUserSetInfo).
        Needs a running guest with the agent channel (hw_qemu_guest_agent=yes)."""
        action = f"set the password of user {user!r} in domain {name!r}"
        dom = self._domain(name, action)
        with self._translating(action, agent=True):
            dom.setUserPassword(user, password, 0)

    def guest_time(self, domain_name: str) -> datetime:
        """virDomainGetTime: the guest agent's guest-get-time, the guest kernel's clock (not
        its RTC), as an aware UTC datetime (microseconds; the agent gives nanoseconds)."""
        action = f"read the clock of domain {domain_name!r} through its guest agent"
        dom = self._domain(domain_name, action)
        with self._translating(action, agent=True):
            got = dom.getTime(0)
        return (datetime.fromtimestamp(got["seconds"], timezone.utc)
                + timedelta(microseconds=got["nseconds"] // 1000))

    def set_guest_time(self, domain_name: str, when: datetime | None = None) -> None:
        """virDomainSetTime with an explicit time: ``when``, or the host's UTC time at the call.

        Not VIR_DOMAIN_TIME_SYNC: that flag asks the agent to reset the guest's clock *from
        the guest's own RTC* (libvirt-domain.c, virDomainSetTime: "the time is reset using
        domain's RTC"; qemu-ga runs ``hwclock -s`` on Linux and ``w32tm /resync`` on Windows),
        so a guest whose RTC is wrong -- the case this exists for -- would stay wrong. With an
        explicit time qemu-ga sets the kernel clock and then writes it to the RTC
        (``hwclock -w``); libvirt then resets QEMU's RTC interrupt reinjection backlog
        (rtc-reset-reinjection), as it does for both forms."""
        action = f"set the clock of domain {domain_name!r} through its guest agent"
        target = guest_time_to_set(when, datetime.now(timezone.utc))
        dom = self._domain(domain_name, action)
        since = target - _EPOCH  # exact, where a float timestamp rounds microseconds
        with self._translating(action, agent=True):
            dom.setTime({"seconds": since.days * 86400 + since.seconds,
                         "nseconds": since.microseconds * 1000}, 0)

    def domain_states(self) -> dict[str, DomainStatus]:
        """Every domain's state and libvirt's reason for it, in one listing (the power-state
        sync reads a whole host at once, as Nova's _sync_power_states does)."""
        conn = self._connection()
        with self._translating("list domains and their states"):
            out = {}
            for dom in conn.listAllDomains(0):
                code, reason = dom.state()
                state = DomainState.from_code(code)
                out[dom.name()] = DomainStatus(state, _REASONS.get(state, {}).get(reason))
            return out

    def list_domains(self) -> list[str]:
        """Names of all domains, running or not, sorted."""
        conn = self._connection()
        with self._translating("list domains"):
            return sorted(d.name() for d in conn.listAllDomains(0))

    def domain_exists(self, name: str) -> bool:
        try:
            self._domain(name, f"look up domain {name!r}")
        except DomainNotFound:
            return False
        return True

    # --- storage pools -----------------------------------------------------------------------

    def _pool(self, name: str) -> libvirt.virStoragePool:
        conn = self._connection()
        with self._translating(f"look up storage pool {name!r}"):
            return conn.storagePoolLookupByName(name)

    def ensure_pool(self, name: str, path: str | Path, *, autostart: bool = True) -> str:
        """A directory pool ``name`` at ``path`` on the host, defined, built and started if it is
        not; returns its path. ConfigConflict when a pool of that name uses another path.

        Safe when several builds ensure the pool at once (two servers of one request landing on
        a new host, or two controllers): whoever loses the race to define or start it takes the
        winner's pool instead of failing, and nothing here ever undefines a pool."""
        path = os.path.normpath(str(path))
        conn = self._connection()
        try:
            pool = self._pool(name)
        except NotFound:
            pool = self._define_dir_pool(conn, name, path)
        with self._translating(f"read storage pool {name!r}"):
            existing = _pool_path(pool)
        if existing is not None and os.path.normpath(existing) != path:
            raise host_error(ConfigConflict, self.uri, f"use {path} for storage pool {name!r}",
                             f"the pool already exists at {existing}")
        with self._translating(f"start storage pool {name!r}"):
            if not pool.isActive():
                try:
                    pool.create(0)
                except libvirt.libvirtError:
                    if not pool.isActive():
                        # Defined by a builder that died before building its directory (or
                        # lost a race to build it): build, then start.
                        _unless_active(pool, pool.build, 0)
                        _unless_active(pool, pool.create, 0)
            if autostart and not pool.autostart():
                pool.setAutostart(1)
        return path

    def _define_dir_pool(self, conn: libvirt.virConnect, name: str,
                         path: str) -> libvirt.virStoragePool:
        root = etree.Element("pool", type="dir")
        etree.SubElement(root, "name").text = name
        etree.SubElement(etree.SubElement(root, "target"), "path").text = path
        with self._translating(f"define storage pool {name!r}"):
            try:
                pool = conn.storagePoolDefineXML(etree.tostring(root, encoding="unicode"), 0)
            except libvirt.libvirtError:
                # Defined by another connection since our lookup ("already exists with uuid"):
                # take that one (its path is checked by the caller); else the error stands.
                try:
                    return conn.storagePoolLookupByName(name)
                except libvirt.libvirtError:
                    pass
                raise
        with self._translating(f"build storage pool {name!r}"):
            # Another builder may have redefined, built and started it meanwhile: then building
            # fails ("is active") and there is nothing left to do.
            _unless_active(pool, pool.build, 0)
        return pool

    def delete_pool(self, name: str, *, delete_dir: bool = False) -> None:
        """Stop and undefine the pool; with ``delete_dir`` also remove its (empty) directory."""
        pool = self._pool(name)
        with self._translating(f"delete storage pool {name!r}"):
            if pool.isActive():
                pool.destroy()
            if delete_dir:
                pool.delete(0)
            pool.undefine()

    def pool_info(self, name: str) -> PoolInfo:
        """The pool's path, state and sizes (those of the filesystem under a dir pool)."""
        pool = self._pool(name)
        with self._translating(f"read storage pool {name!r}"):
            _state, capacity, allocation, available = pool.info()
            return PoolInfo(name=name, path=_pool_path(pool), active=bool(pool.isActive()),
                            capacity_bytes=capacity, allocation_bytes=allocation,
                            available_bytes=available)

    def refresh_pool(self, name: str) -> None:
        """Rescan the pool (volumes added or removed behind libvirt's back)."""
        pool = self._pool(name)
        with self._translating(f"refresh storage pool {name!r}"):
            pool.refresh(0)

    # --- volumes -----------------------------------------------------------------------------

    def _volume(self, pool: str, name: str) -> libvirt.virStorageVol:
        p = self._pool(pool)
        with self._translating(f"look up volume {name!r} in pool {pool!r}"):
            return p.storageVolLookupByName(name)

    def list_volumes(self, pool: str) -> list[str]:
        p = self._pool(pool)
        with self._translating(f"list volumes of pool {pool!r}"):
            return sorted(p.listVolumes())

    def volume_exists(self, pool: str, name: str) -> bool:
        try:
            self._volume(pool, name)
        except NotFound as e:  # the pool itself missing is an error, not "no such volume"
            if getattr(e, "libvirt_code", None) == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return False
            raise
        return True

    def volume_path(self, pool: str, name: str) -> str:
        vol = self._volume(pool, name)
        with self._translating(f"read the path of volume {name!r}"):
            return vol.path()

    def volume_info(self, pool: str, name: str) -> VolumeInfo:
        return self._volume_info(self._volume(pool, name))

    def _volume_info(self, vol: libvirt.virStorageVol) -> VolumeInfo:
        with self._translating("read volume"):
            root = etree.fromstring(vol.XMLDesc(0).encode())
            _type, capacity, allocation = vol.info()
        return VolumeInfo(name=root.findtext("name") or vol.name(),
                          path=root.findtext("target/path") or vol.path(),
                          format=root.find("target/format").get("type")
                          if root.find("target/format") is not None else None,
                          capacity_bytes=capacity, allocation_bytes=allocation,
                          backing_path=root.findtext("backingStore/path"))

    def upload_volume(self, pool: str, name: str, source: str | Path | bytes | BinaryIO,
                      format: str) -> VolumeInfo:
        """Copy ``source`` into a new volume through a libvirt stream (works on remote hosts):
        a local file by name, bytes built in memory (a config drive), or a file already open for
        reading (uploaded from its start to its end; the caller checked that very file).
        ``format`` is what the caller says the data is; libvirt's own reading of the uploaded
        bytes must agree, or the volume is deleted and InvalidInput raised (a "raw" image with a
        qcow2 header must not become a qcow2 disk)."""
        opened: BinaryIO | None = None
        if isinstance(source, bytes):
            size, what = len(source), f"{len(source)} bytes"
        elif isinstance(source, (str, Path)):
            what = repr(str(source))
            try:
                opened = open(source, "rb")
            except FileNotFoundError:
                raise host_error(InvalidInput, self.uri, f"upload {what}",
                                 "no such file") from None
            size = os.fstat(opened.fileno()).st_size
        else:
            what = repr(str(getattr(source, "name", "data")))
            size = os.fstat(source.fileno()).st_size
        try:
            info = self._upload(pool, name, source if opened is None else opened, size, format,
                                what)
        finally:
            if opened is not None:
                opened.close()
        return info

    def _upload(self, pool: str, name: str, source: bytes | BinaryIO, size: int, format: str,
                what: str) -> VolumeInfo:
        p = self._pool(pool)
        # A raw placeholder of exactly the file's size: the upload then overwrites every byte,
        # whereas a qcow2 placeholder made by qemu-img can be longer than a small upload and
        # leave a stale tail. The format is libvirt's reading after the refresh below.
        xml = _volume_xml(name, capacity_bytes=size, format="raw", allocation_bytes=0)
        with self._translating(f"create volume {name!r} in pool {pool!r}"):
            vol = p.createXML(xml, 0)
        try:
            self._send(vol, io.BytesIO(source) if isinstance(source, bytes) else source, size,
                       f"upload {name!r} to pool {pool!r}")
            self._refresh_after_upload(p, pool)
            info = self.volume_info(pool, name)
            if info.format != format:
                raise host_error(InvalidInput, self.uri, f"upload {what}",
                                 f"it was declared {format} but libvirt reads it as "
                                 f"{info.format}")
        except BaseException:
            with contextlib.suppress(libvirt.libvirtError):
                vol.delete(0)
            raise
        return info

    def _send(self, vol: libvirt.virStorageVol, fh: BinaryIO, size: int, action: str) -> None:
        conn = self._connection()
        with self._translating(action):
            stream = conn.newStream(0)
            vol.upload(stream, 0, size, 0)
            with _finished(stream):
                stream.sendAll(lambda _stream, nbytes, f: f.read(nbytes), fh)

    def _refresh_after_upload(self, p: libvirt.virStoragePool, pool: str) -> None:
        """Re-read the pool so the uploaded volume's format is libvirt's reading of the new
        bytes. libvirt refreshes the pool itself after an upload, but in a thread of its own
        (storage_driver.c, virStorageVolPoolRefreshThread) that may run after we look, and not
        at all while another volume is being built; so refresh here, synchronously. The refresh
        is refused ("pool has asynchronous jobs running", VIR_ERR_INTERNAL_ERROR) while a volume
        of the pool is being built: retry that for a while."""
        deadline = time.monotonic() + _REFRESH_WAIT_S
        while True:
            try:
                with self._translating(f"refresh storage pool {pool!r}"):
                    p.refresh(0)
                return
            except HostError as e:
                if (getattr(e, "libvirt_code", None) != libvirt.VIR_ERR_INTERNAL_ERROR
                        or time.monotonic() >= deadline):
                    raise
            time.sleep(0.1)

    def create_overlay_volume(self, pool: str, name: str, backing_vol: str,
                              size_gib: int | None = None) -> VolumeInfo:
        """A qcow2 volume whose backing store is ``backing_vol`` (same pool), as large as
        ``size_gib`` or, when None, as the backing volume."""
        backing = self.volume_info(pool, backing_vol)
        capacity = size_gib * GiB if size_gib is not None else backing.capacity_bytes
        xml = _volume_xml(name, capacity_bytes=capacity, format="qcow2",
                          backing=(backing.path, backing.format))
        p = self._pool(pool)
        with self._translating(f"create overlay volume {name!r} on {backing_vol!r} "
                               f"in pool {pool!r}"):
            return self._volume_info(p.createXML(xml, 0))

    def create_volume(self, pool: str, name: str, size_gib: int,
                      format: str = "qcow2") -> VolumeInfo:
        """An empty volume of ``size_gib`` (an ephemeral disk), sparse where the format allows."""
        xml = _volume_xml(name, capacity_bytes=size_gib * GiB, format=format,
                          allocation_bytes=0)
        p = self._pool(pool)
        with self._translating(f"create volume {name!r} in pool {pool!r}"):
            return self._volume_info(p.createXML(xml, 0))

    def create_volume_from_file(self, pool: str, name: str, source_path: str,
                                format: str | None = None) -> VolumeInfo:
        """A full copy, made by the host itself, of a file on the host that libvirt knows as a
        volume of some pool (``source_path``), converted to ``format`` (None: the source's).
        For a file on this machine use ``upload_volume``."""
        conn = self._connection()
        with self._translating(f"look up volume {source_path!r}"):
            source = conn.storageVolLookupByPath(source_path)
        src = self._volume_info(source)
        xml = _volume_xml(name, capacity_bytes=src.capacity_bytes, format=format or src.format)
        p = self._pool(pool)
        with self._translating(f"copy {source_path!r} to volume {name!r} in pool {pool!r}"):
            return self._volume_info(p.createXMLFrom(xml, source, 0))

    def delete_volume(self, pool: str, name: str) -> None:
        vol = self._volume(pool, name)
        with self._translating(f"delete volume {name!r} from pool {pool!r}"):
            vol.delete(0)

    def download_volume(self, pool: str, name: str, sink: BinaryIO) -> int:
        """virStorageVolDownload of the whole file (offset 0, length 0: to its end) into
        ``sink``, chunk by chunk as the stream delivers them (never the whole disk in memory)."""
        vol = self._volume(pool, name)
        conn = self._connection()
        written = [0]

        def write(_stream: object, data: bytes, out: BinaryIO) -> int:
            out.write(data)
            written[0] += len(data)
            return len(data)

        with self._translating(f"download volume {name!r} of pool {pool!r}"):
            stream = conn.newStream(0)
            vol.download(stream, 0, 0, 0)
            with _finished(stream):
                stream.recvAll(write, sink)
        return written[0]

    def resize_volume(self, pool: str, name: str, size_gib: int) -> VolumeInfo:
        """virStorageVolResize to ``size_gib`` (qemu-img resize for a qcow2 volume); growing
        only (libvirt refuses to shrink without VIR_STORAGE_VOL_RESIZE_SHRINK, which kumo never
        passes: a shrunk disk cuts the guest's filesystem)."""
        vol = self._volume(pool, name)
        with self._translating(f"resize volume {name!r} of pool {pool!r} to {size_gib} GiB"):
            vol.resize(size_gib * GiB, 0)
        return self._volume_info(vol)

    def read_volume(self, pool: str, name: str, max_bytes: int) -> bytes:
        """virStorageVolDownload of the volume's last ``max_bytes`` bytes. Its size is what
        virStorageVolGetInfo says now (libvirt re-reads the file for it: a log still being
        written is read up to that point). A volume the pool does not list yet -- a console log
        virtlogd created after the last scan -- is looked up again after a rescan."""
        p = self._pool(pool)
        try:
            vol = self._volume(pool, name)
        except NotFound as e:
            if getattr(e, "libvirt_code", None) != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
            self._refresh_after_upload(p, pool)
            vol = self._volume(pool, name)
        action = f"read volume {name!r} of pool {pool!r}"
        conn = self._connection()
        chunks: list[bytes] = []
        with self._translating(action):
            _type, size, _allocation = vol.info()
            offset = max(0, size - max_bytes)
            if size - offset <= 0:
                return b""
            stream = conn.newStream(0)
            vol.download(stream, offset, size - offset, 0)
            with _finished(stream):
                stream.recvAll(lambda _stream, data, out: out.append(data), chunks)
        return b"".join(chunks)


@contextlib.contextmanager
def _finished(stream: libvirt.virStream) -> Iterator[None]:
    """Finish the stream after the block, or abort it when the block fails (libvirt's stream
    contract: every stream ends with exactly one of the two)."""
    try:
        yield
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise


def has_nvram(domain_xml: str) -> bool:
    """Whether the domain keeps a UEFI variable store libvirt refuses to undefine silently: an
    explicit <nvram>, or UEFI by firmware autoselection (<os firmware='efi'>), whose store
    libvirt creates at first start without writing <nvram> into the inactive definition."""
    os_el = etree.fromstring(domain_xml.encode()).find("os")
    if os_el is None:
        return False
    # libvirt 9.0 refuses to undefine such a guest without the flag ("cannot undefine domain
    # with nvram"); a pflash loader keeps its variables beside it too
    return (os_el.find("nvram") is not None or os_el.get("firmware") == "efi"
            or os_el.find("loader[@type='pflash']") is not None)


def _unless_active(pool: libvirt.virStoragePool, step: Callable[[int], object],
                   flags: int) -> None:
    """Run a pool's build or create step; its failure stands only if the pool did not end up
    active (a concurrent builder having done it is not a failure)."""
    try:
        step(flags)
    except libvirt.libvirtError:
        if not pool.isActive():
            raise


def _pool_path(pool: libvirt.virStoragePool) -> str | None:
    return etree.fromstring(pool.XMLDesc(0).encode()).findtext("target/path")


def _volume_xml(name: str, *, capacity_bytes: int, format: str | None,
                allocation_bytes: int | None = None,
                backing: tuple[str, str | None] | None = None) -> str:
    root = etree.Element("volume")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "capacity", unit="bytes").text = str(capacity_bytes)
    if allocation_bytes is not None:
        etree.SubElement(root, "allocation", unit="bytes").text = str(allocation_bytes)
    if format:
        etree.SubElement(etree.SubElement(root, "target"), "format", type=format)
    if backing is not None:
        store = etree.SubElement(root, "backingStore")
        etree.SubElement(store, "path").text = backing[0]
        if backing[1]:
            etree.SubElement(store, "format", type=backing[1])
    return etree.tostring(root, encoding="unicode")
