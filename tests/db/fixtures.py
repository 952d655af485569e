"""Database fixtures, run on both backends: SQLite (a temporary file) and PostgreSQL (a fresh
database on the throwaway cluster scripts/setup.sh starts on 127.0.0.1:55432, dropped at the end).

Use them from another test package's conftest.py with ``from tests.db.fixtures import *``.

    db_backend      (session, parametrized sqlite|postgresql) makes fresh databases of a backend
    empty_db_url    a new, empty database (not migrated): for migration tests
    migrated_db     (session) one Database per backend, migrated to head
    db              that Database, emptied after each test (tests are independent)
    session         a Session on it, closed after the test. On SQLite it takes the write lock
                    at its first write, not at its first read: commit before calling code that
                    opens its own unit of work, or that code waits for the lock

PostgreSQL not reachable: the PostgreSQL tests FAIL, saying to run scripts/setup.sh -- unless
KUMO_SKIP_POSTGRES=1, then they are skipped. They carry the ``postgres`` mark
(``-m "not postgres"`` deselects them). KUMO_TEST_PG_URL overrides the admin URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kumo.config import sqlite_url
from kumo.db import Database, upgrade
from kumo.db.models import Base, InventoryEpoch
from kumo.db.scratch import drop_orphans, scratch_name

__all__ = ["db", "db_backend", "empty_db_url", "migrated_db", "pg_admin_url", "session"]

PG_ADMIN_URL = os.environ.get("KUMO_TEST_PG_URL") or (
    f"postgresql+psycopg://kumo@127.0.0.1:{os.environ.get('KUMO_TEST_PGPORT', '55432')}/postgres")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The throwaway cluster's admin URL, once it answers; else fail (or skip, if asked to)."""
    if os.environ.get("KUMO_SKIP_POSTGRES") == "1":
        pytest.skip("KUMO_SKIP_POSTGRES=1: PostgreSQL tests skipped")
    engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    problem = None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # any failure to connect means the same thing here
        problem = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
    finally:
        engine.dispose()
    if problem:  # failed outside the except block, so the report is this one message
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(PG_ADMIN_URL).render_as_string()} "
            f"({problem}). Run scripts/setup.sh to start the throwaway cluster, or set "
            f"KUMO_SKIP_POSTGRES=1 to skip the PostgreSQL tests.", pytrace=False)
    return PG_ADMIN_URL


class DatabaseMaker:
    """Makes fresh, empty databases of one backend and removes them all at the end.

    PostgreSQL: a run that was killed never removed its databases. Each maker drops those
    whose run is gone (kumo.db.scratch: they are named for the run's pid)."""

    def __init__(self, backend: str, workdir: Path, admin_url: str | None):
        self.backend = backend
        self._workdir = workdir
        self._admin = (create_engine(admin_url, isolation_level="AUTOCOMMIT")
                       if admin_url else None)
        self._made: list[str] = []
        if self._admin is not None:
            self.orphans_dropped = drop_orphans(self._admin, "test")

    def new_url(self) -> str:
        name = scratch_name("test")
        self._made.append(name)
        if self.backend == "sqlite":
            return sqlite_url(self._workdir / f"{name}.db")
        assert self._admin is not None
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self._admin.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for name in self._made:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def db_backend(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseMaker]:
    admin = request.getfixturevalue("pg_admin_url") if request.param == "postgresql" else None
    maker = DatabaseMaker(request.param, tmp_path_factory.mktemp(request.param), admin)
    yield maker
    maker.drop_all()


@pytest.fixture
def empty_db_url(db_backend: DatabaseMaker) -> str:
    return db_backend.new_url()


@pytest.fixture(scope="session")
def migrated_db(db_backend: DatabaseMaker) -> Iterator[Database]:
    url = db_backend.new_url()
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def db(migrated_db: Database) -> Iterator[Database]:
    yield migrated_db
    _empty(migrated_db)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    # not immediate: reading through it does not lock SQLite against the code under test
    with db.session(immediate=False) as s:
        yield s
        s.rollback()


def _empty(database: Database) -> None:
    tables = Base.metadata.sorted_tables
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for table in reversed(tables):
                conn.execute(table.delete())
        else:
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        # the row migration 0005 seeds (the scheduler's reload token): emptied, the database
        # is again as freshly migrated, not in a state no installation can reach
        conn.execute(InventoryEpoch.__table__.delete())
        conn.execute(InventoryEpoch.__table__.insert().values(id=1, token=0))
