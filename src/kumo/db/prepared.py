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
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement


class _Compiled:
    def __init__(self, stmt: ClauseElement, conn: Connection):
        dialect = conn.dialect
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
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
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if c.order is not None:
                cursor.execute(c.sql, tuple(params[k] for k in c.order))
            else:
                cursor.execute(c.sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()


def utc_timestamp(value: datetime | str | None) -> float | None:
    """Seconds since the epoch of a timestamp as the driver returns a UTCDateTime column:
    PostgreSQL an aware datetime, SQLite the UTC wall time as text (kumo.db.base.UTCDateTime)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()
