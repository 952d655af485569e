"""The scheduler as the controller calls it: place, release and explain against the database.

    spec = request_spec_for_instance(instance)          # or request_spec(props, flavor, ...)
    placement = place(db, spec)                         # claims made and committed, or NoValidHost
    ...                                                 # record the instance on placement.host
    release(db, placement)                              # the build failed: give the claims back
    release(db, instance_claim(instance, host_name))    # later, when the instance is deleted
    explain(db, spec).table()                           # why each host was (not) chosen

``place`` claims in units of work of its own (kumo.scheduler.db_store): call it outside any
session_scope (on SQLite a nested unit of work waits for the outer one's lock). A controller
records the instance in the claim's own transaction (``place(..., record=fn)``), so a claim is
never committed without the record that holds it; without ``record``, record the instance
afterwards and ``release`` the placement if that fails.

Within a process, one ``Scheduler`` per (database, configuration) is kept and shared by every
thread, so concurrent placements see each other's claims in flight and spread instead of racing
for the same host. Each call re-reads the hosts and their aggregates (one read-only unit of work):
if anything but usage changed -- a host added, disabled, forced down, its heartbeat, ratios,
capabilities, aggregates or their metadata -- the inventory is rebuilt; otherwise only usage is
refreshed, from the same rows (newer generations only). When like-image counts are in use
(LikeImages weighs), it is also rebuilt after ``release`` and at least every
``INVENTORY_MAX_AGE_S`` seconds, so instances booted or deleted elsewhere are counted. Other
controller processes are reconciled by the database: a claim the database refuses updates the
host's usage and the instance is decided again. Releasing in the caller's own transaction with
kumo.db.claims.release (as the compute layer does when it clears an instance's host) keeps the
counters right too: the next placement reads them (call ``released_elsewhere`` afterwards so
like-image counts are re-read as well).

Configuration: ``load_config()`` reads the file named by ``KUMO_SCHEDULER_CONFIG``, else
``<data dir>/scheduler.toml`` or ``scheduler.json``, else uses the defaults. The file holds
``SchedulerConfig`` fields, top level or under ``[scheduler]`` (a ``weighers`` table replaces the
whole set: weighers it does not name are off):

    filters = ["HostEnabled", "ComputeUp", "AvailabilityZone", "VCPU", "RAM", "Disk",
               "ImageProperties", "AggregateImageIsolation", "GuestPolicy", "ServerGroup"]
    alternates = 2          # next-best hosts create tries when the chosen one refuses
    [weighers]
    FreeRAM = 1.0
    LikeImages = -1.0
    [options.ComputeUp]
    service_down_time = 120
    [options.AggregateImageIsolation]
    required = { os_type = ["windows"] }
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import tomllib
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kumo.catalog.flavor import Flavor as FlavorValue
from kumo.catalog.properties import ImageProperties
from kumo.config import Settings
from kumo.db import Database
from kumo.db.prepared import held_connections
from kumo.db.models import Host, Instance
from kumo.errors import InvalidInput, KumoError, NotFound
from kumo.files import parse_json, read_text
from kumo.scheduler import inventory, resident
from kumo.scheduler.claims import Claim, HostUsage, Placement
from kumo.scheduler.config import SchedulerConfig
from kumo.scheduler.db_store import DbClaimStore, recording
from kumo.scheduler.engine import Scheduler
from kumo.scheduler.explain import Explanation
from kumo.scheduler.explain import explain as explain_hosts
from kumo.scheduler.model import HostView, RequestSpec, ServerGroup
from kumo.scheduler.plugins import DecisionContext

#: environment variable naming the scheduler configuration file
CONFIG_ENV = "KUMO_SCHEDULER_CONFIG"
#: looked for in the data directory, in this order
CONFIG_FILES = ("scheduler.toml", "scheduler.json")
#: the shared inventory is rebuilt at least this often (like-image counts, other controllers)
INVENTORY_MAX_AGE_S = 60.0

__all__ = ["CONFIG_ENV", "CONFIG_FILES", "INVENTORY_MAX_AGE_S", "config_path", "explain",
           "forget", "instance_claim", "load_config", "place", "release", "released_elsewhere",
           "request_spec", "request_spec_for_instance"]


# --- configuration -----------------------------------------------------------------------------

def config_path(settings: Settings | None = None) -> Path | None:
    """The scheduler configuration file in effect, or None (defaults)."""
    named = os.environ.get(CONFIG_ENV, "").strip()
    if named:
        return Path(named).expanduser()
    data_dir = (settings or Settings.from_env()).data_dir
    for name in CONFIG_FILES:
        if (data_dir / name).is_file():
            return data_dir / name
    return None


_config_cache: dict[Path, tuple[tuple[int, int], SchedulerConfig]] = {}
_config_lock = threading.Lock()


def load_config(path: str | Path | None = None, *,
                settings: Settings | None = None) -> SchedulerConfig:
    """The scheduler configuration from ``path`` (TOML or JSON by suffix), else from
    ``config_path()``, else the defaults. InvalidInput names the file and what is wrong."""
    p = Path(path).expanduser() if path is not None else config_path(settings)
    if p is None:
        return SchedulerConfig()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InvalidInput(f"scheduler configuration file {str(p)!r} does not exist") from None
    stamp = (st.st_mtime_ns, st.st_size)
    with _config_lock:
        cached = _config_cache.get(p)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    config = _parse_config(p)
    with _config_lock:
        _config_cache[p] = (stamp, config)
    return config


def _parse_config(p: Path) -> SchedulerConfig:
    what = "scheduler configuration file"
    text = read_text(p, what)
    try:
        if p.suffix == ".json":
            data = parse_json(text, what, p)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise InvalidInput(f"scheduler configuration file {str(p)!r} is not valid "
                           f"{'JSON' if p.suffix == '.json' else 'TOML'}: {e}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"scheduler configuration file {str(p)!r} must hold an object")
    if set(data) == {"scheduler"} and isinstance(data["scheduler"], dict):
        data = data["scheduler"]
    try:
        return SchedulerConfig.from_mapping(data)
    except InvalidInput as e:
        raise InvalidInput(f"{p}: {e}") from None
    except TypeError as e:  # a value of the wrong shape (e.g. options not a table)
        raise InvalidInput(f"{p}: scheduler configuration: {e}") from None


# --- requests ----------------------------------------------------------------------------------

def request_spec(image_properties: Mapping[str, Any] | ImageProperties, flavor: FlavorValue, *,
                 availability_zone: str | None = None, group: ServerGroup | None = None,
                 num_instances: int = 1) -> RequestSpec:
    """What to place for a boot: the image's properties (raw Glance strings, validated here, or
    already parsed) with the flavor's extra specs applied (a conflict is a ConfigConflict)."""
    props = (image_properties if isinstance(image_properties, ImageProperties)
             else ImageProperties.parse(dict(image_properties)))
    return RequestSpec.for_boot(flavor, props, availability_zone=availability_zone, group=group,
                                num_instances=num_instances)


def request_spec_for_instance(instance: Instance, *, availability_zone: str | None = None,
                              group: ServerGroup | None = None) -> RequestSpec:
    """What to place for a recorded instance (create after recording it, evacuate, rebuild):
    its frozen image properties and its flavor snapshot, disk as recorded (root + ephemeral)."""
    flavor = FlavorValue(instance.vcpus, instance.ram_mib, instance.disk_gib,
                         name=instance.flavor_name or "custom",
                         ephemeral_gib=instance.ephemeral_gib or 0,
                         extra_specs=dict(instance.flavor_extra_specs or {}))
    return request_spec(dict(instance.image_properties or {}), flavor,
                        availability_zone=availability_zone, group=group)


def instance_claim(instance: Instance, host: str) -> Claim:
    """The claim an instance holds on ``host`` (exact name), for ``release`` when it is deleted
    or moved. Limits do not matter to a release and are 0."""
    return Claim(host, instance.vcpus, instance.ram_mib,
                 instance.disk_gib + (instance.ephemeral_gib or 0), 0, 0, 0,
                 consumer=instance.uuid)


# --- the shared scheduler per database and configuration ---------------------------------------

def _tracked(config: SchedulerConfig, aggregate_keys: Iterable[str]) -> tuple[str, ...]:
    """Image properties whose per-host counts a weigher needs: only when its multiplier is not
    0 in the configuration or some aggregate sets it (``aggregate_keys``: every metadata key
    the hosts' aggregates set; else the counts cannot change a score)."""
    keys = set(aggregate_keys)
    out: list[str] = []
    for weigher, mult in config.build_weighers():
        props = weigher.tracked_properties()
        if props and (mult != 0 or weigher.AGGREGATE_KEY in keys):
            out.extend(props)
    return tuple(dict.fromkeys(out))


def _views(session: Session, config: SchedulerConfig, rows: list[Host]) -> list[HostView]:
    keys = {k for h in rows for a in h.aggregates for k in a.meta}
    return inventory.views_of(session, rows, _tracked(config, keys))


class _ResidentStore(DbClaimStore):
    """A DbClaimStore whose ``usage()`` (the engine's refresh after a failed decision) reads
    only the rows changed since the last read, as ``_Placer.scheduler`` does."""

    def __init__(self, db: Database, placer: "_Placer"):
        super().__init__(db)
        self._placer = weakref.ref(placer)

    def usage(self, hosts: Iterable[str] | None = None) -> Mapping[str, HostUsage]:
        placer = self._placer()
        if placer is None or hosts is None:
            return super().usage(hosts)
        return placer.changed_usage()


class _Placer:
    """One database's shared Scheduler for one configuration, its inventory resident
    (kumo.scheduler.resident) and kept in step from the rows that changed."""

    def __init__(self, db: Database, config: SchedulerConfig):
        self.db = db
        self.config = config
        self.store = _ResidentStore(db, self)
        self._held = held_connections(db.engine)
        self._lock = threading.Lock()        # the scheduler and inventory objects
        self._read_lock = threading.Lock()   # one inventory read at a time
        #: reads shared by the threads placing at once (``scheduler``): numbered as they begin;
        #: the last applied to the scheduler; whether one is under way
        self._reads_begun = 0
        self._reads_applied = 0
        self._reading = False
        self._read_done = threading.Condition(self._lock)
        self._scheduler: Scheduler | None = None
        self._inventory: resident.Inventory | None = None
        self._built = 0.0
        self._stale = True
        #: liveness read by a refresh under the engine's lock, applied at the next call
        self._pending_liveness: dict[str, tuple[float | None, bool]] = {}
        #: whether the inventory counts image properties (LikeImages in use)
        self.tracking = False

    def invalidate(self) -> None:
        with self._lock:
            self._stale = True

    def _load(self) -> tuple[resident.Inventory, tuple[str, ...]]:
        inv = resident.Inventory(postgres=not self.db.is_sqlite)
        with self.db.engine.connect() as conn:
            inv.load(conn)
        track = _tracked(self.config, inv.aggregate_keys())
        if track:  # like-image counts: one more read, only when a weigher uses them
            with self.db.session_scope(readonly=True) as s:
                inv.set_counts(inventory.image_property_counts(s, track))
        return inv, track

    def scheduler(self) -> Scheduler:
        """The shared Scheduler, its inventory as of one read of the rows changed since the
        last (or of everything, the first time or when the epoch token changed) that began
        after this call did.

        Threads placing at once share reads: one read is under way at a time, and every
        thread that arrived before it began uses it instead of reading again -- as fresh for
        each of them (it saw every change committed before they called), one round trip
        instead of one per thread while they wait for their claims' commits.

        Lock order: engine lock -> read lock -> placer lock (``changed_usage`` runs under the
        engine's lock). So the engine's lock is taken here only after the others are released,
        and no database connection is held while waiting for a lock."""
        with self._lock:
            wanted = self._reads_begun + 1  # the first read to begin after this call
            while self._reading and self._reads_applied < wanted:
                self._read_done.wait()
            if self._reads_applied >= wanted and self._scheduler is not None:
                return self._scheduler
            self._reading = True
            self._reads_begun += 1
            mine = self._reads_begun
        done = False
        try:
            with contextlib.ExitStack() as paused:  # the collector, while a fleet is built
                sched = self._current(paused)
            done = True
            return sched
        finally:
            with self._lock:
                self._reading = False
                if done:
                    self._reads_applied = mine
                self._read_done.notify_all()

    def _current(self, paused: contextlib.ExitStack) -> Scheduler:
        with self._read_lock:
            with self._lock:
                inv, sched = self._inventory, self._scheduler
                reload = (inv is None or sched is None or self._stale or (
                    self.tracking and time.monotonic() - self._built >= INVENTORY_MAX_AGE_S))
            changes = None
            if not reload:
                assert inv is not None
                changes = self._read_changes(inv)
                reload = changes.reload or bool(changes.static and self.tracking)
            if reload:
                paused.enter_context(resident.gc_paused(freeze=True))
                inv, track = self._load()
            elif changes is not None and changes.static:
                paused.enter_context(resident.gc_paused())
            assert inv is not None
            hosts = inv.columns() if reload or (changes and changes.static) else None
            with self._lock:
                if reload:
                    self._inventory, self._built = inv, time.monotonic()
                    self._stale = False
                    self._pending_liveness.clear()
                    self.tracking = bool(track)
                    liveness = {}
                else:
                    liveness = {**self._pending_liveness, **changes.liveness}
                    self._pending_liveness.clear()
                sched = self._scheduler
        if sched is None:
            assert hosts is not None
            fresh = Scheduler(self.config, hosts, self.store)
            with self._lock:
                if self._scheduler is None:
                    self._scheduler = fresh
                sched = self._scheduler
            if sched is fresh:
                return sched
        if reload:
            sched.update_hosts(hosts)
        else:
            assert changes is not None
            if changes.static:  # a host added or its static columns changed: rebuild the
                sched.update_hosts(hosts, keep_usage=True)  # fleet, no database read
            sched.apply_changes(changes.usage, liveness)
        return sched

    def _read_changes(self, inv: resident.Inventory) -> resident.Changes:
        """One incremental read (under the read lock): one statement in autocommit on a
        connection the placer keeps (kumo.db.prepared.HeldConnections)."""
        return self._held.run(inv.changes)

    def changed_usage(self) -> Mapping[str, HostUsage]:
        """The usage of the rows changed since the last read (called under the engine's lock:
        liveness is kept for the next ``scheduler()``, a static change marks a reload)."""
        with self._read_lock:
            inv = self._inventory
            if inv is None:
                return {}
            changes = self._read_changes(inv)
            with self._lock:
                if changes.reload or changes.static:
                    self._stale = True
                self._pending_liveness.update(changes.liveness)
            return changes.usage


_placers: "weakref.WeakKeyDictionary[Database, list[_Placer]]" = weakref.WeakKeyDictionary()
_placers_lock = threading.Lock()


def _placer(db: Database, config: SchedulerConfig) -> _Placer:
    with _placers_lock:
        placers = _placers.setdefault(db, [])
        for p in placers:
            if p.config == config:
                return p
        p = _Placer(db, config)
        placers.append(p)
        return p


def forget(db: Database | None = None) -> None:
    """Drop the shared schedulers (of ``db``, or all): the next call reads everything afresh."""
    with _placers_lock:
        if db is None:
            _placers.clear()
        else:
            _placers.pop(db, None)


def _restricted(db: Database, config: SchedulerConfig, hosts: Iterable[str]) -> list[HostView]:
    names = list(dict.fromkeys(hosts))
    with db.session_scope(readonly=True) as s:
        rows = inventory.read_hosts(s, names)
        missing = sorted(set(names) - {h.name for h in rows})
        if missing:
            raise NotFound(f"host(s) {', '.join(repr(n) for n in missing)} not found "
                           "(hosts are named exactly)")
        return _views(s, config, rows)


# --- the service functions ---------------------------------------------------------------------

def place(db: Database, request_spec: RequestSpec, config: SchedulerConfig | None = None, *,
          hosts: Iterable[str] | None = None, now: float | None = None,
          record: Callable[[Session, Claim], None] | None = None) -> Placement:
    """Choose a host for each of the request's instances and claim on it -- all or none, each
    claim committed. NoValidHost (``.summary`` as ``explain`` gives it) when no host can.

    ``hosts``: consider only these hosts (exact names; NotFound for an unknown one), e.g. when
    the operator named the host. ``now``: the clock for heartbeat checks (default: time.time()).
    ``record``: called with the claim's session and the claim for each granted claim, committed
    with it (kumo.scheduler.db_store.recording): the instance record that holds the claim.
    """
    config = config if config is not None else load_config()
    if hosts is not None:
        scheduler = Scheduler(config, _restricted(db, config, hosts), DbClaimStore(db))
    else:
        scheduler = _placer(db, config).scheduler()
    with recording(record):
        return scheduler.select(request_spec, now=now)


def release(db: Database, placement_or_claim: Placement | Claim) -> None:
    """Give back a placement's claims (a build that failed) or one claim (an instance deleted).
    Every claim is released even if one fails; then the first failure is raised (StateError:
    the host holds less than the claim, e.g. released twice; nothing changed for that one)."""
    claims = (placement_or_claim.claims if isinstance(placement_or_claim, Placement)
              else (placement_or_claim,))
    store = DbClaimStore(db)
    errors: list[KumoError] = []
    for claim in claims:
        try:
            store.release(claim)
        except KumoError as e:  # NotFound, StateError: release the others, then raise
            errors.append(e)
    released_elsewhere(db)
    if errors:
        raise errors[0]


def released_elsewhere(db: Database) -> None:
    """Claims were given back without ``release`` -- with kumo.db.claims.release in the
    caller's own transaction, as the compute layer does when it clears an instance's host.
    Usage is re-read by every placement anyway; like-image counts are not, so the shared
    schedulers that keep them read them afresh at their next placement."""
    with _placers_lock:
        placers = list(_placers.get(db, ()))
    for p in placers:
        if p.tracking:
            p.invalidate()


def explain(db: Database, request_spec: RequestSpec, config: SchedulerConfig | None = None, *,
            hosts: Iterable[str] | None = None, now: float | None = None) -> Explanation:
    """Why each host would or would not take the request, as the hosts stand in the database:
    every filter's reasons per host, the weights of those that pass, the host ``place`` would
    choose and the summary line a failed placement carries."""
    config = config if config is not None else load_config()
    if hosts is not None:
        views = _restricted(db, config, hosts)
    else:
        with db.session_scope(readonly=True) as s:
            views = _views(s, config, inventory.read_hosts(s))
    ctx = DecisionContext(time.time() if now is None else now)
    return explain_hosts(config.build_filters(), config.build_weighers(), views, request_spec,
                         ctx)
