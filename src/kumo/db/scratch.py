"""Scratch PostgreSQL databases: made by one run of the tests or of a benchmark, named for the
run's process id, and dropped by the next run when that process is gone.

A run drops what it made when it ends, but a killed run never does. Left, such databases pile up
on the cluster (172 once), and dropping many at once later forces a checkpoint each, which
slows every commit of whatever is running meanwhile -- a benchmark's figures among them. The
tests (tests/db/fixtures.py) and the benchmarks (bench/placement.py) name theirs the same way,
so both sweep with this one rule. It lives here, not in tests/, because the benchmarks import
kumo but not the tests (nor pytest).
"""

from __future__ import annotations

import os
import re
import secrets

from sqlalchemy import Engine

__all__ = ["drop_orphans", "scratch_name"]


def scratch_name(kind: str) -> str:
    """A new scratch database's name: ``kumo_<kind>_<this process id>_<random hex>``."""
    _check_kind(kind)
    return f"kumo_{kind}_{os.getpid()}_{secrets.token_hex(4)}"


def drop_orphans(admin: Engine, kind: str) -> list[str]:
    """Drop the ``kind`` scratch databases whose process is gone (``admin``: an AUTOCOMMIT
    engine on the cluster's maintenance database); their names. Another live run's databases,
    and databases named otherwise, are left alone."""
    _check_kind(kind)
    pattern = re.compile(rf"kumo_{kind}_(\d+)_[0-9a-f]+")
    dropped = []
    with admin.connect() as conn:
        names = conn.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE datname LIKE %(p)s",
            {"p": f"kumo\\_{kind}\\_%"}).scalars().all()
        for name in names:
            m = pattern.fullmatch(name)
            if m and not _alive(int(m.group(1))):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                dropped.append(name)
    return dropped


def _check_kind(kind: str) -> None:
    if not re.fullmatch(r"[a-z]+", kind):  # it is written into SQL identifiers and a pattern
        raise ValueError(f"scratch database kind {kind!r}: lower-case letters only")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
