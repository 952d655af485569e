"""The host seam: what kumo.compute asks of a hypervisor host, as a typed Protocol.

kumo.compute never imports libvirt. It talks to a ``HostConnection`` -- the way httpx's client
talks to a transport -- and gets plain values back (``NodeInfo``, ``DomainState``, ``PoolInfo``,
``VolumeInfo``, ``HostCapabilities``). Two implementations satisfy it:

    kumo.hosts.libvirt_host.LibvirtHost   libvirt-python against a real daemon (or test:///)
    kumo.hosts.fake.FakeHost              in memory, records its calls, fails when told to:
                                          the failure paths of create, power, rebuild, delete
                                          and recovery are unit-tested against it

Failures cross the seam as kumo exceptions only (kumo.errors), made by the libvirt error table
(kumo.hosts.errors): DomainNotFound, NotFound (pool, volume), InvalidInput (XML refused),
UnsupportedGuest, StateError (operation invalid in the domain's state), HostUnreachable (the
URI does not answer), HostError (anything else). Calls through the guest agent add
GuestNotRunning (a StateError), GuestAgentNotConfigured and GuestAgentUnresponsive (both
GuestAgentError, a HostError). A caller handles those and nothing else.

The value types live here, not in libvirt_host, so the seam and the fake need no libvirt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from kumo.errors import InvalidInput
from kumo.hosts.capabilities import HostCapabilities


class DomainState(StrEnum):
    """libvirt's virDomainState codes, by name."""

    NOSTATE = "nostate"
    RUNNING = "running"
    BLOCKED = "blocked"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"  # being shut down
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    PMSUSPENDED = "pmsuspended"
    UNKNOWN = "unknown"  # a code newer than this table

    @classmethod
    def from_code(cls, code: int) -> "DomainState":
        return _STATE_BY_CODE.get(code, cls.UNKNOWN)


@dataclass(frozen=True)
class DomainStatus:
    """A domain's state and, when libvirt gives one, why it is in it (virDomainGetState's
    reason, in words: "destroyed (powered off from the host)", "the guest shut itself down")."""

    state: DomainState
    reason: str | None = None


# virDomainState is part of libvirt's stable ABI (VIR_DOMAIN_NOSTATE = 0 .. VIR_DOMAIN_PMSUSPENDED
# = 7, https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainState); spelled as numbers
# so this module needs no libvirt (tests/hosts check them against libvirt's constants).
_STATE_BY_CODE = {
    0: DomainState.NOSTATE,
    1: DomainState.RUNNING,
    2: DomainState.BLOCKED,
    3: DomainState.PAUSED,
    4: DomainState.SHUTDOWN,
    5: DomainState.SHUTOFF,
    6: DomainState.CRASHED,
    7: DomainState.PMSUSPENDED,
}


@dataclass(frozen=True)
class NodeInfo:
    """virNodeGetInfo: the host's CPUs and memory."""

    arch: str
    cpus: int
    memory_mib: int
    mhz: int
    numa_nodes: int
    sockets_per_node: int
    cores_per_socket: int
    threads_per_core: int


@dataclass(frozen=True)
class PoolInfo:
    name: str
    path: str | None
    active: bool
    capacity_bytes: int
    allocation_bytes: int
    available_bytes: int


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    path: str
    #: the on-disk format as libvirt sees it (raw, qcow2, iso, vmdk, ...)
    format: str | None
    capacity_bytes: int
    allocation_bytes: int
    backing_path: str | None = None


def guest_time_to_set(when: datetime | None, now: datetime) -> datetime:
    """What ``set_guest_time`` sets: ``when`` in UTC, or ``now`` (the host's UTC time) when None.
    A naive ``when`` is refused: a clock without a zone is exactly the 8-hour mistake this call
    exists to fix."""
    if when is None:
        return now
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInput(f"guest time {when.isoformat()} has no time zone: give an aware "
                           "datetime (e.g. with tzinfo=timezone.utc)")
    return when.astimezone(timezone.utc)


class HostNetworks(Protocol):
    """A host's libvirt networks and network filters (kumo.compute.host_networks uses them).
    NotFound for a network or filter that does not exist."""

    def network_exists(self, name: str) -> bool: ...

    def ensure_network(self, xml: str) -> bool:
        """Defined, started, autostarted; True when this call defined it."""
        ...

    def network_xml(self, name: str) -> str: ...

    def add_dhcp_host(self, network: str, host_xml: str) -> None: ...

    def delete_dhcp_host(self, network: str, host_xml: str) -> None: ...

    def delete_network(self, name: str) -> None: ...

    def list_networks(self) -> list[str]: ...

    def define_nwfilter(self, xml: str) -> None: ...

    def undefine_nwfilter(self, name: str) -> None: ...

    def nwfilter_xml(self, name: str) -> str: ...

    def list_nwfilters(self) -> list[str]: ...


@runtime_checkable
class HostConnection(HostNetworks, Protocol):
    """One hypervisor host, as kumo.compute uses it. Every method may raise the kumo exceptions
    listed in the module docstring; none returns libvirt objects."""

    uri: str

    def close(self) -> None: ...

    # --- the host
    def capabilities(self, virt_type: str | None = None, machine: str | None = None,
                     arch: str | None = None,
                     emulator: str | None = None) -> HostCapabilities: ...

    def node_info(self) -> NodeInfo: ...

    def daemon_id(self) -> str:
        """What names the daemon behind the connection whatever URI reached it (``uuid:<host
        UUID>``, or ``uri:<resolved URI>`` for a driver with no host UUID): two host records
        with one daemon_id would count one machine twice."""
        ...

    # --- domains
    def define(self, xml: str) -> str:
        """Define (or redefine) a persistent domain; its name."""
        ...

    def start(self, name: str) -> None: ...

    def destroy(self, name: str) -> None:
        """Power off at once; the domain stays defined."""
        ...

    def shutdown(self, name: str, timeout_s: float) -> bool:
        """Graceful power-off, destroyed after ``timeout_s``: True when it stopped by itself.
        StateError when it is not running."""
        ...

    def reboot(self, name: str) -> None: ...

    def undefine(self, name: str, *, keep_nvram: bool = False) -> None: ...

    def domain_xml(self, name: str, *, inactive: bool = False, secure: bool = False) -> str: ...

    def domain_state(self, name: str) -> DomainState: ...

    def domain_states(self) -> dict[str, DomainStatus]: ...

    def list_domains(self) -> list[str]: ...

    def domain_exists(self, name: str) -> bool: ...

    def set_user_password(self, name: str, user: str, password: str) -> None:
        """Set a guest account's password through the guest agent (virDomainSetUserPassword).
        The guest-agent errors of the module docstring when it cannot."""
        ...

    def guest_time(self, domain_name: str) -> datetime:
        """The guest's own clock (its kernel's time, read by the guest agent: virDomainGetTime),
        as an aware UTC datetime; compare it with the host's UTC now for the guest's offset.
        GuestNotRunning, GuestAgentNotConfigured, GuestAgentUnresponsive when it cannot."""
        ...

    def set_guest_time(self, domain_name: str, when: datetime | None = None) -> None:
        """Set the guest's clock through its agent (virDomainSetTime) to ``when`` (aware) or,
        when None, to the host's UTC time at the call. The same errors as ``guest_time``;
        InvalidInput for a naive ``when``."""
        ...

    # --- storage pools
    def ensure_pool(self, name: str, path: str | Path, *, autostart: bool = True) -> str: ...

    def pool_info(self, name: str) -> PoolInfo: ...

    def refresh_pool(self, name: str) -> None: ...

    # --- volumes
    def list_volumes(self, pool: str) -> list[str]: ...

    def volume_info(self, pool: str, name: str) -> VolumeInfo: ...

    def upload_volume(self, pool: str, name: str, source: str | Path | bytes | BinaryIO,
                      format: str) -> VolumeInfo:
        """A new volume holding ``source`` (a local file, bytes built in memory, or a file open
        for reading, sent from its start to its end); InvalidInput (and no volume) when its
        bytes are not of ``format``."""
        ...

    def create_overlay_volume(self, pool: str, name: str, backing_vol: str,
                              size_gib: int | None = None) -> VolumeInfo: ...

    def create_volume(self, pool: str, name: str, size_gib: int,
                      format: str = "qcow2") -> VolumeInfo: ...

    def delete_volume(self, pool: str, name: str) -> None: ...

    def download_volume(self, pool: str, name: str, sink: BinaryIO) -> int:
        """Write the volume's whole file (its bytes as stored: a qcow2 overlay as qcow2, with
        its backing file's path) to ``sink`` through the host's storage API; the bytes written.
        What a cold migration carries to another host's ``upload_volume``."""
        ...

    def resize_volume(self, pool: str, name: str, size_gib: int) -> VolumeInfo:
        """Grow the volume's capacity (virtual size) to ``size_gib``; InvalidInput to shrink."""
        ...

    def read_volume(self, pool: str, name: str, max_bytes: int) -> bytes:
        """The last ``max_bytes`` bytes of a volume (all of it when smaller), read through the
        host's storage API, so a remote host works as the local one (a guest's console log).
        A file written into the pool behind libvirt's back is found (the pool is rescanned
        once); NotFound when there is none."""
        ...
