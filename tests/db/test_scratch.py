"""kumo.db.scratch: scratch databases named for their run's pid; a gone run's are dropped."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import create_engine

from kumo.db.scratch import drop_orphans, scratch_name
from tests.db.fixtures import *  # noqa: F401,F403  (pg_admin_url: the PostgreSQL cluster)


def _dead_pid() -> int:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(gone.stdout)


def _exists(admin, name: str) -> bool:
    with admin.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_database WHERE datname = %(n)s", {"n": name}).scalar() == 1


@pytest.mark.parametrize("kind", ["test", "bench"])
def test_a_scratch_name_carries_the_kind_and_this_process_id(kind):
    name = scratch_name(kind)
    assert re.fullmatch(rf"kumo_{kind}_{os.getpid()}_[0-9a-f]{{8}}", name), name
    assert scratch_name(kind) != name


@pytest.mark.parametrize("kind", ["", "Test", "test_x", "a;b", "te%"])
def test_a_kind_is_lower_case_letters_only(kind):
    with pytest.raises(ValueError, match="lower-case letters only"):
        scratch_name(kind)


@pytest.mark.postgres
@pytest.mark.parametrize("kind, other", [
    pytest.param("test", "bench", id="tests"),
    pytest.param("bench", "test", id="benchmarks"),
])
def test_only_the_databases_of_a_gone_run_of_that_kind_are_dropped(pg_admin_url, kind, other):
    dead = _dead_pid()
    orphan = f"kumo_{kind}_{dead}_0bad0bad"
    kept = [f"kumo_{kind}_1_0ddba11",          # pid 1 lives
            f"kumo_{other}_{dead}_0bad0bad",    # another kind's: its own sweep's business
            f"kumo_{kind}_{dead}_notahex",      # not a scratch name
            f"kumo_{kind}x_{dead}_0bad0bad"]    # nor this: another kind
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in (orphan, *kept):
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        dropped = drop_orphans(admin, kind)
        assert orphan in dropped and not set(kept) & set(dropped)
        assert not _exists(admin, orphan)
        assert all(_exists(admin, name) for name in kept)
    finally:
        with admin.connect() as conn:
            for name in (orphan, *kept):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
