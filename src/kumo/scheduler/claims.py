"""Claims: the one atomic step that turns a scheduling decision into used capacity.

The scheduler decides on a cached view of usage; the ``ClaimStore`` is the truth. A claim
carries the limits the filters checked (``floor(capacity * ratio)`` per resource, ratios already
resolved from aggregates), so the store's check is one comparison per resource:

    used + requested <= limit        for vCPU, RAM and disk, all at once, or nothing changes

A refused claim returns the host's current usage, the scheduler refreshes its cache from it and
decides again. Every change bumps the host's ``generation`` (as OpenStack Placement does for
resource providers), so a cache never goes back to an older usage.

A database store implements the same protocol with one conditional UPDATE per claim, e.g.

    UPDATE hosts SET vcpus_used = vcpus_used + :v, ram_mib_used = ram_mib_used + :r,
                     disk_gib_used = disk_gib_used + :d, instances = instances + 1,
                     generation = generation + 1
     WHERE name = :host AND vcpus_used + :v <= :vcpus_limit
       AND ram_mib_used + :r <= :ram_limit AND disk_gib_used + :d <= :disk_limit
    RETURNING vcpus_used, ram_mib_used, disk_gib_used, instances, generation

(one row: granted; no row: read the row and return it refused), which is atomic on SQLite and
PostgreSQL alike without explicit locks.
"""

from __future__ import annotations

import threading
from dataclasses import MISSING, dataclass, fields
from typing import Iterable, Mapping, Protocol, TypeVar, runtime_checkable

from kumo.errors import NotFound
from kumo.scheduler.model import HostView

_T = TypeVar("_T")


def _direct_init(cls: type[_T]) -> type[_T]:
    """A frozen dataclass whose ``__init__`` writes its fields into the instance's dict.

    The generated one calls ``object.__setattr__`` per field (a frozen dataclass must get
    past its own ``__setattr__``): about three times the cost, and a claim, the store's answer
    and the placement are built on every decision. Same signature, defaults, fields and
    values; for classes without ``__post_init__``, default factories or slots."""
    fs = [f for f in fields(cls) if f.init]  # type: ignore[arg-type]
    if (any(f.default_factory is not MISSING for f in fs) or hasattr(cls, "__post_init__")
            or "__slots__" in cls.__dict__):
        raise TypeError(f"{cls.__name__}: _direct_init needs plain fields")
    ns = {f"_d_{f.name}": f.default for f in fs if f.default is not MISSING}
    params = ", ".join(f.name if f.default is MISSING else f"{f.name}=_d_{f.name}" for f in fs)
    body = "".join(f"    d[{f.name!r}] = {f.name}\n" for f in fs)
    exec(f"def __init__(self, {params}):\n    d = self.__dict__\n{body}", ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    return cls


@_direct_init
@dataclass(frozen=True)
class Claim:
    """Resources one instance takes on one host, and the limits they must stay within."""

    host: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    vcpus_limit: int
    ram_mib_limit: int
    disk_gib_limit: int
    instances: int = 1
    #: the instance the claim is for, when known (a DB store records it as an allocation row)
    consumer: str | None = None
    #: when another scheduler is claiming on the host at this very moment (a database store:
    #: another transaction holds its row), answer ``busy`` at once instead of waiting for it
    skip_busy: bool = False


@_direct_init
@dataclass(frozen=True)
class HostUsage:
    vcpus: int = 0
    ram_mib: int = 0
    disk_gib: int = 0
    instances: int = 0
    generation: int = 0


@_direct_init
@dataclass(frozen=True)
class ClaimResult:
    ok: bool
    #: the host's usage right after the claim (granted) or as it stands (refused)
    usage: HostUsage
    #: refused only because another scheduler was claiming on the host (``Claim.skip_busy``):
    #: as it stands the host has room; try the next best host rather than wait
    busy: bool = False


@runtime_checkable
class ClaimStore(Protocol):
    def claim(self, claim: Claim) -> ClaimResult:
        """Atomically add ``claim`` to its host if every resource stays within its limit."""

    def release(self, claim: Claim) -> HostUsage:
        """Give a claim's resources back (an instance deleted, or a build rolled back)."""

    def usage(self, hosts: Iterable[str] | None = None) -> Mapping[str, HostUsage]:
        """Current usage of ``hosts`` (all hosts when None)."""


@_direct_init
@dataclass(frozen=True)
class Placement:
    """Where a request's instances went: one host, claim and weight per instance."""

    hosts: tuple[str, ...]
    claims: tuple[Claim, ...]
    weights: tuple[float, ...]
    #: decide-and-claim rounds taken in all (more than one per instance means races were lost)
    attempts: int = 1
    #: the (property, value) pairs counted for the LikeImages weigher, given back on release
    like_values: tuple[tuple[str, str], ...] = ()
    #: per instance, the next-best hosts that passed every filter (best first, no claims held):
    #: where create tries again when the chosen host fails to build it (Nova's alternates)
    alternates: tuple[tuple[str, ...], ...] = ()

    @property
    def host(self) -> str:
        return self.hosts[0]


class InMemoryClaimStore:
    """A ClaimStore in process memory, one lock for all hosts: for tests, benchmarks and the
    single-process embedded default before the database store is wired in."""

    def __init__(self, usage: Mapping[str, HostUsage] | None = None):
        self._lock = threading.Lock()
        # per host [vcpus, ram_mib, disk_gib, instances, generation], changed in place: a
        # HostUsage kept per claim would live on until the host's next claim, and such
        # survivors are what brings on the collector's full passes over the whole heap
        self._rows: dict[str, list[int]] = {
            h: [u.vcpus, u.ram_mib, u.disk_gib, u.instances, u.generation]
            for h, u in (usage or {}).items()}

    @classmethod
    def from_hosts(cls, hosts: Iterable[HostView]) -> "InMemoryClaimStore":
        return cls({h.name: HostUsage(h.vcpus_used, h.ram_mib_used, h.disk_gib_used,
                                      h.instances, 0) for h in hosts})

    def _get(self, host: str) -> list[int]:
        try:
            return self._rows[host]
        except KeyError:
            raise NotFound(f"host {host!r} is not known to the claim store") from None

    def claim(self, claim: Claim) -> ClaimResult:
        with self._lock:
            u = self._get(claim.host)
            if (u[0] + claim.vcpus > claim.vcpus_limit
                    or u[1] + claim.ram_mib > claim.ram_mib_limit
                    or u[2] + claim.disk_gib > claim.disk_gib_limit):
                return ClaimResult(False, HostUsage(*u))
            u[0] += claim.vcpus
            u[1] += claim.ram_mib
            u[2] += claim.disk_gib
            u[3] += claim.instances
            u[4] += 1
            return ClaimResult(True, HostUsage(*u))

    def release(self, claim: Claim) -> HostUsage:
        with self._lock:
            u = self._get(claim.host)
            u[:] = (max(0, u[0] - claim.vcpus), max(0, u[1] - claim.ram_mib),
                    max(0, u[2] - claim.disk_gib), max(0, u[3] - claim.instances), u[4] + 1)
            return HostUsage(*u)

    def usage(self, hosts: Iterable[str] | None = None) -> Mapping[str, HostUsage]:
        with self._lock:
            rows = self._rows
            if hosts is None:
                return {h: HostUsage(*u) for h, u in rows.items()}
            return {h: HostUsage(*rows[h]) for h in hosts if h in rows}
