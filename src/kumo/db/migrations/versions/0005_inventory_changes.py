"""Inventory change tracking: hosts.change_seq and the inventory_epoch token, kept by triggers.

A scheduler keeps the inventory resident and, per placement, reads only the host rows that
changed since its last read (kumo.scheduler.resident). The database numbers the changes itself,
so every writer is covered -- ORM flushes, claims, heartbeats, other controller processes:

* SQLite: after each INSERT or UPDATE of a host, ``change_seq = max(change_seq) + 1``. SQLite
  has one writer at a time, so the numbers follow commit order and a reader's ``max`` seen is an
  exact watermark. (The nested UPDATE does not fire the trigger again: recursive_triggers is
  off, SQLite's default.)
* PostgreSQL: before each INSERT or UPDATE, ``change_seq`` = the writing transaction's id
  (``pg_current_xact_id()``, 64-bit, never wraps). A reader takes ``pg_snapshot_xmin`` of the
  snapshot it read in as its watermark: every transaction below it had finished and was seen,
  those at or above it are read again next time. No lock, no shared counter row.

What a per-row number cannot show -- a host row deleted (or the table truncated), an aggregate,
its metadata or membership changed -- sets ``inventory_epoch.token`` (row id 1) to a new random
value; the scheduler reloads everything when the token differs from the one it loaded with.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_AGG_TABLES = ("aggregates", "aggregate_metadata", "aggregate_hosts")

_SQLITE_EPOCH = "INSERT OR REPLACE INTO inventory_epoch (id, token) VALUES (1, random());"

_PG_FUNCTIONS = [
    """CREATE FUNCTION kumo_hosts_change_seq() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN NEW.change_seq := pg_current_xact_id()::text::bigint; RETURN NEW; END $$""",
    """CREATE FUNCTION kumo_inventory_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO inventory_epoch (id, token)
              VALUES (1, (random() * 9e18)::bigint)
         ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
         RETURN NULL;
       END $$""",
]


def upgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_hosts_change_seq'), ['change_seq'], unique=False)
    op.create_table('inventory_epoch',
                    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('token', sa.BigInteger(), server_default='0', nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_epoch')))
    op.execute("INSERT INTO inventory_epoch (id, token) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        for ddl in _PG_FUNCTIONS:
            op.execute(ddl)
        op.execute("CREATE TRIGGER hosts_change_seq BEFORE INSERT OR UPDATE ON hosts "
                   "FOR EACH ROW EXECUTE FUNCTION kumo_hosts_change_seq()")
        op.execute("CREATE TRIGGER hosts_epoch AFTER DELETE OR TRUNCATE ON hosts "
                   "FOR EACH STATEMENT EXECUTE FUNCTION kumo_inventory_epoch()")
        for table in _AGG_TABLES:
            op.execute(f"CREATE TRIGGER {table}_epoch AFTER INSERT OR UPDATE OR DELETE OR "
                       f"TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION "
                       "kumo_inventory_epoch()")
        op.execute("UPDATE hosts SET change_seq = change_seq")  # number the existing rows
        return
    for event in ("INSERT", "UPDATE"):
        op.execute(f"CREATE TRIGGER hosts_change_seq_{event.lower()} AFTER {event} ON hosts "
                   "BEGIN UPDATE hosts SET change_seq = (SELECT max(change_seq) FROM hosts) + 1 "
                   "WHERE id = NEW.id; END")
    op.execute(f"CREATE TRIGGER hosts_epoch_delete AFTER DELETE ON hosts BEGIN {_SQLITE_EPOCH} END")
    for table in _AGG_TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_epoch_{event.lower()} AFTER {event} ON {table} "
                       f"BEGIN {_SQLITE_EPOCH} END")
    op.execute("UPDATE hosts SET change_seq = id")  # number the existing rows


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER hosts_change_seq ON hosts")
        op.execute("DROP TRIGGER hosts_epoch ON hosts")
        for table in _AGG_TABLES:
            op.execute(f"DROP TRIGGER {table}_epoch ON {table}")
        op.execute("DROP FUNCTION kumo_hosts_change_seq()")
        op.execute("DROP FUNCTION kumo_inventory_epoch()")
    else:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER hosts_change_seq_{event}")
        op.execute("DROP TRIGGER hosts_epoch_delete")
        for table in _AGG_TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_epoch_{event}")
    op.drop_table('inventory_epoch')
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosts_change_seq'))
        batch_op.drop_column('change_seq')
