"""Who may run what: one controller per periodic task at a time, one controller per SQLite file.

PostgreSQL: each task run holds a session-level advisory lock (``pg_try_advisory_lock``) on a
connection of its own for the run's duration. A controller that dies loses its connection and
PostgreSQL releases the lock at once, so another controller takes the task over at its next
tick -- the database decides, no home-made consensus. The lock key is a fixed namespace plus a
CRC32 of the task name (stable across processes and releases).

SQLite is the embedded single-controller default: ``SQLiteControllerLock`` holds an exclusive
``flock`` on ``<database file>.serve.lock`` for the process's life, and a second ``kumo serve``
on the same file refuses to start, naming the pid that holds it. Task locks are then only
between the process's own threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from kumo.db import Database
from kumo.errors import StateError

#: high 32 bits of every kumo advisory lock key ("kumo" in ASCII), so other applications'
#: advisory locks on the same database do not collide with ours
_NAMESPACE = 0x6B756D6F


def advisory_key(task: str) -> int:
    key = (_NAMESPACE << 32) | zlib.crc32(task.encode())
    return key - (1 << 64) if key >= 1 << 63 else key  # a signed bigint


#: SQLite: task locks shared by the whole process (its one controller), per database URL
_PROCESS_LOCKS: dict[str, dict[str, threading.Lock]] = {}
_PROCESS_GUARD = threading.Lock()


class TaskLocks:
    def __init__(self, db: Database):
        self.db = db
        self._guard = _PROCESS_GUARD
        if db.engine.dialect.name == "postgresql":  # the database decides; ours only in-process
            self._local: dict[str, threading.Lock] = {}
        else:
            with _PROCESS_GUARD:
                self._local = _PROCESS_LOCKS.setdefault(str(db.url), {})

    @contextlib.contextmanager
    def hold(self, task: str) -> Iterator[bool]:
        """True inside the block if this controller holds ``task``'s lock, False if another
        does (the block should then do nothing)."""
        with self._guard:
            local = self._local.setdefault(task, threading.Lock())
        if not local.acquire(blocking=False):
            yield False
            return
        try:
            if self.db.engine.dialect.name != "postgresql":
                yield True
                return
            key = advisory_key(task)
            with self.db.engine.connect() as conn:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                           .scalar())
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
        finally:
            local.release()


class SQLiteControllerLock:
    """The one-controller-per-SQLite-file lock (module docstring)."""

    def __init__(self, database_file: str | Path):
        self.path = Path(f"{database_file}.serve.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StateError(
                f"another kumo serve (pid {holder}) already runs on the SQLite database "
                f"{str(self.path)[:-len('.serve.lock')]}: SQLite allows one controller; stop "
                "it, or use PostgreSQL (database_url) for several") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
