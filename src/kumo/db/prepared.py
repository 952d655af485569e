"""Statements compiled once per dialect and run with the driver's own cursor.

SQLAlchemy caches compiled SQL, but still builds and hashes a cache key from the statement on
every execution (and a statement built per call is constructed anew): on the scheduler's hot path
-- one incremental inventory read and one claim per placement -- that was most of the CPU time
of a placement. ``Prepared`` keeps the SQL text and parameter order of one Core statement per
dialect and runs it with ``Connection.exec_driver_sql``: the statement is still written once, in
SQLAlchemy Core, next to the code that reads its result. Values come back as the driver gives
them (no result type processing): callers convert what they read (SQLite booleans are 0/1,
timestamps are text -- see ``utc_timestamp``).
"""

from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement


class _Compiled:
    def __init__(self, stmt: ClauseElement, conn: Connection):
        dialect = conn.dialect
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        #: whether it gives rows: known here, so no run asks the cursor (psycopg builds a
        #: column description per call, more CPU than the scheduler's claim itself)
        self.returns_rows = bool(stmt.is_select or getattr(compiled, "effective_returning", None))
        self.order = tuple(compiled.positiontup) if compiled.positional else None
        binds = compiled.binds
        #: Python-side column defaults (onupdate=utcnow), computed per run as SQLAlchemy would
        self.prefetch = {c.key: (c.onupdate if c in compiled.update_prefetch else c.default)
                         for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
        #: constants the statement was built with
        self.defaults = {name: bp.value for name, bp in binds.items()
                         if not bp.required and bp.callable is None
                         and name not in self.prefetch}
        #: the bind processing an ordinary execution applies (e.g. UTCDateTime on SQLite)
        self.processors = {}
        for name, bp in binds.items():
            proc = bp.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                self.processors[name] = proc


class Prepared:
    """``Prepared(lambda: stmt).rows(conn, name=value, ...)``: ``stmt`` compiled once per dialect;
    bind parameters by name (those not given keep the values the statement was built with),
    bind processing and Python-side column defaults (``onupdate=utcnow``) applied as an
    ordinary execution applies them."""

    def __init__(self, build: Callable[[], ClauseElement]):
        self._build = build
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compiled(self, conn: Connection) -> _Compiled:
        got = self._by_dialect.get(conn.dialect.name)
        if got is None:
            with self._lock:
                got = self._by_dialect[conn.dialect.name] = _Compiled(self._build(), conn)
        return got

    def rows(self, conn: Connection, **values: Any) -> list[tuple[Any, ...]]:
        """Run on ``conn``'s DBAPI connection, inside the transaction ``conn`` began (no
        SQLAlchemy result object: its per-execution set-up cost as much as the query)."""
        c = self._compiled(conn)
        params: dict[str, Any] = {**c.defaults, **values}
        for key, default in c.prefetch.items():
            if key not in params:
                params[key] = default.arg(None) if callable(default.arg) else default.arg
        for name, proc in c.processors.items():
            if name in params:
                params[name] = proc(params[name])
        cursor = _cursor(conn)
        if c.order is not None:
            cursor.execute(c.sql, tuple(params[k] for k in c.order))
        else:
            cursor.execute(c.sql, params)
        if not c.returns_rows:
            return []
        rows = cursor.fetchall()
        if len(rows) > _KEEP_AFTER_ROWS_MAX:  # (a whole inventory read: its result would stay
            _forget_cursor(conn, cursor)       # referenced by the kept cursor until the next run)
        return rows


#: the key of a connection's kept cursor in its pool record's ``info``
_CURSOR = "kumo.prepared.cursor"
#: a cursor that fetched more rows than this is closed, not kept
_KEEP_AFTER_ROWS_MAX = 256


def _cursor(conn: Connection) -> Any:
    """The cursor ``Prepared`` keeps on ``conn``'s DBAPI connection: a psycopg cursor costs
    ~20 us to make and close, a quarter of the client's CPU for a scheduler statement. Kept in
    the connection's ``info``, which lives as long as the DBAPI connection (SQLAlchemy empties
    it when the connection is closed or invalidated). Every run fetches all its rows before it
    returns, so runs on one connection -- one thread at a time, as any Connection -- never
    share a result."""
    info = conn.info
    cursor = info.get(_CURSOR)
    if cursor is None:
        cursor = info[_CURSOR] = conn.connection.dbapi_connection.cursor()  # type: ignore
    return cursor


def _forget_cursor(conn: Connection, cursor: Any) -> None:
    conn.info.pop(_CURSOR, None)
    cursor.close()


def utc_timestamp(value: datetime | str | None) -> float | None:
    """Seconds since the epoch of a timestamp as the driver returns a UTCDateTime column:
    PostgreSQL an aware datetime, SQLite the UTC wall time as text (kumo.db.base.UTCDateTime).
    Exactly ``utc_datetime(value).timestamp()``, computed without building the aware value (a
    cold start converts every host's heartbeat)."""
    if value is None:
        return None
    if value.__class__ is str:
        value = datetime.fromisoformat(value)  # type: ignore[arg-type]
    if value.tzinfo is None:  # type: ignore[union-attr]
        return (value - _NAIVE_EPOCH).total_seconds()  # type: ignore[operator]
    return value.timestamp()  # type: ignore[union-attr]


#: naive datetimes here are UTC wall times
_NAIVE_EPOCH = datetime(1970, 1, 1)


def utc_datetime(value: datetime | str | None) -> datetime | None:
    """The aware UTC datetime of a UTCDateTime column as the driver returns it (above)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class HeldConnections:
    """A few autocommit Core connections kept open between calls, shared by the threads of one
    engine (``held_connections(engine)``).

    A pooled checkout costs round trips of its own -- on PostgreSQL the pre-ping, BEGIN, and the
    ROLLBACK that resets the connection on return; on SQLite the pool's bookkeeping, SQLAlchemy's
    BEGIN event and the COMMIT, together more CPU than the statement -- on the scheduler's hot
    path, where a single UPDATE ... RETURNING (a claim) or SELECT (an incremental inventory read)
    is atomic by itself, so it runs in autocommit on a held connection. (SQLite: kumo's
    connections run the sqlite3 module with ``isolation_level=None`` and SQLAlchemy emits BEGIN
    only when a Connection begins; ``Prepared`` uses the driver's cursor and never begins, so a
    statement is its own transaction, its triggers included.) At most ``size`` are held (the
    rest of the pool -- 15 connections by default -- stays for everything else; the inventory
    read runs one at a time, so four serve a controller placing from several threads); when
    all are busy, a call takes an ordinary pooled connection. A held PostgreSQL
    connection idle for ``IDLE_PING_S`` is pinged first (as the pool's pre-ping would), so a
    server restart costs no failed claim; one that fails during a call is discarded and the call
    raises (it is not retried: a claim may have committed).

    PostgreSQL: the held connections plan their statements once (``plan_cache_mode =
    force_generic_plan``; psycopg prepares a statement on its fifth run). By default the server
    plans a prepared statement anew on every run while the generic plan's estimate is worse
    than the custom ones' -- the inventory change read (``change_seq`` in a range) was planned
    per placement, ~65 us of the server's CPU for ~25 us of execution. Only the scheduler's
    statements run here, each a lookup by unique name or a bounded index range whose generic
    plan is its custom plan (kumo.scheduler.resident); the setting is reset before a
    connection goes back to the pool."""

    IDLE_PING_S = 10.0
    #: session settings of a held PostgreSQL connection, and how each is undone
    PG_SETTINGS = (("SET plan_cache_mode = force_generic_plan", "RESET plan_cache_mode"),)

    def __init__(self, engine: Any, size: int = 4):
        self._engine = engine
        self._size = size
        #: SQLite: a local file, nothing to ping; autocommit is the driver's own mode (above)
        self._sqlite = engine.dialect.name == "sqlite"
        self._idle: list[tuple[Connection, float]] = []
        self._made = 0
        self._lock = threading.Lock()

    def _take(self) -> Connection | None:
        with self._lock:
            if self._idle:
                conn, used = self._idle.pop()
            elif self._made < self._size:
                self._made += 1
                conn, used = None, 0.0
            else:
                return None
        if conn is not None and not self._sqlite and time.monotonic() - used > self.IDLE_PING_S:
            try:
                conn.exec_driver_sql("SELECT 1")
            except Exception:  # dead while idle: a new one
                self._discard(conn, count=False)
                conn = None
        if conn is None:
            try:
                conn = self._held(self._engine.connect())
            except BaseException:
                with self._lock:
                    self._made -= 1
                raise
        return conn

    def _autocommit(self, conn: Connection) -> Connection:
        # SQLite: not SQLAlchemy's AUTOCOMMIT level, whose reset on return to the pool would
        # hand the sqlite3 module its own implicit BEGINs back (kumo's connections run without)
        return conn if self._sqlite else conn.execution_options(isolation_level="AUTOCOMMIT")

    def _held(self, conn: Connection) -> Connection:
        """A new connection made a held one (its session settings applied)."""
        conn = self._autocommit(conn)
        if not self._sqlite:
            try:
                for setting, _undo in self.PG_SETTINGS:
                    conn.exec_driver_sql(setting)
            except BaseException:
                conn.close()
                raise
        return conn

    def _release(self, conn: Connection) -> None:
        """Back to the pool, as the pool handed it out."""
        if not self._sqlite:
            try:
                for _setting, undo in self.PG_SETTINGS:
                    conn.exec_driver_sql(undo)
            except Exception:  # broken: the pool must not have it back with our settings
                self._discard(conn, count=False)
                return
        conn.close()

    def _discard(self, conn: Connection, count: bool = True) -> None:
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # already broken: nothing more to release
            pass
        if count:
            with self._lock:
                self._made -= 1

    def run(self, fn: Callable[[Connection], Any]) -> Any:
        conn = self._take()
        if conn is None:  # all held ones busy: an ordinary pooled connection
            with self._engine.connect() as pooled:
                return fn(self._autocommit(pooled))
        try:
            result = fn(conn)
        except BaseException:
            self._discard(conn)
            raise
        with self._lock:
            self._idle.append((conn, time.monotonic()))
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._made -= len(idle)
        for conn, _ in idle:
            self._release(conn)


_HELD: "weakref.WeakKeyDictionary[Any, HeldConnections]" = weakref.WeakKeyDictionary()
_HELD_LOCK = threading.Lock()


def held_connections(engine: Any) -> HeldConnections:
    """The engine's HeldConnections (one per engine, closed with ``Database.dispose``)."""
    with _HELD_LOCK:
        got = _HELD.get(engine)
        if got is None:
            got = _HELD[engine] = HeldConnections(engine)
        return got


def close_held(engine: Any) -> None:
    with _HELD_LOCK:
        got = _HELD.pop(engine, None)
    if got is not None:
        got.close()
