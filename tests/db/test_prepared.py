"""kumo.db.prepared: held autocommit connections for the scheduler's one-statement units of work.

A statement run on a held connection is committed when it returns -- no transaction is left
open to hold a lock against other writers -- on SQLite as on PostgreSQL, and handing the
connections back to the pool leaves them as kumo's other units of work expect them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from kumo.db.claims import _COUNTERS_OF, Resources, claim_within_conn
from kumo.db.models import Host
from kumo.db import prepared
from kumo.db.prepared import (HeldConnections, Prepared, _cursor, utc_datetime,
                              utc_timestamp)
from tests.db.fixtures import *  # noqa: F401,F403  (db, on SQLite and PostgreSQL)


def _add_host(db, name: str) -> None:
    with db.session_scope() as s:
        s.add(Host(name=name, uri=f"test:///{name}", hypervisor_type="kvm", vcpus=4,
                   ram_mib=4096, disk_gib=40,
                   last_heartbeat=datetime(2026, 11, 29, tzinfo=timezone.utc)))


def _in_transaction(conn) -> bool:
    dbapi = conn.connection.dbapi_connection
    if hasattr(dbapi, "in_transaction"):  # sqlite3
        return dbapi.in_transaction
    return dbapi.info.transaction_status != 0  # psycopg: 0 = IDLE


def _lock_row_now(db, name: str) -> None:
    """Take the host row's write lock without waiting: raises if a transaction holds it."""
    with db.engine.connect() as conn:
        if db.is_sqlite:  # one writer at a time: fail at once instead of the busy timeout
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            if db.is_sqlite:
                conn.execute(update(Host).where(Host.name == name)
                             .values(disabled_reason=None))
            else:
                conn.execute(select(Host.id).where(Host.name == name).with_for_update(nowait=True))
            conn.commit()
        finally:
            if db.is_sqlite:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")


@pytest.mark.parametrize("granted", [True, False], ids=["granted", "refused"])
def test_a_claim_on_a_held_connection_is_committed_and_holds_no_lock(db, granted):
    _add_host(db, "h1")
    held = HeldConnections(db.engine, size=1)
    limit = 4 if granted else 1
    seen = []

    def claim(conn):
        out = claim_within_conn(conn, "h1", Resources(2, 1024, 10), Resources(limit, 4096, 40))
        seen.append(_in_transaction(conn))
        return out

    ok, counters = held.run(claim)
    assert ok is granted
    assert (counters.vcpus, counters.instances) == ((2, 1) if granted else (0, 0))
    assert seen == [False]
    _lock_row_now(db, "h1")  # another writer gets the row at once
    with db.session_scope(readonly=True) as s:  # and sees the claim, committed
        assert s.scalar(select(Host.used_vcpus).where(Host.name == "h1")) == (2 if granted else 0)
    held.close()


def test_a_failing_statement_discards_the_connection_and_leaves_no_lock(db):
    _add_host(db, "h1")
    held = HeldConnections(db.engine, size=1)

    def broken(conn):
        claim_within_conn(conn, "h1", Resources(1, 1, 1), Resources(4, 4096, 40))
        conn.connection.dbapi_connection.cursor().execute("SELECT no_such_column FROM hosts")

    with pytest.raises(Exception) as err:
        held.run(broken)
    assert not isinstance(err.value, AssertionError)
    _lock_row_now(db, "h1")
    with db.session_scope(readonly=True) as s:  # the claim before the failure stands alone
        assert s.scalar(select(Host.used_vcpus).where(Host.name == "h1")) == 1
    held.close()


_ALL_IDS = Prepared(lambda: select(Host.id))


def test_a_connection_keeps_one_cursor_for_prepared_statements_until_it_reconnects(db):
    """Prepared statements run on a cursor kept per DBAPI connection (making one costs more
    than a scheduler statement's own work): the same one run after run, still usable after a
    statement failed on it, a new one after a large result (which it would keep referenced)
    and once the connection was replaced."""
    _add_host(db, "h1")
    with db.engine.connect() as conn:
        assert [r[1:] for r in _COUNTERS_OF.rows(conn, host="h1")] == [(0, 0, 0, 0, 0)]
        kept = _cursor(conn)
        assert _COUNTERS_OF.rows(conn, host="nope") == []
        assert _cursor(conn) is kept
        many = prepared._KEEP_AFTER_ROWS_MAX + 1  # a large result is not kept referenced
        with db.session_scope() as s:
            s.add_all(Host(name=f"m{k}", uri="test:///m", hypervisor_type="kvm", vcpus=1,
                           ram_mib=1, disk_gib=1) for k in range(many))
        assert len(_ALL_IDS.rows(conn)) == many + 1
        assert _cursor(conn) is not kept
        kept = _cursor(conn)
        with pytest.raises(Exception) as err:
            kept.execute("SELECT no_such_column FROM hosts")
        assert not isinstance(err.value, AssertionError)
        conn.connection.rollback()  # (the DBAPI transaction the failure aborted)
        assert [r[1:] for r in _COUNTERS_OF.rows(conn, host="h1")] == [(0, 0, 0, 0, 0)]
        old = conn.connection.dbapi_connection
        conn.invalidate()  # (the next use reconnects)
        assert [r[1:] for r in _COUNTERS_OF.rows(conn, host="h1")] == [(0, 0, 0, 0, 0)]
        assert conn.connection.dbapi_connection is not old
        assert _cursor(conn) is not kept


def test_connections_handed_back_keep_kumos_transaction_control(db):
    """SQLite: kumo's connections run the sqlite3 module without its implicit BEGINs
    (SQLAlchemy's begin event emits BEGIN [IMMEDIATE]); a held connection returned to the
    pool must not come back in the module's legacy mode, where a unit of work's BEGIN
    IMMEDIATE would be preceded by an implicit one."""
    held = HeldConnections(db.engine, size=2)
    held.run(lambda conn: conn.connection.dbapi_connection.cursor().execute("SELECT 1"))
    held.close()
    for _ in range(3):  # every connection the pool holds now
        with db.engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            if db.is_sqlite:
                assert dbapi.isolation_level is None
            else:
                assert dbapi.autocommit is False
    _add_host(db, "h2")  # and a unit of work still commits
    with db.session_scope(readonly=True) as s:
        assert s.scalar(select(Host.name)) == "h2"


@pytest.mark.parametrize("value", [
    "2026-11-29 04:31:10.123457", "2026-11-29 04:31:10", "1969-12-31 23:59:59.999999",
    "2026-11-29T04:31:10.5+02:00",
    datetime(2026, 11, 29, 4, 31, 10, 123457, tzinfo=timezone.utc),
    datetime(2026, 11, 29, 4, 31, 10, 999999,
             tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
], ids=["sqlite-micro", "sqlite-whole", "before-epoch", "text-with-offset", "aware-utc",
        "aware-offset"])
def test_utc_timestamp_is_exactly_the_aware_values_timestamp(value):
    """The shortcut (no aware datetime built) gives the very float datetime.timestamp() does:
    the scheduler compares heartbeats read both ways (Core rows and ORM objects)."""
    assert utc_timestamp(value) == utc_datetime(value).timestamp()
    assert utc_timestamp(None) is None


def _plan_cache_mode(conn) -> str:
    return conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one()


def test_held_postgresql_connections_plan_once_and_go_back_as_they_came(db):
    """PostgreSQL: a held connection keeps one plan per prepared statement (force_generic_plan:
    the change read was planned anew on every placement); handed back to the pool, every
    connection plans as the server's default again (kumo's other queries are not the
    scheduler's lookups). SQLite has no plan cache to set."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's plan cache")
    held = HeldConnections(db.engine, size=2)
    seen = []

    def both(conn):  # two at once: both held connections made
        seen.append(_plan_cache_mode(conn))
        if len(seen) == 1:
            held.run(both)

    held.run(both)
    assert seen == ["force_generic_plan", "force_generic_plan"]
    held.close()
    for _ in range(3):  # every connection the pool holds now
        with db.engine.connect() as conn:
            assert _plan_cache_mode(conn) == "auto"
