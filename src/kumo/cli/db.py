"""``kumo db``: create or upgrade kumo's database schema, show its revision.

The database is the configured one (KUMO_DATABASE_URL, else the SQLite file in KUMO_DATA_DIR;
see kumo.config) unless ``--database-url`` names another.
"""

from __future__ import annotations

import click
from sqlalchemy.exc import OperationalError

from kumo.config import Settings
from kumo.db.failures import reason, shown
from kumo.errors import DatabaseUnusable
from kumo.db import migrate


def _url(database_url: str | None) -> str:
    return database_url or Settings.from_env().database_url


def _shown(url: str) -> str:
    return shown(url)


def _unreachable(url: str, err: OperationalError) -> DatabaseUnusable:
    return DatabaseUnusable(f"database {shown(url)} cannot be used: {reason(err)}")


url_option = click.option("--database-url", metavar="URL", envvar=None,
                          help="SQLAlchemy URL of the database (default: the configured one).")


@click.group("db")
def db() -> None:
    """kumo's database: schema migrations."""


@db.command("upgrade")
@url_option
def upgrade(database_url: str | None) -> None:
    """Migrate the database to the latest schema (creating it if new). Safe to run again."""
    url = _url(database_url)
    try:
        before = migrate.current_revision(url)
        migrate.upgrade(url)
        after = migrate.current_revision(url)
    except OperationalError as e:
        raise _unreachable(url, e) from None
    if before == after:
        click.echo(f"{_shown(url)}: already at {after} (head)")
    else:
        click.echo(f"{_shown(url)}: upgraded {before or 'empty'} -> {after} (head)")


@db.command("current")
@url_option
def current(database_url: str | None) -> None:
    """Show the database's schema revision and whether it is the latest."""
    url = _url(database_url)
    try:
        revision = migrate.current_revision(url)
    except OperationalError as e:
        raise _unreachable(url, e) from None
    head = migrate.head_revision()
    if revision is None:
        state = "not initialised: run `kumo db upgrade`"
    elif revision == head:
        state = "up to date"
    else:
        state = f"behind head {head}: run `kumo db upgrade`"
    click.echo(f"{_shown(url)}: {revision or '-'} ({state})")
