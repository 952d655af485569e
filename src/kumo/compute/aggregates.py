"""Host aggregates (Nova's os-aggregates): named groups of hosts with metadata the scheduler reads.

The scheduler already reads them (kumo.scheduler.inventory): allocation-ratio overrides
(``cpu_allocation_ratio`` ...), weigher multipliers (``free_ram_weight_multiplier`` ...), image
isolation pins (``os_type=windows``, ``kumo_isolation=strict``) and an availability zone. These
functions are the one way to change them; each change makes the database renew the inventory
epoch (triggers of migration 0005), so a resident scheduler reloads at its next placement.

Rules, as Nova's (nova/compute/api.py AggregateAPI): names are unique (409); an aggregate with
hosts cannot be deleted (400); adding a host twice is 409 and removing one that is not a member
404; a host cannot be in two aggregates of different zones (400). Metadata: keys are names
(1-255 characters), values strings of at most 255; a null value removes the key; the key
``availability_zone`` is the aggregate's zone. Values the scheduler reads as numbers must be
numbers (a ratio above 0, a finite multiplier), so a typo is refused here instead of being
ignored at every placement. Admin-only (os_compute_api:os-aggregates:*).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kumo.catalog.names import check_name, check_text, short
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import find_host
from kumo.db.models import Aggregate, Host
from kumo.errors import ConfigConflict, InvalidInput, NotFound, StateError
from kumo.scheduler.inventory import zone_from

POLICY = "os_compute_api:os-aggregates"
ZONE_KEY = "availability_zone"
VALUE_MAX = 255


class Conflict(StateError):
    """Nova's AggregateNameExists / AggregateHostExists: 409."""


def numeric_keys() -> dict[str, str]:
    """Metadata keys the scheduler reads as numbers -> what is allowed ("ratio" or
    "multiplier"), from the scheduler's own definitions (its resources and weighers)."""
    from kumo.scheduler import weighers  # noqa: F401  (registers the weighers)
    from kumo.scheduler.fleet import RESOURCES
    from kumo.scheduler.plugins import WEIGHERS

    keys = {ratio: "ratio" for _resource, ratio in RESOURCES}
    for cls in WEIGHERS.values():
        key = getattr(cls, "AGGREGATE_KEY", None)
        if key:
            keys[key] = "multiplier"
    return keys


def aggregate_view(agg: Aggregate) -> dict[str, Any]:
    meta = dict(sorted(agg.meta.items()))
    if agg.availability_zone:
        meta[ZONE_KEY] = agg.availability_zone  # Nova keeps the zone as metadata
    return {"id": agg.id, "uuid": agg.uuid, "name": agg.name,
            "availability_zone": agg.availability_zone,
            "hosts": sorted(h.name for h in agg.hosts), "metadata": meta,
            "created_at": agg.created_at.isoformat() if agg.created_at else None,
            "updated_at": agg.updated_at.isoformat() if agg.updated_at else None}


def _load(s: Session, ref: str | int) -> Aggregate:
    """The aggregate with this id (integer), uuid or exact name."""
    stmt = select(Aggregate).options(selectinload(Aggregate.hosts),
                                     selectinload(Aggregate.metadata_items))
    key = str(ref)
    if key.isdigit() and len(key) <= 18:
        row = s.scalar(stmt.where(Aggregate.id == int(key)))
    else:
        row = s.scalar(stmt.where((Aggregate.uuid == key) | (Aggregate.name == key)))
    if row is None:
        raise NotFound(f"Aggregate {short(ref)} could not be found.")
    return row


def _check_zone(zone: str | None) -> str | None:
    if zone is None or zone == "":
        return None
    return check_name("availability zone", zone)


def _name_free(s: Session, name: str, other_than: int | None = None) -> None:
    stmt = select(Aggregate.id).where(Aggregate.name == name)
    if other_than is not None:
        stmt = stmt.where(Aggregate.id != other_than)
    if s.scalar(stmt) is not None:
        raise Conflict(f"Aggregate {name} already exists.")


def list_aggregates(env: ComputeEnv, ctx: RequestContext) -> list[dict[str, Any]]:
    ctx.require_admin(f"listing aggregates (Nova policy {POLICY}:index)")
    with env.db.session_scope(readonly=True) as s:
        rows = s.scalars(select(Aggregate).options(selectinload(Aggregate.hosts),
                                                   selectinload(Aggregate.metadata_items))
                         .order_by(Aggregate.id))
        return [aggregate_view(a) for a in rows]


def show_aggregate(env: ComputeEnv, ctx: RequestContext, ref: str | int) -> dict[str, Any]:
    ctx.require_admin(f"showing an aggregate (Nova policy {POLICY}:show)")
    with env.db.session_scope(readonly=True) as s:
        return aggregate_view(_load(s, ref))


def create_aggregate(env: ComputeEnv, ctx: RequestContext, name: str,
                     availability_zone: str | None = None) -> dict[str, Any]:
    ctx.require_admin(f"creating an aggregate (Nova policy {POLICY}:create)")
    check_name("aggregate", name)
    zone = _check_zone(availability_zone)
    with env.db.session_scope() as s:
        _name_free(s, name)
        agg = Aggregate(name=name, availability_zone=zone)
        s.add(agg)
        s.flush()
        return aggregate_view(_load(s, agg.id))


def update_aggregate(env: ComputeEnv, ctx: RequestContext, ref: str | int, *,
                     name: str | None = None,
                     availability_zone: str | None = None) -> dict[str, Any]:
    """Rename the aggregate and/or set its zone ("" removes it)."""
    ctx.require_admin(f"changing an aggregate (Nova policy {POLICY}:update)")
    if name is None and availability_zone is None:
        raise InvalidInput("nothing to change: give name and/or availability_zone")
    if name is not None:
        check_name("aggregate", name)
    with env.db.session_scope() as s:
        agg = _load(s, ref)
        if name is not None:
            _name_free(s, name, other_than=agg.id)
            agg.name = name
        if availability_zone is not None:
            _set_zone(agg, _check_zone(availability_zone))
        s.flush()
        return aggregate_view(agg)


def delete_aggregate(env: ComputeEnv, ctx: RequestContext, ref: str | int) -> None:
    ctx.require_admin(f"deleting an aggregate (Nova policy {POLICY}:delete)")
    with env.db.session_scope() as s:
        agg = _load(s, ref)
        if agg.hosts:
            raise InvalidInput(f"Cannot remove aggregate {agg.name!r}: host aggregate is not "
                               f"empty ({', '.join(sorted(h.name for h in agg.hosts))}); "
                               "remove its hosts first")
        s.delete(agg)


def add_host(env: ComputeEnv, ctx: RequestContext, ref: str | int, host: str) -> dict[str, Any]:
    """Add the host named exactly ``host`` (kumo.compute.lookup.find_host)."""
    ctx.require_admin(f"adding a host to an aggregate (Nova policy {POLICY}:add_host)")
    with env.db.session_scope() as s:
        agg = _load(s, ref)
        member = find_host(s, host)
        if member in agg.hosts:
            raise Conflict(f"Aggregate {agg.name} already has host {member.name}.")
        if agg.availability_zone:
            _zone_clash(member, agg, agg.availability_zone)
        agg.hosts.append(member)
        s.flush()
        return aggregate_view(agg)


def remove_host(env: ComputeEnv, ctx: RequestContext, ref: str | int,
                host: str) -> dict[str, Any]:
    ctx.require_admin(f"removing a host from an aggregate (Nova policy {POLICY}:remove_host)")
    with env.db.session_scope() as s:
        agg = _load(s, ref)
        member = find_host(s, host)
        if member not in agg.hosts:
            raise NotFound(f"Cannot remove host {member.name} in aggregate {agg.name}: not "
                           "found")
        agg.hosts.remove(member)
        s.flush()
        return aggregate_view(agg)


def set_metadata(env: ComputeEnv, ctx: RequestContext, ref: str | int,
                 metadata: Mapping[str, str | None]) -> dict[str, Any]:
    """Set (a string) or remove (None) each key; checked whole before anything is stored."""
    ctx.require_admin(f"setting aggregate metadata (Nova policy {POLICY}:set_metadata)")
    numeric = numeric_keys()
    for key, value in metadata.items():
        check_name("aggregate metadata key", key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"aggregate metadata {key}={short(value)} is invalid: allowed "
                               "a string or null")
        check_text(f"aggregate metadata {key}", value)
        if len(value) > VALUE_MAX:
            raise InvalidInput(f"aggregate metadata {key} of {len(value)} characters is "
                               f"invalid: allowed at most {VALUE_MAX}")
        if key in numeric:
            _check_number(key, value, numeric[key])
        if key == ZONE_KEY:
            _check_zone(value)
    with env.db.session_scope() as s:
        agg = _load(s, ref)
        for key, value in metadata.items():
            if key == ZONE_KEY:
                _set_zone(agg, value or None)
            elif value is None:
                agg.meta.pop(key, None)
            else:
                agg.meta[key] = value
        s.flush()
        return aggregate_view(agg)


def _check_number(key: str, value: str, kind: str) -> None:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    ok = math.isfinite(number) and (number > 0 if kind == "ratio" else True)
    if not ok:
        allowed = "a number above 0" if kind == "ratio" else "a finite number (negative packs)"
        raise InvalidInput(f"aggregate metadata {key}={short(value)} is invalid: the scheduler "
                           f"reads it as a {kind}; allowed {allowed}")


def _set_zone(agg: Aggregate, zone: str | None) -> None:
    if zone:
        for host in agg.hosts:
            _zone_clash(host, agg, zone)
    agg.availability_zone = zone


def _zone_clash(host: Host, agg: Aggregate, zone: str) -> None:
    """InvalidInput when ``host`` would be in ``zone`` through ``agg`` and in another zone
    through its own setting or another aggregate (Nova: a host is in one zone)."""
    others = [a for a in host.aggregates if a.id != agg.id]
    if host.availability_zone and host.availability_zone != zone:
        where = f"its own zone {host.availability_zone!r} (kumo host set --availability-zone)"
    else:
        theirs = [a for a in others if a.availability_zone and a.availability_zone != zone]
        if not theirs:
            return
        where = f"zone {theirs[0].availability_zone!r} of aggregate {theirs[0].name!r}"
    current = zone_from(host.availability_zone, others)
    raise ConfigConflict(f"host {host.name!r} cannot be in zone {zone!r} of aggregate "
                         f"{agg.name!r}: it is in {where} (now {current!r}); a host is in one "
                         "availability zone")
