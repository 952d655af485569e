"""Atomic claims of host capacity: one conditional UPDATE, the same SQL on SQLite and PostgreSQL.

    UPDATE hosts
       SET used_ram_mib = used_ram_mib + :ram, ...           (each requested resource)
     WHERE id = :host_id
       AND used_ram_mib + :ram
           <= (ram_mib - reserved_ram_mib) * COALESCE(ram_allocation_ratio, :default_ram_ratio)
       AND ...                                                (each requested resource)

The claim succeeded iff one row was updated. The database serialises writers of one row
(PostgreSQL re-checks the WHERE against the committed row after waiting for its lock; SQLite has
one writer at a time), so N concurrent claims against capacity for k place exactly k, with no
SELECT ... FOR UPDATE and no retry loop. Resources not requested (0) are not checked, so a host
over-committed on disk (after its ratio was lowered) still takes a diskless request.

Which host to try, and what the default ratios are, is the scheduler's business, not this module's.
Call inside a unit of work and commit it; the claim is released by release() (e.g. on rollback
of a failed build, or when the instance is deleted).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, update
from sqlalchemy.orm import Session

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
    """The ratios used where a host's own ratio is NULL."""

    cpu: float = 1.0
    ram: float = 1.0
    disk: float = 1.0


# resource field -> (used column, total column, reserved column, ratio column, default attr)
_COLUMNS = {
    "vcpus": (Host.used_vcpus, Host.vcpus, Host.reserved_vcpus, Host.cpu_allocation_ratio, "cpu"),
    "ram_mib": (Host.used_ram_mib, Host.ram_mib, Host.reserved_ram_mib, Host.ram_allocation_ratio,
                "ram"),
    "disk_gib": (Host.used_disk_gib, Host.disk_gib, Host.reserved_disk_gib,
                 Host.disk_allocation_ratio, "disk"),
}


def capacity_expr(resource: str, defaults: AllocationRatios) -> ColumnElement[float]:
    """SQL for a host's usable capacity of ``resource``: (total - reserved) * ratio."""
    _used, total, reserved, ratio, default = _COLUMNS[resource]
    return (total - reserved) * func.coalesce(ratio, getattr(defaults, default))


def claim(session: Session, host_id: int, request: Resources,
          defaults: AllocationRatios = AllocationRatios()) -> bool:
    """Add ``request`` to the host's usage if it fits; True if it did. One UPDATE."""
    values, fits = {}, []
    for name, (used, *_rest) in _COLUMNS.items():
        amount = getattr(request, name)
        if amount:
            values[used.key] = used + amount
            fits.append(used + amount <= capacity_expr(name, defaults))
    return _update(session, host_id, values, fits)


def release(session: Session, host_id: int, request: Resources) -> bool:
    """Take ``request`` off the host's usage; False (nothing changed) if it was not all claimed."""
    values, held = {}, []
    for name, (used, *_rest) in _COLUMNS.items():
        amount = getattr(request, name)
        if amount:
            values[used.key] = used - amount
            held.append(used >= amount)
    return _update(session, host_id, values, held)


def _update(session: Session, host_id: int, values: dict, conditions: list) -> bool:
    if not values:  # an empty request always fits; still say whether the host exists
        return session.get(Host, host_id) is not None
    stmt = (update(Host).where(and_(Host.id == host_id, *conditions)).values(values)
            .execution_options(synchronize_session=False))
    done = session.execute(stmt).rowcount == 1
    cached = session.identity_map.get(session.identity_key(Host, host_id)) if done else None
    if cached is not None:
        session.expire(cached)  # its counters changed under it
    return done
