"""kumo.db: persistence. SQLAlchemy 2.0 models, Alembic migrations, engines and sessions.

    kumo.db.base      declarative Base, naming convention, UTC timestamps, JSON dict type
    kumo.db.models    the models (table list in its docstring)
    kumo.db.engine    make_engine (SQLite WAL/foreign keys/busy timeout; PostgreSQL via psycopg 3),
                      Database with session_scope(), connect()
    kumo.db.migrate   upgrade(url) / downgrade / current_revision / head_revision (Alembic)
    kumo.db.claims    atomic capacity claims on a host: one conditional UPDATE
    kumo.db.queries   generic queries: images by any property, unfinished journal entries
    kumo.db.scratch   scratch databases of test and benchmark runs, a gone run's dropped

Business rules (what is valid, what a state means) live in the service layer, not here.
"""

from kumo.db.engine import Database, connect, make_engine
from kumo.db.migrate import current_revision, head_revision, upgrade

__all__ = ["Database", "connect", "current_revision", "head_revision", "make_engine", "upgrade"]
