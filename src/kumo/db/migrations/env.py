"""Alembic environment for kumo, run by kumo.db.migrate (no alembic.ini).

The database URL comes from ``config.attributes["kumo_url"]``, or an open connection from
``config.attributes["connection"]``. Engines are made by kumo.db.engine.make_engine, so SQLite
gets the same set-up as at run time. SQLite migrations run in batch mode (ALTER by table copy)
with foreign keys off while tables are rebuilt, then checked with ``PRAGMA foreign_key_check``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import pool

from kumo.db.base import UTCDateTime
from kumo.db.engine import make_engine
from kumo.db.models import Base

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write kumo's column types as plain SQLAlchemy types: migrations must not import kumo."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True,
                      render_item=render_item, **kwargs)


def run_offline() -> None:
    url = config.attributes["kumo_url"]
    _configure(url=str(url), literal_binds=True,
               render_as_batch=str(url).startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Any) -> None:
    sqlite = connection.dialect.name == "sqlite"
    raw = connection.connection.driver_connection if sqlite else None
    if sqlite:
        raw.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, where it takes effect
    try:
        _configure(connection=connection, render_as_batch=sqlite)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken foreign keys: {broken}")
    finally:
        if sqlite:
            raw.execute("PRAGMA foreign_keys=ON")


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.attributes["kumo_url"], poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
