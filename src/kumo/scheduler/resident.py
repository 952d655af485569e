"""The inventory a long-running controller keeps resident, read whole once and then only the rows
that changed.

Reading: columns with SQLAlchemy Core, not ORM objects (hydrating 10,000 ``Host`` objects with
their aggregates cost ~1 s; the tuples cost a small fraction). Each row carries its capabilities'
key (migration 0022), and the JSON is read and parsed once per distinct key. The rows are kept
as they were read; the scheduler's fleet is built from them as columns (``Inventory.columns``:
kumo.scheduler.columns) -- a ``HostView`` once per *kind* of host (hypervisor, capabilities,
aggregates), and per host only array entries, its view made when something asks for that host
(a reason, a summary, the chosen host).

Keeping up: each host row carries ``change_seq``, set by the database on every insert and update
(migration 0005: SQLite numbers changes in commit order; PostgreSQL stores the writing
transaction's id). ``Inventory.changes()`` reads, in one statement, the rows at or past the
watermark, the ``inventory_epoch`` token and (PostgreSQL) the snapshot's oldest running
transaction, which becomes the next watermark -- rows written by transactions still running are
read again next time, never missed. A changed token (a host deleted, an aggregate, its metadata
or membership changed) means: read everything again.

A changed row is split into what it changes:
    usage       used_*, instance_count, generation       -> the fleet's usage (newer generations)
    liveness    last_heartbeat, forced_down               -> the fleet's liveness columns
    static      everything else (capacity, ratios, capabilities, zone, enabled, ...)
Only a static change rebuilds the scheduler's fleet (from the resident rows, no database read);
liveness is dynamic data and is part of no cache key.
"""

from __future__ import annotations

import gc
import json
import threading
from collections import OrderedDict, namedtuple
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from sqlalchemy import (BigInteger, Connection, Double, Text, bindparam, cast, extract, func,
                        literal_column, select)

from kumo.db.claims import DEFAULT_RATIOS, AllocationRatios
from kumo.db.models import Aggregate as AggregateRow
from kumo.db.models import AggregateMetadata, Host, InventoryEpoch, aggregate_hosts
from kumo.db.prepared import Prepared, utc_timestamp
from kumo.errors import StateError
from kumo.hosts.capabilities import HostCapabilities
from kumo.scheduler import inventory
from kumo.scheduler.claims import HostUsage
from kumo.scheduler.columns import Counts, HostColumns, PerHost, encode
from kumo.scheduler.model import Aggregate, HostView, freeze_counts

#: the static columns: equal values (and equal aggregates), equal views but for the name
STATIC = (Host.hypervisor_type, Host.hypervisor_version, Host.virt_type, Host.vcpus,
          Host.ram_mib, Host.disk_gib, Host.reserved_vcpus, Host.reserved_ram_mib,
          Host.reserved_disk_gib, Host.cpu_allocation_ratio, Host.ram_allocation_ratio,
          Host.disk_allocation_ratio,
          # the capabilities' key (migration 0022), or their JSON where the key is unknown
          func.coalesce(Host.capabilities_key, cast(Host.capabilities_json, Text)).label("caps"),
          Host.availability_zone, Host.enabled, Host.disabled_reason)
USAGE = (Host.used_vcpus, Host.used_ram_mib, Host.used_disk_gib, Host.instance_count,
         Host.generation)
LIVENESS = (Host.last_heartbeat, Host.forced_down)
COLUMNS = (Host.id, Host.name, Host.change_seq) + STATIC + USAGE + LIVENESS
#: PostgreSQL: the heartbeat as seconds since the epoch, computed by the server -- exactly
#: utc_timestamp's float (EXTRACT gives the exact numeric, its cast to float8 rounds correctly,
#: as timedelta.total_seconds does): the driver's timestamptz parsing cost a cold start ~7 ms
_PG_COLUMNS = tuple(
    cast(extract("epoch", Host.last_heartbeat), Double).label("last_heartbeat")
    if c is Host.last_heartbeat else c for c in COLUMNS)
_NS, _NU = len(STATIC), len(USAGE)
#: PostgreSQL: the oldest transaction still running in this snapshot (the next watermark)
_XMIN = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
_S0 = 3                      # first static column in a row
_U0 = _S0 + _NS              # first usage column
_L0 = _U0 + _NU              # first liveness column

#: parsed capabilities by their JSON text (hosts of one kind share one value)
_CAPS_CACHE: "OrderedDict[str, HostCapabilities]" = OrderedDict()
_CAPS_CACHE_SIZE = 4096


def _caps(text: str | None) -> HostCapabilities | None:
    if text is None or text == "null":
        return None
    got = _CAPS_CACHE.get(text)
    if got is None:
        got = HostCapabilities.from_json(json.loads(text))
        _CAPS_CACHE[text] = got
        if len(_CAPS_CACHE) > _CAPS_CACHE_SIZE:
            _CAPS_CACHE.popitem(last=False)
    return got


@dataclass(frozen=True)
class _Agg:
    """An aggregate as inventory.host_view reads it from a row."""

    name: str
    availability_zone: str | None
    meta: dict[str, str]


#: a host row read with the driver's cursor, by column name
HostRow = namedtuple("HostRow", [c.key for c in COLUMNS])  # type: ignore[misc]


class _Row(HostRow):  # type: ignore[misc,valid-type]
    """A host row as inventory.host_view reads an ORM Host (one definition of a view): the
    columns by name, its aggregates and its capabilities."""

    aggregates: list[_Agg]

    def capabilities(self) -> HostCapabilities | None:
        return _caps(self.caps)

    @classmethod
    def of(cls, raw: Sequence[Any], aggregates: Sequence[_Agg]) -> "_Row":
        row = cls._make(raw)
        row.aggregates = list(aggregates)
        return row


#: a column's position in a row, by name
_AT = {name: k for k, name in enumerate(HostRow._fields)}
_AZ, _HV, _HV_VERSION, _VIRT, _CAPS = (_AT[c] for c in ("availability_zone", "hypervisor_type",
                                                         "hypervisor_version", "virt_type",
                                                         "caps"))
_ALL = Prepared(lambda: select(*COLUMNS))
_ALL_PG = Prepared(lambda: select(*_PG_COLUMNS))
# the rest of a whole read, on the tables (Core: no ORM compile on a cold start)
_TOKEN = Prepared(lambda: select(InventoryEpoch.__table__.c.token)
                  .where(InventoryEpoch.__table__.c.id == 1))
_XMIN_NOW = Prepared(lambda: select(_XMIN))
_AGG_META = Prepared(lambda: select(AggregateMetadata.__table__.c.aggregate_id,
                                    AggregateMetadata.__table__.c.key,
                                    AggregateMetadata.__table__.c.value))
_AGGS = Prepared(lambda: select(AggregateRow.__table__.c.id, AggregateRow.__table__.c.name,
                                AggregateRow.__table__.c.availability_zone))
_AGG_HOSTS = Prepared(lambda: select(aggregate_hosts.c.aggregate_id, aggregate_hosts.c.host_id))
_GEN = _AT["generation"]
#: each capabilities key and its JSON, read from one host of each
_CAPS_TEXTS = Prepared(lambda: select(Host.capabilities_key, cast(Host.capabilities_json, Text))
                       .where(Host.id.in_(select(func.min(Host.id))
                                          .where(Host.capabilities_key.is_not(None))
                                          .group_by(Host.capabilities_key))))


def _is_key(caps: str | None) -> bool:
    """Whether a row's ``caps`` is a key (else the JSON itself: an object, or null)."""
    return caps is not None and caps[:1] != "{" and caps != "null"


def _name_of(row: tuple) -> str:
    return row[1]


#: the largest change_seq (a BIGINT): the change read's range is bounded (below)
_SEQ_MAX = literal_column(str(2**63 - 1), BigInteger)


def _changes_statement(postgres: bool) -> Any:
    """The epoch token, (PostgreSQL) the snapshot's xmin, and every host row changed at or past
    the ``watermark``: an outer join from one row, so the token comes back when none changed.

    The range is bounded above (by the largest BIGINT, so no row is left out) because
    PostgreSQL's generic plan of ``change_seq >= $1`` estimates a third of the table and scans
    it all (3 ms at 10,000 hosts), while for ``change_seq BETWEEN $1 AND max`` it estimates a
    range and uses the index -- the plan the scheduler's held connections keep
    (kumo.db.prepared.HeldConnections plans once)."""
    one = select(literal_column("1").label("one")).subquery()
    cols: list[Any] = [InventoryEpoch.token] + ([_XMIN] if postgres else [])
    return (select(*cols, *(_PG_COLUMNS if postgres else COLUMNS)).select_from(one)
            .outerjoin(InventoryEpoch.__table__, InventoryEpoch.id == literal_column("1"))
            .outerjoin(Host.__table__, Host.change_seq.between(bindparam("watermark"),
                                                               _SEQ_MAX)))


_CHANGES_SQLITE = Prepared(lambda: _changes_statement(False))
_CHANGES_PG = Prepared(lambda: _changes_statement(True))


@dataclass
class Changes:
    """What one incremental read found."""

    #: the inventory must be read whole (epoch token changed, or unknown)
    reload: bool = False
    #: hosts new or with a static change
    static: set[str] = field(default_factory=set)
    #: name -> usage, for hosts whose usage may have changed
    usage: dict[str, HostUsage] = field(default_factory=dict)
    #: name -> (last heartbeat, forced down)
    liveness: dict[str, tuple[float | None, bool]] = field(default_factory=dict)


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False
_gc_froze = False


@contextmanager
def gc_paused(*, freeze: bool = False) -> Iterator[None]:
    """The cyclic garbage collector paused while an inventory and its fleet are built (nestable,
    thread-safe; collection resumes as it was when the last one ends). A cold start allocates
    some ten objects per host -- 100,000 at 10,000 hosts -- and the collector runs every 700
    allocations, now and then over the whole heap (SQLAlchemy's and numpy's objects): a third of
    a cold start's time, to find no garbage (the views are kept). Reference counting frees
    as always meanwhile.

    ``freeze``: when this pause ends, the first time in the process, every object the
    process holds is moved to the collector's permanent generation (``gc.freeze``) -- what a
    process has when it first places is long-lived: its imports and configuration, and the
    inventory just built. Without it, resuming collected them once more: a gen-0 pass over
    the new fleet (~10 ms) and, in a CLI create whose imports had made a full collection due,
    a pass over its whole heap (~60-110 ms) -- inside its first placement. Once per process
    only, so what becomes cyclic garbage later (never collected once frozen) is bounded;
    reference counting frees frozen objects as any other."""
    global _gc_pausers, _gc_was_enabled, _gc_froze
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if freeze and not _gc_froze:
                _gc_froze = True
                gc.freeze()
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


class Inventory:
    """One database's host inventory, resident: ``load`` once, then ``changes`` per placement;
    ``columns()`` what a fleet is built from.

    Not thread-safe by itself: the caller (kumo.scheduler.service) serialises calls."""

    def __init__(self, postgres: bool, ratios: AllocationRatios = DEFAULT_RATIOS):
        self.postgres = postgres
        self.ratios = ratios
        #: name -> its row (COLUMNS) as last read
        self.rows: dict[str, tuple] = {}
        #: name -> its like-image counts (only hosts that have any; ``set_counts``)
        self._counts: dict[str, Counts] = {}
        self._aggs: dict[int, tuple[_Agg, ...]] = {}   # host id -> its aggregates
        self._agg_key: dict[int, tuple[int, ...]] = {}  # host id -> its aggregates' ids
        self._agg_views: dict[tuple[int, ...], tuple[Aggregate, ...]] = {}
        #: the view of each kind (hypervisor, capabilities, aggregates) and of each hypervisor
        #: and capabilities without aggregates, kept across rebuilds
        self._kinds: dict[tuple, HostView] = {}
        self._bases: dict[tuple, HostView] = {}
        self._zones: dict[tuple, str] = {}  # (own zone, aggregate ids) -> the host's zone
        #: capabilities key (migration 0022) -> the capabilities' JSON
        self._caps_text: dict[str, str] = {}
        self.token: int | None = None
        self.watermark = 0

    # --- reading whole -------------------------------------------------------------------------

    def load(self, conn: Connection, attempts: int = 3) -> None:
        """Read every host (and its aggregates) in ``conn``'s transaction."""
        token = _TOKEN.rows(conn)[0][0]
        mark = _XMIN_NOW.rows(conn)[0][0] if self.postgres else None
        rows = (_ALL_PG if self.postgres else _ALL).rows(conn)
        self._caps_text = {}
        if not self._learn_caps(conn, rows, 0):
            # (SQLite reads each statement in its own snapshot: a host's capabilities changed
            # between the two reads)
            if attempts > 1:
                return self.load(conn, attempts - 1)
            raise StateError("the hosts' capabilities kept changing while the scheduler read "
                             "them; try again")
        self._load_aggregates(conn)
        self.rows = {r[1]: r for r in rows}
        self._counts, self._kinds, self._bases, self._zones = {}, {}, {}, {}
        self.token = token
        self.watermark = mark if self.postgres else max((r[2] for r in rows), default=0) + 1

    def _learn_caps(self, conn: Connection, rows: Sequence[Sequence[Any]], skip: int) -> bool:
        """The JSON of each capabilities key in ``rows`` (COLUMNS from ``skip`` on) not known
        yet: one statement, the JSON of one host of each key. False when a key is still
        unknown (no host had it any more: its hosts' capabilities changed since ``rows``)."""
        known = self._caps_text
        wanted = [key for key in set(map(itemgetter(skip + _CAPS), rows))
                  if _is_key(key) and key not in known]
        if not wanted:
            return True
        known.update(_CAPS_TEXTS.rows(conn))
        return all(key in known for key in wanted)

    def _load_aggregates(self, conn: Connection) -> None:
        meta: dict[int, dict[str, str]] = {}
        for agg_id, key, value in _AGG_META.rows(conn):
            meta.setdefault(agg_id, {})[key] = value
        aggs = {agg_id: _Agg(name, az, meta.get(agg_id, {})) for agg_id, name, az in
                _AGGS.rows(conn)}
        members: dict[int, list[int]] = {}
        for agg_id, host_id in _AGG_HOSTS.rows(conn):
            members.setdefault(host_id, []).append(agg_id)
        # hosts in the same aggregates share one tuple (sorted by name), keyed by their ids
        shared: dict[tuple[int, ...], tuple[_Agg, ...]] = {}
        self._aggs, self._agg_key, self._agg_views = {}, {}, {}
        for host_id, ids in members.items():
            key = tuple(sorted(ids))
            got = shared.get(key)
            if got is None:
                got = shared[key] = tuple(sorted((aggs[a] for a in key), key=lambda a: a.name))
            self._aggs[host_id] = got
            self._agg_key[host_id] = key

    def aggregate_keys(self) -> set[str]:
        """Every metadata key the hosts' aggregates set."""
        distinct = {id(aggs): aggs for aggs in self._aggs.values()}  # (hosts share tuples)
        return {k for aggs in distinct.values() for a in aggs for k in a.meta}

    def set_counts(self, counts: Mapping[str, inventory.Counts]) -> None:
        """The like-image counts per host (kumo.scheduler.inventory.image_property_counts)."""
        self._counts = {name: freeze_counts(c) for name, c in counts.items()
                        if c and name in self.rows}

    # --- the fleet's columns -------------------------------------------------------------------

    def columns(self) -> HostColumns:
        """Every host as columns, sorted by name: each host's per-host fields
        (inventory.own_columns), its kind -- one view per hypervisor, capabilities and
        aggregates, built the first time a kind is seen (``HostView.with_aggregates``) -- its
        like-image counts and the usage generation read. No view per host, and no loop per
        host beyond one dictionary lookup: a cold start runs this for every host of the
        fleet."""
        rows = sorted(self.rows.values(), key=_name_of)
        n = len(rows)
        cols: list[tuple] = list(zip(*rows)) if n else [()] * len(COLUMNS)
        agg_keys = list(map(self._agg_key.get, cols[0]))  # (None: in no aggregate)
        # hosts alike in kind and zone: a code per host, and each code's first host
        per_host, firsts = encode(zip(cols[_HV], cols[_HV_VERSION], cols[_VIRT], cols[_CAPS],
                                      cols[_AZ], agg_keys))
        zone_list: list[str] = []
        for i in firsts:
            zone_key = (cols[_AZ][i], agg_keys[i])
            zone = self._zones.get(zone_key)
            if zone is None:
                zone = self._zones[zone_key] = inventory.zone_from(
                    zone_key[0], self._aggs.get(cols[0][i], ()))
            zone_list.append(zone)
        own = inventory.own_columns(cols, _AT, [zone_list[c] for c in per_host.tolist()],
                                    self.ratios)
        kind_code: list[int] = []
        code_of: dict[tuple, int] = {}
        kinds: list[HostView] = []
        for i in firsts:
            r, agg_key = rows[i], agg_keys[i]
            kind_key = (r[_HV], r[_HV_VERSION], r[_VIRT], r[_CAPS], agg_key)
            code = code_of.get(kind_key)
            if code is None:
                code = code_of[kind_key] = len(kinds)
                kind = self._kinds.get(kind_key)
                if kind is None:
                    kind = self._kinds[kind_key] = self._kind(r, agg_key, own, i)
                kinds.append(kind)
            kind_code.append(code)
        counts: dict[int, Counts] = {}
        if self._counts:
            at = dict(zip(own.names, range(n)))
            counts = {at[name]: c for name, c in self._counts.items()}
        return HostColumns(own, tuple(kinds), np.array(kind_code, dtype=np.int64)[per_host],
                           counts, np.array(cols[_GEN], dtype=np.int64).reshape(n))

    def _kind(self, row: tuple, agg_key: tuple[int, ...] | None, own: PerHost,
              i: int) -> HostView:
        """The view of a new kind (``row``: a host of it, the ``i``th of ``own``): its
        hypervisor and capabilities once, then its aggregates (once per distinct set)."""
        base_key = (row[_HV], row[_HV_VERSION], row[_VIRT], row[_CAPS])
        base = self._bases.get(base_key)
        if base is None:
            caps = row[_CAPS]
            if _is_key(caps):  # its JSON (``_learn_caps``)
                row = (*row[:_CAPS], self._caps_text[caps], *row[_CAPS + 1:])
            base = self._bases[base_key] = inventory.host_view(
                _Row.of(row, ()), ratios=self.ratios, fields=own.fields(i))
        if agg_key is None:
            return base
        views = self._agg_views.get(agg_key)
        if views is None:
            views = self._agg_views[agg_key] = inventory.aggregates_of(self._aggs[row[0]])
        return base.with_aggregates(views)

    # --- reading what changed ------------------------------------------------------------------

    def changes(self, conn: Connection) -> Changes:
        """The rows changed since the last read, split by what they change (module docstring).
        One statement: the token, (PostgreSQL) the snapshot's xmin and the changed rows."""
        query = _CHANGES_PG if self.postgres else _CHANGES_SQLITE
        rows = query.rows(conn, watermark=self.watermark)
        first = rows[0]
        out = Changes()
        if first[0] is None or first[0] != self.token:
            out.reload = True
            return out
        skip = 2 if self.postgres else 1
        s0, u0, l0 = skip + _S0, skip + _U0, skip + _L0
        top = self.watermark - 1
        known_rows = self.rows
        for full in rows:
            name = full[skip + 1]
            if name is None:  # no changed row (the outer join's empty side)
                continue
            seq = full[skip + 2]
            top = max(top, seq)
            known = known_rows.get(name)
            if known is not None and known[2] == seq:  # read before, unchanged since
                continue  # (PostgreSQL's watermark re-reads rows of running transactions)
            known_rows[name] = tuple(full[skip:])
            if known is None or known[_S0:_U0] != full[s0:u0]:
                out.static.add(name)
                continue
            out.usage[name] = HostUsage(*full[u0:l0])
            hb = full[l0]
            out.liveness[name] = (hb if hb is None or hb.__class__ is float
                                  else utc_timestamp(hb), bool(full[l0 + 1]))
        if out.static and not self._learn_caps(
                conn, [full for full in rows if full[skip + 1] in out.static], skip):
            out.reload = True  # (their capabilities changed again meanwhile: read anew)
        self.watermark = first[1] if self.postgres else top + 1
        return out
