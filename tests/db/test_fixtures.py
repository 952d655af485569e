"""tests/db/fixtures.py itself: what a killed run left on the PostgreSQL cluster is removed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine

from tests.db.fixtures import DatabaseMaker


def _exists(admin, name: str) -> bool:
    with admin.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_database WHERE datname = %(n)s", {"n": name}).scalar() == 1


@pytest.mark.postgres
def test_a_maker_drops_the_databases_of_runs_that_are_gone(pg_admin_url, tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    orphan, ours = f"kumo_test_{dead_pid}_0bad0bad", "kumo_test_1_0ddba11"  # pid 1 lives
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in (orphan, ours):
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        maker = DatabaseMaker("postgresql", tmp_path, pg_admin_url)
        maker.drop_all()
        assert orphan in maker.orphans_dropped and ours not in maker.orphans_dropped
        assert not _exists(admin, orphan) and _exists(admin, ours)
    finally:
        with admin.connect() as conn:
            for name in (orphan, ours):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
