"""Engines and sessions: SQLite (the embedded default) and PostgreSQL (psycopg 3).

SQLite is set up for a controller with several threads: WAL (readers never block the writer),
``foreign_keys=ON``, a busy timeout, and SQLAlchemy (not the sqlite3 module) emitting BEGIN, so a
transaction really starts at its first statement. ``Database.session_scope()`` begins
``BEGIN IMMEDIATE`` on SQLite: a unit of work that reads and then writes takes the write lock up
front and waits for it (busy timeout) instead of failing half-way with "database is locked" when
another writer got in between. Read-only work uses ``session_scope(readonly=True)``.

Keep a unit of work short: never hold a session across a libvirt call (journal, commit, act).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from kumo.config import Settings
from kumo.private_files import open_private, private_dir, private_file

#: how long a SQLite connection waits for another writer's lock before failing
SQLITE_BUSY_TIMEOUT_S = 30.0
#: execution option naming SQLite's BEGIN mode (DEFERRED or IMMEDIATE) for a connection
SQLITE_BEGIN = "kumo_sqlite_begin"


#: the URL schemes kumo accepts -> the SQLAlchemy driver it uses for them. ``postgres://`` is
#: the spelling Heroku, libpq's docs and many .env files use; psycopg 3 is the driver installed.
DRIVERS = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql": "postgresql+psycopg",
           "postgres": "postgresql+psycopg", "postgresql+psycopg": "postgresql+psycopg"}
URL_FORMS = "sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"


def database_url(url: str | URL) -> URL:
    """``url`` as the SQLAlchemy URL kumo connects with; InvalidInput (password hidden) if it is
    not a database URL kumo can use."""
    from kumo.errors import InvalidInput

    try:
        parsed = make_url(url)
    except Exception:  # ArgumentError, or ValueError on a bad port: not a URL either way
        raise InvalidInput(f"database URL {_masked(str(url))!r} is invalid: allowed "
                           f"{URL_FORMS}") from None
    driver = DRIVERS.get(parsed.drivername)
    if driver is None:
        raise InvalidInput(f"database URL {_masked(str(url))!r} is invalid: driver "
                           f"{parsed.drivername!r} is not supported; allowed {URL_FORMS}")
    if driver == "sqlite" and not parsed.database:
        raise InvalidInput(f"database URL {_masked(str(url))!r} is invalid: it names no file; "
                           f"allowed {URL_FORMS}")
    return parsed.set(drivername=driver)


def _masked(url: str) -> str:
    """``url`` with any password between ``://user:`` and ``@`` replaced by ***."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` with kumo's per-backend set-up. Extra kwargs go to create_engine.

    ``postgresql://`` and ``postgres://`` URLs use psycopg 3 (``postgresql+psycopg://``); see
    ``database_url``. A SQLite file's directory is created if missing.
    """
    url = database_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        _private_sqlite_file(Path(url.database).expanduser())
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False,
                    **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # hand transaction control to SQLAlchemy (see _on_begin); set pragmas outside a transaction
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if url.database and url.database != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints under WAL
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"{SQLITE_BEGIN}={mode!r}: allowed DEFERRED or IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _private_sqlite_file(path: Path) -> None:
    """The database file (admin-password hashes, SSH keys) readable by its owner only: its
    directory 0700, the file created 0600 before SQLite opens it. SQLite gives the -wal, -shm
    and -journal files it makes the database file's mode (os_unix.c, findCreateFileMode); ones
    left by an older kumo are narrowed here too (kumo.private_files)."""
    private_dir(path.parent)
    try:
        open_private(path, "xb").close()
    except FileExistsError:
        pass
    for suffix in ("", "-wal", "-shm", "-journal"):
        private_file(path.with_name(path.name + suffix))


class Database:
    """One database: its engine and the sessions kumo's services use.

    Sessions do not expire objects on commit, so rows loaded in a unit of work stay readable
    after it ends (the CLI and API render them afterwards); re-load to see later changes.
    """

    def __init__(self, url_or_engine: str | URL | Engine):
        self.engine = (url_or_engine if isinstance(url_or_engine, Engine)
                       else make_engine(url_or_engine))
        immediate = self.engine
        if self.is_sqlite:
            immediate = self.engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        self._deferred = sessionmaker(self.engine, expire_on_commit=False)
        self._immediate = sessionmaker(immediate, expire_on_commit=False)

    @property
    def url(self) -> URL:
        return self.engine.url

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self, *, immediate: bool = True) -> Session:
        """A new session; the caller commits and closes it (prefer session_scope).

        ``immediate``: on SQLite, each transaction takes the write lock at its start. Then a
        second such session in the same thread waits for the first to end (busy timeout) -- do
        not nest units of work. ``immediate=False`` takes the lock only at the first write."""
        return (self._immediate if immediate else self._deferred)()

    @contextmanager
    def session_scope(self, *, readonly: bool = False) -> Iterator[Session]:
        """A unit of work: commit when the block ends, roll back if it raises, always close.

        ``readonly=True`` never commits (closing ends the transaction) and, on SQLite, does not
        take the write lock."""
        session = self.session(immediate=not readonly)
        try:
            yield session
            if not readonly:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        from kumo.db.prepared import close_held  # the scheduler's held connections first

        close_held(self.engine)
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"<Database {self.url.render_as_string(hide_password=True)}>"


def connect(url: str | URL | None = None) -> Database:
    """The Database at ``url``, or at the configured one (kumo.config.Settings.from_env())."""
    if url is None:
        url = Settings.from_env().database_url
    return Database(url)
