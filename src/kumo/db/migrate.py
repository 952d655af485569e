"""Alembic, run programmatically: the migrations ship inside the package (kumo/db/migrations), so
``kumo db upgrade`` works from an installed kumo with no alembic.ini.

``upgrade(url)`` is idempotent: at head it does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from kumo.db.engine import database_url, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported inside the functions that use it: kumo.db (which every command that opens
# the database imports) re-exports them, and importing Alembic costs ~40 ms at rest (~150 ms on a
# loaded machine) that `kumo server create` and every other command would pay without using it.

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | URL) -> Config:
    """An Alembic Config for ``url``. The URL travels as an attribute, not an ini option, so
    a ``%`` in a password is not taken for interpolation."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["kumo_url"] = url
    return cfg


def upgrade(url: str | URL, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(url_or_engine: str | URL | Engine) -> str | None:
    """The revision the database is at; None for a database never migrated (or a SQLite file
    that does not exist yet, which is not created by asking)."""
    if not isinstance(url_or_engine, Engine):
        url = database_url(url_or_engine)
        if (url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
                and not url.database.startswith("file:") and not Path(url.database).exists()):
            return None
    from alembic.runtime.migration import MigrationContext

    engine = (url_or_engine if isinstance(url_or_engine, Engine)
              else make_engine(url_or_engine))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if engine is not url_or_engine:
            engine.dispose()
