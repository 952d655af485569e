"""Atomic claims of host capacity: one conditional UPDATE, the same SQL on SQLite and PostgreSQL.

The scheduler's claim (``claim_within``) checks against the limits the scheduler computed --
``floor((total - reserved) * ratio)`` per resource, the ratio already resolved from the host's
aggregates -- and returns the host's counters from the same statement:

    UPDATE hosts
       SET used_vcpus = used_vcpus + :v, used_ram_mib = used_ram_mib + :r,
           used_disk_gib = used_disk_gib + :d, instance_count = instance_count + :n,
           generation = generation + 1
     WHERE name = :host
       AND used_vcpus + :v <= :vcpus_limit AND used_ram_mib + :r <= :ram_limit
       AND used_disk_gib + :d <= :disk_limit
    RETURNING id, used_vcpus, used_ram_mib, used_disk_gib, instance_count, generation

One row back: granted. No row: refused (or no such host), nothing changed. The database
serialises writers of one row (PostgreSQL re-checks the WHERE against the committed row after
waiting for its lock; SQLite has one writer at a time), so N concurrent claims against capacity
for k place exactly k, with no SELECT ... FOR UPDATE and no retry loop. RETURNING needs SQLite
3.35 or later; every PostgreSQL kumo supports has it.

``claim`` is the older form that computes the limit in SQL from the host's own ratio
(``(total - reserved) * COALESCE(ratio, default)``) and ignores aggregate overrides; it is kept
for callers that place without the scheduler. Both bump ``instance_count`` and ``generation``.

Which host to try is the scheduler's business, not this module's. ``DEFAULT_RATIOS`` is the one
definition of the allocation ratio a host with a NULL ratio gets; the scheduler's inventory uses
it too (kumo.scheduler.inventory).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, ColumnElement, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from kumo.db.prepared import Prepared

from kumo.db.models.hosts import Host


@dataclass(frozen=True)
class Resources:
    vcpus: int = 0
    ram_mib: int = 0
    disk_gib: int = 0

    def __post_init__(self) -> None:
        for name in ("vcpus", "ram_mib", "disk_gib"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"Resources.{name}={value!r}: must be an integer >= 0")


@dataclass(frozen=True)
class AllocationRatios:
    """The ratios used where a host's own ratio is NULL. The defaults are Nova's
    ``initial_cpu_allocation_ratio`` (4.0), ``initial_ram_allocation_ratio`` (1.0) and
    ``initial_disk_allocation_ratio`` (1.0)."""

    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0


#: the allocation ratios of a host whose own ratio is NULL (the one definition)
DEFAULT_RATIOS = AllocationRatios()


class HostCounters(NamedTuple):
    """A host's usage counters as one claim or release left them."""

    vcpus: int
    ram_mib: int
    disk_gib: int
    instances: int
    generation: int


# resource field -> (used column, total column, reserved column, ratio column, default attr)
_COLUMNS = {
    "vcpus": (Host.used_vcpus, Host.vcpus, Host.reserved_vcpus, Host.cpu_allocation_ratio, "cpu"),
    "ram_mib": (Host.used_ram_mib, Host.ram_mib, Host.reserved_ram_mib, Host.ram_allocation_ratio,
                "ram"),
    "disk_gib": (Host.used_disk_gib, Host.disk_gib, Host.reserved_disk_gib,
                 Host.disk_allocation_ratio, "disk"),
}
_RETURNING = (Host.id, Host.used_vcpus, Host.used_ram_mib, Host.used_disk_gib,
              Host.instance_count, Host.generation)


def capacity_expr(resource: str, defaults: AllocationRatios) -> ColumnElement[float]:
    """SQL for a host's usable capacity of ``resource``: (total - reserved) * ratio."""
    _used, total, reserved, ratio, default = _COLUMNS[resource]
    return (total - reserved) * func.coalesce(ratio, getattr(defaults, default))


def _check_instances(instances: int) -> None:
    if not isinstance(instances, int) or instances < 0:
        raise ValueError(f"instances={instances!r}: must be an integer >= 0")


def _added(request: Resources, instances: int, sign: int) -> dict:
    values = {used.key: used + sign * getattr(request, name)
              for name, (used, *_rest) in _COLUMNS.items()}
    values[Host.instance_count.key] = Host.instance_count + sign * instances
    values[Host.generation.key] = Host.generation + 1
    return values


def _held(request: Resources, instances: int) -> list:
    """Conditions that the host holds at least ``request`` and ``instances``."""
    held = [used >= getattr(request, name) for name, (used, *_rest) in _COLUMNS.items()]
    return held + [Host.instance_count >= instances]


def _update(session: Session, where: ColumnElement[bool], values: dict) -> HostCounters | None:
    stmt = (update(Host).where(where).values(values).returning(*_RETURNING)
            .execution_options(synchronize_session=False))
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    cached = session.identity_map.get(session.identity_key(Host, row[0]))
    if cached is not None:
        session.expire(cached)  # its counters changed under it
    return HostCounters(*row[1:])


def claim_within(session: Session, host: str, request: Resources, limits: Resources, *,
                 instances: int = 1) -> HostCounters | None:
    """Add ``request`` (and ``instances``) to the host named exactly ``host`` if every resource
    stays within its limit: ``used + requested <= limit`` for vCPU, RAM and disk alike. The
    host's counters after the claim, or None when refused (or no host has that name)."""
    _check_instances(instances)
    fits = [used + getattr(request, name) <= getattr(limits, name)
            for name, (used, *_rest) in _COLUMNS.items()]
    return _update(session, and_(Host.name == host, *fits), _added(request, instances, +1))


def _claim_within_statement(skip_locked: bool = False):
    """``claim_within``'s UPDATE with every value a bind parameter (compiled once).
    ``skip_locked`` (PostgreSQL): the host's row is taken with FOR NO KEY UPDATE SKIP LOCKED,
    so a claim on a row another transaction is writing (another controller's claim, until it
    commits) changes nothing at once instead of waiting for that commit. NO KEY: the lock the
    UPDATE itself takes (it changes no key), which does not conflict with the FOR KEY SHARE
    lock a foreign-key check holds on the host's row while an instance, service or move row
    naming the host is written -- FOR UPDATE would skip such a host as busy (PostgreSQL
    "Explicit Locking", row-level lock modes)."""
    values = {used.key: used + bindparam(name) for name, (used, *_rest) in _COLUMNS.items()}
    values[Host.instance_count.key] = Host.instance_count + bindparam("instances")
    values[Host.generation.key] = Host.generation + 1
    fits = [used + bindparam(name) <= bindparam(f"{name}_limit")
            for name, (used, *_rest) in _COLUMNS.items()]
    host: ColumnElement[bool] = Host.name == bindparam("host")
    if skip_locked:
        host = Host.id == (select(Host.id).where(Host.name == bindparam("host"))
                           .with_for_update(skip_locked=True, key_share=True).scalar_subquery())
    return update(Host).where(and_(host, *fits)).values(values).returning(*_RETURNING)


_CLAIM_WITHIN = Prepared(_claim_within_statement)
_CLAIM_WITHIN_SKIP_LOCKED = Prepared(lambda: _claim_within_statement(skip_locked=True))
_COUNTERS_OF = Prepared(lambda: select(*_RETURNING).where(Host.name == bindparam("host")))


def claim_within_conn(conn: Connection, host: str, request: Resources, limits: Resources, *,
                      instances: int = 1, skip_locked: bool = False
                      ) -> tuple[bool, HostCounters | None]:
    """``claim_within`` on a Core connection, the statement compiled once (kumo.db.prepared):
    the scheduler's claim on its hot path. (granted, the host's counters after the claim or as
    they stand when refused); counters None when no host has that name. The caller commits.

    ``skip_locked``: on PostgreSQL, refused at once when another transaction holds the host's
    row (see ``busy``) instead of waiting for it to end; SQLite has one writer at a time and
    no row locks to skip."""
    _check_instances(instances)
    stmt = (_CLAIM_WITHIN_SKIP_LOCKED if skip_locked and conn.dialect.name != "sqlite"
            else _CLAIM_WITHIN)
    rows = stmt.rows(
        conn, host=host, vcpus=request.vcpus, ram_mib=request.ram_mib,
        disk_gib=request.disk_gib, instances=instances, vcpus_limit=limits.vcpus,
        ram_mib_limit=limits.ram_mib, disk_gib_limit=limits.disk_gib)
    if rows:
        row = rows[0]
        return True, HostCounters(*row[1:])
    rows = _COUNTERS_OF.rows(conn, host=host)
    return False, (HostCounters(*rows[0][1:]) if rows else None)


def fits_within(counters: HostCounters, request: Resources, limits: Resources) -> bool:
    """Whether ``request`` fits the host as ``counters`` stand (the claim's own check): a claim
    with ``skip_locked`` refused while the row as committed has room was refused because
    another transaction held the row -- the host is busy, not full."""
    return (counters.vcpus + request.vcpus <= limits.vcpus
            and counters.ram_mib + request.ram_mib <= limits.ram_mib
            and counters.disk_gib + request.disk_gib <= limits.disk_gib)


def release_from(session: Session, host: str, request: Resources, *,
                 instances: int = 1) -> HostCounters | None:
    """Take ``request`` (and ``instances``) off the host named ``host``; its counters after, or
    None (nothing changed) when the host does not hold that much or does not exist."""
    _check_instances(instances)
    return _update(session, and_(Host.name == host, *_held(request, instances)),
                   _added(request, instances, -1))


def counters(session: Session, hosts: Iterable[str] | None = None) -> dict[str, HostCounters]:
    """The counters of the hosts named in ``hosts`` (every host when None), by name; unknown
    names are left out. One SELECT."""
    stmt = select(Host.name, *_RETURNING[1:])
    if hosts is not None:
        names = list(hosts)
        if not names:
            return {}
        stmt = stmt.where(Host.name.in_(names))
    return {row[0]: HostCounters(*row[1:]) for row in session.execute(stmt)}


def claim(session: Session, host_id: int, request: Resources,
          defaults: AllocationRatios = DEFAULT_RATIOS, *, instances: int = 1) -> bool:
    """Add ``request`` to the host's usage if it fits its own ratios; True if it did. One UPDATE.

    Resources not requested (0) are not checked, so a host over-committed on disk (after its
    ratio was lowered) still takes a diskless request."""
    _check_instances(instances)
    fits = []
    for name, (used, *_rest) in _COLUMNS.items():
        amount = getattr(request, name)
        if amount:
            fits.append(used + amount <= capacity_expr(name, defaults))
    return _update(session, and_(Host.id == host_id, *fits),
                   _added(request, instances, +1)) is not None


def release(session: Session, host_id: int, request: Resources, *, instances: int = 1) -> bool:
    """Take ``request`` off the host's usage; False (nothing changed) if it was not all claimed."""
    _check_instances(instances)
    return _update(session, and_(Host.id == host_id, *_held(request, instances)),
                   _added(request, instances, -1)) is not None
