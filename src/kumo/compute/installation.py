"""This installation's id (kumo.db.models.Installation): read, or made on first use.

Made by the migration that adds it; made here too when missing (a database emptied by hand or by
tests), once -- two processes racing to make it agree on the one the database kept.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kumo.db import Database
from kumo.db.models import Installation


def installation_id(db: Database, session: Session | None = None) -> str:
    """The id; inside ``session`` when the caller is in a unit of work already (on SQLite a
    second one would wait for the first's write lock)."""
    if session is not None:
        found = session.scalar(select(Installation.id))
        if found:
            return found
        row = Installation()
        session.add(row)
        session.flush()
        return row.id
    with db.session_scope(readonly=True) as s:
        found = s.scalar(select(Installation.id))
    if found:
        return found
    try:
        with db.session_scope() as s:
            row = Installation()
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:  # another process made it first
        with db.session_scope(readonly=True) as s:
            return s.scalar(select(Installation.id))
