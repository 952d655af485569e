"""An in-memory host (kumo.hosts.protocol.HostConnection) for unit tests of compute's paths.

``FakeHost`` keeps domains, pools and volumes in dictionaries and behaves as libvirt does where
compute relies on it (starting a running domain or destroying a stopped one is a StateError, a
missing domain is DomainNotFound, a missing pool or volume NotFound, an upload whose bytes are
not the declared format is refused and leaves no volume). It records every call (``calls``),
runs ``hooks`` at the moment each call arrives (a test asserts there what the journal says
*before* the host acts), and fails when told to::

    host.fail("start", Fault.START_ERROR)                 # the next start raises
    host.fail("upload_volume", Fault.TIMEOUT, when=lambda c: c.args["name"].endswith("-config"))
    host.fail("start", Fault.TIMEOUT, after=True)         # the domain starts, the answer is lost
    host.fail("define", Fault.CONNECTION_LOST)            # raises, then the host stops answering
    host.heal()                                           # ... until healed
    host.domains["web"].guest_clock_offset = timedelta(hours=8)   # its guest clock runs ahead
    host.domains["web"].agent_answers = False             # the agent is configured but silent

Faults are made by the libvirt error table (kumo.hosts.errors.from_code) from the code and
message libvirt gives for that failure, so compute sees exactly the exception a real host's
failure becomes. ``FakeHosts`` is a ComputeEnv ``connect`` that hands out one FakeHost per URI.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Callable

import libvirt
from lxml import etree

from kumo.errors import ConfigConflict, KumoError
from kumo.hosts.capabilities import HostCapabilities, default_host_caps
from kumo.hosts.errors import from_code, host_error
from kumo.hosts.fake_networks import FakeNetworks
from kumo.hosts.protocol import (
    DomainState,
    DomainStatus,
    NodeInfo,
    PoolInfo,
    VolumeInfo,
    guest_time_to_set,
)

GiB = 1 << 30
#: the channel libvirt's QEMU driver talks to the guest agent on
AGENT_CHANNEL = "org.qemu.guest_agent.0"
#: operations that go through the guest agent: their faults use the agent's error table
_AGENT_OPS = frozenset({"set_user_password", "guest_time", "set_guest_time"})


class Fault(Enum):
    """A host failure: (libvirt error code, libvirt's message for it)."""

    #: define refused: valid XML this host cannot realise
    REFUSED = (libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
               "unsupported configuration: domain type 'kvm' is not supported by this host")
    #: define refused: libvirt's parser rejects a value
    INVALID_XML = (libvirt.VIR_ERR_XML_ERROR, "XML error: invalid value for attribute")
    #: QEMU died while starting
    START_ERROR = (libvirt.VIR_ERR_INTERNAL_ERROR,
                   "process exited while connecting to monitor: qemu-system-x86_64: "
                   "failed to initialize kvm: Cannot allocate memory")
    #: a job that never finished (a hung QEMU monitor holds the domain's lock)
    TIMEOUT = (libvirt.VIR_ERR_OPERATION_TIMEOUT,
               "Timed out during operation: cannot acquire state change lock (held by "
               "monitor=remoteDispatchDomainCreate)")
    #: the connection dropped mid-call; the host answers nothing until ``heal()``
    CONNECTION_LOST = (libvirt.VIR_ERR_SYSTEM_ERROR,
                       "Cannot recv data: Connection reset by peer")
    #: a storage operation failed on the host
    STORAGE = (libvirt.VIR_ERR_INTERNAL_ERROR,
               "cannot create volume: No space left on device")
    #: the guest agent does not answer
    AGENT = (libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
             "Guest agent is not responding: QEMU guest agent is not connected")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class Call:
    op: str
    args: dict[str, Any]


@dataclass
class _Armed:
    op: str
    fault: Fault
    when: Callable[[Call], bool] | None
    times: int
    after: bool


@dataclass
class FakeDomain:
    name: str
    xml: str
    state: DomainState = DomainState.SHUTOFF
    #: why it is in that state, as LibvirtHost.domain_states words it (None: not said)
    state_reason: str | None = None
    persistent: bool = True
    #: obeys an ACPI shutdown request (False: shutdown must destroy it)
    graceful: bool = True
    #: guest user -> password the agent set
    passwords: dict[str, str] = field(default_factory=dict)
    #: the guest's clock minus the host's (what guest_time reads; set_guest_time changes it)
    guest_clock_offset: timedelta = timedelta(0)
    #: False: the agent channel is configured but nothing answers on it (agent not running)
    agent_answers: bool = True
    #: the running configuration while it differs from the defined one ``xml`` (libvirt: a
    #: define while the domain runs changes only what its next start gets)
    live_xml: str | None = None


@dataclass
class FakePool:
    name: str
    path: str
    volumes: dict[str, VolumeInfo] = field(default_factory=dict)
    capacity_bytes: int = 100 * GiB


class FakeHost(FakeNetworks):
    """See the module docstring. Thread-safe (one lock around each call)."""

    def __init__(self, uri: str = "fake:///host", *, node: NodeInfo | None = None,
                 caps: HostCapabilities | None = None):
        self.uri = uri
        self.node = node or NodeInfo(arch="x86_64", cpus=8, memory_mib=16384, mhz=2400,
                                     numa_nodes=1, sockets_per_node=1, cores_per_socket=8,
                                     threads_per_core=1)
        self.caps = caps or default_host_caps()
        self.domains: dict[str, FakeDomain] = {}
        self.pools: dict[str, FakePool] = {}
        self.calls: list[Call] = []
        #: volume name -> the bytes uploaded into it (a config drive's content, for tests)
        self.uploaded: dict[str, bytes] = {}
        #: called with each Call as it arrives, before the fake acts or fails
        self.hooks: list[Callable[[Call], None]] = []
        self.down = False
        #: the host UUID libvirt would report (None: like the test driver, none)
        self.host_uuid: str | None = None
        #: the host's UTC clock (a test may pin it); guest clocks are offsets from it
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self._armed: list[_Armed] = []
        self._lock = threading.RLock()
        self._init_networks()

    def __repr__(self) -> str:
        return f"FakeHost({self.uri!r})"

    # --- test controls -----------------------------------------------------------------------

    def fail(self, op: str, fault: Fault, *, when: Callable[[Call], bool] | None = None,
             times: int = 1, after: bool = False) -> None:
        """Make the next ``times`` calls of ``op`` (those ``when`` accepts) fail with ``fault``;
        with ``after``, the call takes effect first and then fails (the answer was lost)."""
        if not hasattr(self, op) or op.startswith("_"):
            raise ValueError(f"FakeHost has no operation {op!r}")
        self._armed.append(_Armed(op, fault, when, times, after))

    def heal(self) -> None:
        """The host answers again; nothing armed stays armed."""
        self.down = False
        self._armed.clear()

    def ops(self, *names: str) -> list[Call]:
        """The recorded calls of the operations ``names`` (all when none), in order."""
        return [c for c in self.calls if not names or c.op in names]

    def volumes(self, pool: str) -> set[str]:
        return set(self.pools[pool].volumes) if pool in self.pools else set()

    def _enter(self, op: str, **args: Any) -> tuple[Call, _Armed | None]:
        """Record the call, run the hooks, and raise now unless the fault comes after."""
        call = Call(op, args)
        self.calls.append(call)
        for hook in list(self.hooks):
            hook(call)
        if self.down:
            raise from_code(libvirt.VIR_ERR_SYSTEM_ERROR,
                            f"Failed to connect socket: Connection refused ({self.uri})",
                            self.uri, "open a connection", opening=True)
        for armed in self._armed:
            if armed.op == op and armed.times > 0 and (armed.when is None or armed.when(call)):
                armed.times -= 1
                if not armed.after:
                    raise self._raise(armed.fault, op, args)
                return call, armed
        return call, None

    def _raise(self, fault: Fault, op: str, args: dict[str, Any]) -> KumoError:
        domain = None
        if fault is Fault.CONNECTION_LOST:  # raised by libvirt's RPC client, not the daemon
            self.down, domain = True, libvirt.VIR_FROM_RPC
        detail = ", ".join(f"{k}={v!r}" for k, v in args.items() if k != "xml")
        return from_code(fault.code, fault.message, self.uri, f"{op}({detail})", domain=domain,
                         agent=op in _AGENT_OPS)

    def _run(self, op: str, act: Callable[[], Any], **args: Any) -> Any:
        with self._lock:
            _call, late = self._enter(op, **args)
            result = act()
            if late is not None:
                raise self._raise(late.fault, op, args)
            return result

    def _error(self, code: int, message: str, action: str, *, agent: bool = False) -> KumoError:
        return from_code(code, message, self.uri, action, agent=agent)

    # --- connection and host -----------------------------------------------------------------

    def close(self) -> None:
        self.calls.append(Call("close", {}))

    def capabilities(self, virt_type: str | None = None, machine: str | None = None,
                     arch: str | None = None, emulator: str | None = None) -> HostCapabilities:
        def act() -> HostCapabilities:
            if virt_type and self.caps.is_libvirt_qemu and self.caps.hypervisor != virt_type:
                return self.caps.with_hypervisor(virt_type)
            return self.caps
        return self._run("capabilities", act, virt_type=virt_type)

    def node_info(self) -> NodeInfo:
        return self._run("node_info", lambda: self.node)

    def daemon_id(self) -> str:
        """``uuid:`` and ``host_uuid`` when a test set one (two URIs, one daemon), else ``uri:``
        and the URI (each fake host is a daemon of its own)."""
        return self._run("daemon_id", lambda: f"uuid:{self.host_uuid}" if self.host_uuid
                         else f"uri:{self.uri}")

    # --- domains -----------------------------------------------------------------------------

    def _domain(self, name: str, action: str) -> FakeDomain:
        dom = self.domains.get(name)
        if dom is None:
            raise self._error(libvirt.VIR_ERR_NO_DOMAIN,
                              f"Domain not found: no domain with matching name '{name}'", action)
        return dom

    def _invalid(self, action: str, why: str) -> KumoError:
        return self._error(libvirt.VIR_ERR_OPERATION_INVALID,
                           f"Requested operation is not valid: {why}", action)

    def define(self, xml: str) -> str:
        def act() -> str:
            try:
                name = etree.fromstring(xml.encode()).findtext("name")
            except etree.XMLSyntaxError as e:
                raise self._error(libvirt.VIR_ERR_XML_DETAIL, f"(domain_definition): {e}",
                                  "define domain") from None
            if not name:
                raise self._error(libvirt.VIR_ERR_XML_ERROR, "XML error: missing domain name",
                                  "define domain")
            dom = self.domains.get(name)
            if dom is None:
                self.domains[name] = FakeDomain(name, xml)
            else:
                if dom.state == DomainState.RUNNING and dom.live_xml is None:
                    dom.live_xml = dom.xml  # the running guest keeps what it started with
                dom.xml, dom.persistent = xml, True
            return name
        return self._run("define", act, xml=xml)

    def start(self, name: str) -> None:
        def act() -> None:
            dom = self._domain(name, f"start domain {name!r}")
            if dom.state == DomainState.RUNNING:
                raise self._invalid(f"start domain {name!r}", "domain is already running")
            dom.state, dom.live_xml = DomainState.RUNNING, None
        self._run("start", act, name=name)

    def _power_off(self, dom: FakeDomain) -> None:
        dom.state, dom.live_xml = DomainState.SHUTOFF, None
        if not dom.persistent:  # a transient domain vanishes when it stops
            del self.domains[dom.name]

    def destroy(self, name: str) -> None:
        def act() -> None:
            dom = self._domain(name, f"destroy domain {name!r}")
            if dom.state != DomainState.RUNNING:
                raise self._invalid(f"destroy domain {name!r}", "domain is not running")
            self._power_off(dom)
        self._run("destroy", act, name=name)

    def shutdown(self, name: str, timeout_s: float) -> bool:
        def act() -> bool:
            dom = self._domain(name, f"shut down domain {name!r}")
            if dom.state != DomainState.RUNNING:
                raise self._invalid(f"shut down domain {name!r}", "it is not running")
            self._power_off(dom)
            return dom.graceful
        return self._run("shutdown", act, name=name, timeout_s=timeout_s)

    def reboot(self, name: str) -> None:
        def act() -> None:
            dom = self._domain(name, f"reboot domain {name!r}")
            if dom.state != DomainState.RUNNING:
                raise self._invalid(f"reboot domain {name!r}", "domain is not running")
        self._run("reboot", act, name=name)

    def undefine(self, name: str, *, keep_nvram: bool = False) -> None:
        def act() -> None:
            dom = self._domain(name, f"undefine domain {name!r}")
            if dom.state == DomainState.RUNNING:
                dom.persistent = False  # libvirt: a running domain becomes transient
            else:
                del self.domains[name]
        self._run("undefine", act, name=name, keep_nvram=keep_nvram)

    def domain_xml(self, name: str, *, inactive: bool = False, secure: bool = False) -> str:
        def act() -> str:
            dom = self._domain(name, f"read the XML of domain {name!r}")
            return dom.xml if inactive or dom.live_xml is None else dom.live_xml
        return self._run("domain_xml", act, name=name, inactive=inactive)

    def domain_state(self, name: str) -> DomainState:
        return self._run("domain_state",
                         lambda: self._domain(name, f"read the state of domain {name!r}").state,
                         name=name)

    def domain_states(self) -> dict[str, DomainStatus]:
        return self._run("domain_states", lambda: {
            n: DomainStatus(d.state, d.state_reason) for n, d in sorted(self.domains.items())})

    def list_domains(self) -> list[str]:
        return self._run("list_domains", lambda: sorted(self.domains))

    def domain_exists(self, name: str) -> bool:
        return self._run("domain_exists", lambda: name in self.domains, name=name)

    def _agent(self, name: str, action: str) -> FakeDomain:
        """The domain, if its agent can be asked now; else what libvirt's QEMU driver says, in
        its order (qemuDomainAgentAvailable): not running, no agent connected, none configured."""
        dom = self._domain(name, action)
        if dom.state != DomainState.RUNNING:
            raise self._error(libvirt.VIR_ERR_OPERATION_INVALID,
                              "Requested operation is not valid: domain is not running", action,
                              agent=True)
        if AGENT_CHANNEL not in dom.xml:
            raise self._error(libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
                              "argument unsupported: QEMU guest agent is not configured", action,
                              agent=True)
        if not dom.agent_answers:
            raise self._error(libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
                              "Guest agent is not responding: QEMU guest agent is not connected",
                              action, agent=True)
        return dom

    def set_user_password(self, name: str, user: str, password: str) -> None:
        def act() -> None:
            dom = self._agent(name, f"set the password of user {user!r} in domain {name!r}")
            dom.passwords[user] = password
        self._run("set_user_password", act, name=name, user=user)  # the password is not kept

    def guest_time(self, domain_name: str) -> datetime:
        def act() -> datetime:
            dom = self._agent(domain_name, f"read the clock of domain {domain_name!r} through "
                                           "its guest agent")
            return self.clock() + dom.guest_clock_offset
        return self._run("guest_time", act, domain_name=domain_name)

    def set_guest_time(self, domain_name: str, when: datetime | None = None) -> None:
        def act() -> None:
            now = self.clock()
            target = guest_time_to_set(when, now)
            dom = self._agent(domain_name, f"set the clock of domain {domain_name!r} through "
                                           "its guest agent")
            dom.guest_clock_offset = target - now
        self._run("set_guest_time", act, domain_name=domain_name, when=when)

    # --- pools -------------------------------------------------------------------------------

    def _pool(self, name: str, action: str) -> FakePool:
        pool = self.pools.get(name)
        if pool is None:
            raise self._error(libvirt.VIR_ERR_NO_STORAGE_POOL,
                              f"Storage pool not found: no storage pool with matching name "
                              f"'{name}'", action)
        return pool

    def ensure_pool(self, name: str, path: str | Path, *, autostart: bool = True) -> str:
        def act() -> str:
            pool = self.pools.setdefault(name, FakePool(name, str(path)))
            if pool.path != str(path):
                raise host_error(ConfigConflict, self.uri,
                                 f"use {path} for storage pool {name!r}",
                                 f"the pool already exists at {pool.path}")
            return pool.path
        return self._run("ensure_pool", act, name=name, path=str(path))

    def pool_info(self, name: str) -> PoolInfo:
        def act() -> PoolInfo:
            pool = self._pool(name, f"read storage pool {name!r}")
            used = sum(v.allocation_bytes for v in pool.volumes.values())
            return PoolInfo(name, pool.path, True, pool.capacity_bytes, used,
                            pool.capacity_bytes - used)
        return self._run("pool_info", act, name=name)

    def refresh_pool(self, name: str) -> None:
        self._run("refresh_pool", lambda: self._pool(name, f"refresh storage pool {name!r}"),
                  name=name)

    # --- volumes -----------------------------------------------------------------------------

    def list_volumes(self, pool: str) -> list[str]:
        return self._run("list_volumes", lambda: sorted(
            self._pool(pool, f"list volumes of pool {pool!r}").volumes), pool=pool)

    def _volume(self, pool: str, name: str) -> VolumeInfo:
        action = f"look up volume {name!r} in pool {pool!r}"
        vol = self._pool(pool, action).volumes.get(name)
        if vol is None:
            raise self._error(libvirt.VIR_ERR_NO_STORAGE_VOL,
                              f"Storage volume not found: no storage vol with matching name "
                              f"'{name}'", action)
        return vol

    def volume_info(self, pool: str, name: str) -> VolumeInfo:
        return self._run("volume_info", lambda: self._volume(pool, name), pool=pool, name=name)

    def _new_volume(self, pool: str, name: str, capacity: int, fmt: str | None,
                    backing: str | None = None, allocation: int = 0) -> VolumeInfo:
        p = self._pool(pool, f"create volume {name!r} in pool {pool!r}")
        if name in p.volumes:
            raise self._error(libvirt.VIR_ERR_STORAGE_VOL_EXIST,
                              f"storage volume '{name}' exists already",
                              f"create volume {name!r} in pool {pool!r}")
        vol = VolumeInfo(name, f"{p.path.rstrip('/')}/{name}", fmt, capacity, allocation,
                         backing)
        p.volumes[name] = vol
        return vol

    def upload_volume(self, pool: str, name: str, source: str | Path | bytes | BinaryIO,
                      format: str) -> VolumeInfo:
        """As libvirt does it: a placeholder volume of the data's size is created under its final
        name first, then the bytes are streamed into it -- outside the host's lock, so other
        calls see the volume while it is being written (and a test can hold the stream open by
        patching ``_read_all``). A failed read or a format mismatch removes the volume, as
        LibvirtHost does; a kill (a BaseException that is not an Exception) leaves it half
        written, as SIGKILL does."""
        if isinstance(source, bytes):
            what = f"{len(source)} bytes"
        elif isinstance(source, (str, Path)):
            what = repr(str(source))
        else:
            what = repr(str(getattr(source, "name", "data")))
        args = dict(pool=pool, name=name, source=what, format=format)
        with self._lock:
            _call, late = self._enter("upload_volume", **args)
            try:
                size = (len(source) if isinstance(source, bytes)
                        else Path(source).stat().st_size if isinstance(source, (str, Path))
                        else os.fstat(source.fileno()).st_size)
            except FileNotFoundError:
                raise self._error(libvirt.VIR_ERR_INVALID_ARG, "no such file",
                                  f"upload {what}") from None
            self._new_volume(pool, name, size, "raw")
        try:
            if isinstance(source, bytes):
                data = source
            elif isinstance(source, (str, Path)):
                with open(source, "rb") as fh:
                    data = _read_all(fh)
            else:
                data = _read_all(source)
        except Exception:
            with self._lock:
                self.pools[pool].volumes.pop(name, None)
            raise
        with self._lock:
            seen = _sniff(data) or ("raw" if format in _SNIFFED else format)
            if seen != format:
                self.pools[pool].volumes.pop(name, None)
                raise from_code(libvirt.VIR_ERR_XML_ERROR,  # InvalidInput, as LibvirtHost says
                                f"it was declared {format} but libvirt reads it as {seen}",
                                self.uri, f"upload {what}")
            self.uploaded[name] = data
            vol = self.pools[pool].volumes[name] = replace(
                self.pools[pool].volumes[name], format=seen, allocation_bytes=len(data))
            if late is not None:
                raise self._raise(late.fault, "upload_volume", args)
            return vol

    def create_overlay_volume(self, pool: str, name: str, backing_vol: str,
                              size_gib: int | None = None) -> VolumeInfo:
        def act() -> VolumeInfo:
            backing = self._volume(pool, backing_vol)
            capacity = size_gib * GiB if size_gib is not None else backing.capacity_bytes
            return self._new_volume(pool, name, capacity, "qcow2", backing.path)
        return self._run("create_overlay_volume", act, pool=pool, name=name,
                         backing_vol=backing_vol, size_gib=size_gib)

    def create_volume(self, pool: str, name: str, size_gib: int,
                      format: str = "qcow2") -> VolumeInfo:
        return self._run("create_volume",
                         lambda: self._new_volume(pool, name, size_gib * GiB, format),
                         pool=pool, name=name, size_gib=size_gib, format=format)

    def delete_volume(self, pool: str, name: str) -> None:
        def act() -> None:
            self._volume(pool, name)
            del self.pools[pool].volumes[name]
            self.uploaded.pop(name, None)
        self._run("delete_volume", act, pool=pool, name=name)

    def download_volume(self, pool: str, name: str, sink: BinaryIO) -> int:
        """What was uploaded into the volume; a volume made empty here (an overlay, an
        ephemeral disk) reads as a qcow2 header naming its backing file, as its file would."""
        def act() -> int:
            vol = self._volume(pool, name)
            data = self.uploaded.get(name)
            if data is None:
                data = (b"QFI\xfb" + f" capacity={vol.capacity_bytes} backing="
                        f"{vol.backing_path or ''}".encode()) if vol.format == "qcow2" else b""
            sink.write(data)
            return len(data)
        return self._run("download_volume", act, pool=pool, name=name)

    def resize_volume(self, pool: str, name: str, size_gib: int) -> VolumeInfo:
        def act() -> VolumeInfo:
            vol = self._volume(pool, name)
            if size_gib * GiB < vol.capacity_bytes:
                raise self._error(libvirt.VIR_ERR_INVALID_ARG,
                                  "invalid argument: Can't shrink capacity below current "
                                  "capacity unless shrink flag explicitly specified",
                                  f"resize volume {name!r}")
            new = self.pools[pool].volumes[name] = replace(vol, capacity_bytes=size_gib * GiB)
            return new
        return self._run("resize_volume", act, pool=pool, name=name, size_gib=size_gib)

    def read_volume(self, pool: str, name: str, max_bytes: int) -> bytes:
        """The tail of what was uploaded into the volume or ``write_file`` put there."""
        def act() -> bytes:
            self._volume(pool, name)
            data = self.uploaded.get(name, b"")
            return data[-max_bytes:] if max_bytes > 0 else b""
        return self._run("read_volume", act, pool=pool, name=name, max_bytes=max_bytes)

    def write_file(self, pool: str, name: str, data: bytes) -> None:
        """Test control: a file the host itself writes into the pool (virtlogd's console log),
        appended to when it exists."""
        with self._lock:
            p = self.pools[pool]
            data = self.uploaded.get(name, b"") + data
            self.uploaded[name] = data
            p.volumes[name] = VolumeInfo(name, f"{p.path.rstrip('/')}/{name}", "raw", len(data),
                                         len(data))


#: formats the fake recognises; bytes without either signature are read as raw
_SNIFFED = ("qcow2", "iso", "raw")


def _sniff(data: bytes) -> str | None:
    """The format libvirt would read in these bytes, for the formats kumo uploads that carry a
    signature: qcow2 (magic QFI\\xfb) and ISO 9660 (CD001 at 32769); None: take the declared
    format (raw has no signature; the fake does not parse vmdk/vpc/vdi headers, and takes those
    as declared)."""
    if data[:4] == b"QFI\xfb":
        return "qcow2"
    if data[32769:32774] == b"CD001":
        return "iso"
    return None


class FakeHosts:
    """A ComputeEnv ``connect``: one FakeHost per URI, made on first use and kept (a
    reconnect after ``forget_host`` finds the same host, as a real daemon would)."""

    def __init__(self) -> None:
        self.hosts: dict[str, FakeHost] = {}
        self._lock = threading.Lock()

    def __call__(self, uri: str) -> FakeHost:
        with self._lock:
            host = self.hosts.get(uri)
            if host is None:
                host = self.hosts[uri] = FakeHost(uri)
            return host

    def __getitem__(self, uri: str) -> FakeHost:
        return self(uri)


def _read_all(fh: BinaryIO) -> bytes:
    """An open file's bytes, read in chunks as libvirt's stream does (so a reader that acts
    per chunk -- a failpoint -- acts here too)."""
    chunks = []
    while chunk := fh.read(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)
