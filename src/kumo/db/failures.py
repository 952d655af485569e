"""What a failed database call means to the operator: a DatabaseUnusable with one line saying
which database (password hidden) and what to do -- run ``kumo db upgrade`` on a database that
was never migrated or is behind, else the driver's own first line (connection refused, file is
not a database, disk I/O error, database is locked).

Only errors the database or its driver raised (SQLAlchemy's DBAPIError family) are translated;
any other SQLAlchemy error is a bug in kumo and stays one.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from kumo.errors import DatabaseUnusable


def shown(url: str | URL) -> str:
    from kumo.db.engine import _masked, database_url

    try:
        return database_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: mask what looks like a password
        return _masked(str(url))


def reason(err: BaseException) -> str:
    """The driver's first line (not SQLAlchemy's statement dump)."""
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def translate(err: BaseException, url: str | URL) -> DatabaseUnusable | None:
    """The DatabaseUnusable ``err`` means, or None if it is not a database failure."""
    if not isinstance(err, sa_exc.DBAPIError):
        return None
    if isinstance(err, (sa_exc.IntegrityError, sa_exc.DataError)):
        # a value or change the schema refuses that no check before it caught (a race on a
        # unique name, a number out of the column's range): say so, not "cannot be used"
        return DatabaseUnusable(f"database {shown(url)} refused the change: {reason(err)}")
    from kumo.db import migrate

    where = shown(url)
    try:
        revision, head = migrate.current_revision(url), migrate.head_revision()
    except Exception:  # the database does not even answer that: say what the driver said
        revision = head = ""
    if revision is None:
        return DatabaseUnusable(f"database {where} is not initialised: run `kumo db upgrade`")
    if revision != head:
        return DatabaseUnusable(f"database {where} is at schema revision {revision}, not "
                                f"{head}: run `kumo db upgrade`")
    return DatabaseUnusable(f"database {where} cannot be used: {reason(err)}")
