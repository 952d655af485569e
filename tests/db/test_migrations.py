"""Migrations: to head and back, idempotent, and the migrated schema is exactly the models'."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from kumo.cli.db import db as db_command
from kumo.db import current_revision, head_revision, make_engine, upgrade
from kumo.db.migrate import MIGRATIONS_DIR, downgrade
from kumo.db.models import Base

MODEL_TABLES = set(Base.metadata.tables)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_and_back(empty_db_url):
    assert current_revision(empty_db_url) is None
    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == head_revision()
    assert _tables(empty_db_url) == MODEL_TABLES | {"alembic_version"}

    upgrade(empty_db_url)  # idempotent at head
    assert current_revision(empty_db_url) == head_revision()

    downgrade(empty_db_url, "base")
    assert current_revision(empty_db_url) is None
    assert _tables(empty_db_url) == {"alembic_version"}

    upgrade(empty_db_url)
    assert _tables(empty_db_url) == MODEL_TABLES | {"alembic_version"}


def _diffs(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_migrated_schema_equals_models(empty_db_url):
    upgrade(empty_db_url)
    assert _diffs(empty_db_url) == []

    # and the comparison does see drift: drop one index behind Alembic's back
    engine = make_engine(empty_db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_image_properties_name_value")
    engine.dispose()
    assert [d[0] for d in _diffs(empty_db_url)] == ["add_index"]


def test_migrations_ship_inside_the_package():
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


def test_cli_upgrade_and_current(empty_db_url):
    runner = CliRunner()
    result = runner.invoke(db_command, ["current", "--database-url", empty_db_url])
    assert result.exit_code == 0, result.output
    assert "not initialised" in result.output

    result = runner.invoke(db_command, ["upgrade", "--database-url", empty_db_url])
    assert result.exit_code == 0, result.output
    assert f"upgraded empty -> {head_revision()} (head)" in result.output

    result = runner.invoke(db_command, ["upgrade", "--database-url", empty_db_url])
    assert result.exit_code == 0, result.output
    assert f"already at {head_revision()}" in result.output

    result = runner.invoke(db_command, ["current", "--database-url", empty_db_url])
    assert result.output.rstrip().endswith(f"{head_revision()} (up to date)")


def test_cli_unreachable_database_is_one_clear_line(capsys):
    from kumo.cli.main import main

    code = main(["db", "current", "--database-url", "postgresql://kumo@127.0.0.1:1/nowhere"])
    assert (code, *capsys.readouterr()) == (
        1, "", "kumo: error: database postgresql+psycopg://kumo@127.0.0.1:1/nowhere cannot be "
               "used: connection failed: connection to server at \"127.0.0.1\", port 1 failed: "
               "Connection refused\n")
