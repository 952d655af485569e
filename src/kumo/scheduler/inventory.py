"""The scheduler's inventory from the database: a ``HostView`` per host row.

What goes into a view, and from where:

    identity, hypervisor    hosts.name; the stored capabilities (HostCapabilities, read from
                            libvirt when the host was added), else hypervisor_type/_version;
                            a virt_type override (kvm|qemu) replaces the hypervisor type, so a
                            KVM host whose guests run as TCG takes only qemu images
    capacity                total - reserved, per resource (what guests may have)
    allocation ratios       the host's own, else kumo.db.claims.DEFAULT_RATIOS -- the one
                            definition; aggregate overrides are applied by the scheduler
    usage                   used_vcpus/_ram_mib/_disk_gib and instance_count (kept by the claims)
    state                   enabled, disabled_reason, forced_down, last_heartbeat
    zone, aggregates        hosts.availability_zone, else the first of its aggregates (by name)
                            that sets one, else "nova" (Nova's default_availability_zone);
                            every aggregate with its metadata
    image property counts   per tracked property, the live instances on the host by the value
                            of that property in their frozen image properties (LikeImages)

The per-host fields (capacity, ratios, usage, state, zone) are computed as columns, for one row
or many (``own_columns``): the one definition, which the views here and the resident inventory's
fleet (kumo.scheduler.resident, without a view per host) both read.

Reading is one unit of work the caller gives (read-only is enough); nothing here writes.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, selectinload

from kumo.catalog.properties import ImageProperties, canonical_name
from kumo.db.claims import DEFAULT_RATIOS, AllocationRatios
from kumo.db.prepared import utc_timestamp
from kumo.db.models import Aggregate as AggregateRow
from kumo.db.models import Host, Instance
from kumo.db.models import ServerGroup as ServerGroupRow
from kumo.errors import InvalidProperty
from kumo.scheduler.columns import PerHost
from kumo.scheduler.model import Aggregate, HostView, ServerGroup, image_value

#: Nova's default_availability_zone: the zone of a host neither it nor an aggregate names
DEFAULT_ZONE = "nova"

#: image property name -> value -> instances on one host
Counts = dict[str, dict[str, int]]


def read_hosts(session: Session, names: Iterable[str] | None = None) -> list[Host]:
    """Host rows (all, or those named exactly in ``names``) with their aggregates and metadata
    loaded, the libvirt XML documents left unloaded. Sorted by name."""
    stmt = (select(Host).options(defer(Host.domcaps_xml), defer(Host.caps_xml),
                                 selectinload(Host.aggregates)
                                 .selectinload(AggregateRow.metadata_items))
            .order_by(Host.name))
    if names is not None:
        stmt = stmt.where(Host.name.in_(list(names)))
    return list(session.scalars(stmt))


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """'6.3.9600' -> (6, 3, 9600); None when there are no digits."""
    parts = tuple(int(p) for p in re.findall(r"\d+", text or ""))
    return parts or None


def zone_of(host: Host) -> str:
    return zone_from(host.availability_zone, host.aggregates)


def zone_from(own: str | None, aggregates: Iterable[Any]) -> str:
    """The host's zone: its own, else the first of its aggregates (by name) that sets one."""
    if own:
        return own
    for agg in sorted(aggregates, key=lambda a: a.name):
        if agg.availability_zone:
            return agg.availability_zone
    return DEFAULT_ZONE


#: the host columns the per-host view fields are read from (``own_columns``; the zone
#: comes resolved: the host's own, else its aggregates', ``zone_from``)
PER_HOST_COLUMNS = ("name", "enabled", "disabled_reason", "forced_down",
                    "last_heartbeat", "vcpus", "reserved_vcpus", "ram_mib", "reserved_ram_mib",
                    "disk_gib", "reserved_disk_gib", "used_vcpus", "used_ram_mib",
                    "used_disk_gib", "instance_count", "cpu_allocation_ratio",
                    "ram_allocation_ratio", "disk_allocation_ratio")
_OWN_ORDER = {name: k for k, name in enumerate(PER_HOST_COLUMNS)}


def per_host_fields(host: Any, aggregates: Iterable[Any],
                    ratios: AllocationRatios = DEFAULT_RATIOS, *,
                    zone: str | None = None) -> dict[str, Any]:
    """The view fields of one host row that no other field is derived from (HostView.clone's
    PER_HOST_FIELDS): name, zone, state, capacity, ratios, usage. ``host``: an ORM Host or a row
    with the same attribute names; ``aggregates``: its aggregates (name, availability_zone);
    ``zone``: the host's zone when the caller has it already (``zone_from``)."""
    cols = [(getattr(host, c),) for c in PER_HOST_COLUMNS]
    if zone is None:
        zone = zone_from(host.availability_zone, aggregates)
    return own_columns(cols, _OWN_ORDER, (zone,), ratios).fields(0)


def own_columns(cols: Sequence[Sequence[Any]], at: Mapping[str, int], zones: Sequence[str],
                ratios: AllocationRatios = DEFAULT_RATIOS) -> PerHost:
    """``per_host_fields`` of many rows at once, as columns: the one definition -- capacity is
    total minus reserved (never below 0), a ratio the host's own else ``ratios``'. ``cols``:
    the rows as the driver returns them, transposed (one sequence per column; ``at`` gives the
    position of each of PER_HOST_COLUMNS); ``zones``: each host's zone, in order. Array
    operations, not a loop per host: a cold start runs this for every host of the fleet."""
    n = len(cols[at["name"]])

    def ints(*names: str) -> np.ndarray:
        return np.array([cols[at[c]] for c in names], dtype=np.int64).reshape(len(names), n)

    total = ints("vcpus", "ram_mib", "disk_gib") - ints("reserved_vcpus", "reserved_ram_mib",
                                                         "reserved_disk_gib")
    own = np.array([cols[at[c]] for c in ("cpu_allocation_ratio", "ram_allocation_ratio",
                                           "disk_allocation_ratio")],
                   dtype=np.float64).reshape(3, n)  # (NULL: NaN)
    default = np.array([[ratios.cpu], [ratios.ram], [ratios.disk]], dtype=np.float64)
    return PerHost(
        names=tuple(cols[at["name"]]), zone=tuple(zones),
        enabled=np.array(cols[at["enabled"]], dtype=bool).reshape(n),
        disabled_reason=tuple(cols[at["disabled_reason"]]),
        forced_down=np.array(cols[at["forced_down"]], dtype=bool).reshape(n),
        heartbeat=epoch_seconds(cols[at["last_heartbeat"]]),
        capacity=np.maximum(total, 0).T.copy(),
        usage=ints("used_vcpus", "used_ram_mib", "used_disk_gib", "instance_count").T.copy(),
        ratio=np.where(np.isnan(own), default, own).T.copy())


def epoch_seconds(values: Sequence[Any]) -> np.ndarray:
    """kumo.db.prepared.utc_timestamp of each timestamp as the driver returns it, NaN for None.
    SQLite's text (the UTC wall time) is parsed by numpy in one call -- the same float:
    microseconds since the epoch over 10**6, correctly rounded, as timedelta.total_seconds --
    unless a value is not numpy's to parse (an offset, another form): then, like PostgreSQL's
    datetimes, one at a time. Floats are seconds already."""
    kinds = set(map(type, values))
    if kinds <= {float, type(None)}:  # seconds already (kumo.scheduler.resident, PostgreSQL)
        return np.array(values, dtype=np.float64).reshape(len(values))
    if kinds <= {str, type(None)}:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # (numpy warns about offsets, then drops them)
                stamps = np.array(values, dtype="datetime64[us]")
        except (ValueError, UserWarning, DeprecationWarning):
            pass
        else:
            return np.where(np.isnat(stamps), np.nan, stamps.view(np.int64) / 1e6)
    return np.array([None if v is None else utc_timestamp(v) for v in values],
                    dtype=np.float64).reshape(len(values))


def aggregates_of(aggregates: Iterable[Any]) -> tuple[Aggregate, ...]:
    """A host's aggregates (rows with name and meta) as its view holds them: sorted by name."""
    return tuple(Aggregate(a.name, dict(a.meta)) for a in sorted(aggregates, key=lambda a: a.name))


def host_view(host: Host, counts: Counts | None = None,
              ratios: AllocationRatios = DEFAULT_RATIOS, *,
              fields: dict[str, Any] | None = None) -> HostView:
    """The scheduler's view of one host row (see the module docstring for each field).
    ``fields``: its ``per_host_fields`` when the caller has them already (``views_of``)."""
    kw: dict[str, Any] = (per_host_fields(host, host.aggregates, ratios) if fields is None
                          else fields)
    kw["aggregates"] = aggregates_of(host.aggregates)
    kw["image_property_counts"] = counts or {}
    caps = host.capabilities()
    if caps is not None:
        if host.virt_type and caps.is_libvirt_qemu and caps.hypervisor != host.virt_type:
            caps = caps.with_hypervisor(host.virt_type)
        if caps.hypervisor_version is None and host.hypervisor_version:
            caps = replace(caps, hypervisor_version=parse_version(host.hypervisor_version))
        return HostView.from_capabilities(kw.pop("name"), caps, **kw)
    hv = host.hypervisor_type
    if host.virt_type and hv in ("kvm", "qemu"):
        hv = host.virt_type
    return HostView(kw.pop("name"), hv, parse_version(host.hypervisor_version), **kw)


def image_property_counts(session: Session, properties: Sequence[str],
                          hosts: Iterable[str] | None = None) -> dict[str, Counts]:
    """host name -> property -> value -> live instances there whose frozen image properties give
    that value (as ``image_value`` reads it from a request, so both sides compare alike)."""
    props = tuple(dict.fromkeys(properties))
    if not props:
        return {}
    wanted = set(props) | {canonical_name(p) for p in props}
    stmt = (select(Host.name, Instance.image_properties).join(Instance.host)
            .where(Instance.deleted.is_(False)))
    if hosts is not None:
        stmt = stmt.where(Host.name.in_(list(hosts)))
    out: dict[str, Counts] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for name, raw in session.execute(stmt):
        subset = {k: v for k, v in (raw or {}).items()
                  if k in wanted or canonical_name(k) in wanted}
        if not subset:
            continue
        for prop, value in _values(subset, props):
            out[name][prop][value] += 1
    return {h: {p: dict(v) for p, v in c.items()} for h, c in out.items()}


def _values(raw: dict[str, Any], props: Sequence[str]) -> list[tuple[str, str]]:
    try:
        parsed = ImageProperties.parse(raw)
    except InvalidProperty:
        # a frozen value the schema no longer accepts: count it as written
        return [(p, str(raw[p]).lower()) for p in props if raw.get(p) is not None]
    out = []
    for p in props:
        v = image_value(parsed, p)
        if v is not None:
            out.append((p, v))
    return out


def host_views(session: Session, names: Iterable[str] | None = None,
               track: Sequence[str] = (), ratios: AllocationRatios = DEFAULT_RATIOS
               ) -> list[HostView]:
    """Every host (or those named) as a HostView, with counts of the ``track``ed properties."""
    rows = read_hosts(session, names)
    return views_of(session, rows, track, ratios)


def views_of(session: Session, rows: Sequence[Host], track: Sequence[str] = (),
             ratios: AllocationRatios = DEFAULT_RATIOS) -> list[HostView]:
    counts = image_property_counts(session, track, [h.name for h in rows]) if track else {}
    own = own_columns([[getattr(h, c) for h in rows] for c in PER_HOST_COLUMNS],
                      _OWN_ORDER, [zone_of(h) for h in rows], ratios)
    return [host_view(h, counts.get(h.name), ratios, fields=own.fields(i))
            for i, h in enumerate(rows)]


def server_group_view(session: Session, group: ServerGroupRow,
                      exclude: Iterable[str] = ()) -> ServerGroup | None:
    """The scheduler's value for a server group: where its live members run (one entry per
    member on a host; instance uuids in ``exclude`` left out, e.g. the one being moved).
    None for the soft policies, which constrain nothing (no soft weigher yet)."""
    if group.policy not in ("affinity", "anti-affinity"):
        return None
    stmt = (select(Host.name).join(Instance.host)
            .where(Instance.server_group_id == group.id, Instance.deleted.is_(False))
            .order_by(Host.name))
    skip = list(exclude)
    if skip:
        stmt = stmt.where(Instance.uuid.not_in(skip))
    members = tuple(session.scalars(stmt))
    max_per_host = int((group.rules or {}).get("max_server_per_host", 1))
    return ServerGroup(group.name, group.policy, members, max_per_host)
