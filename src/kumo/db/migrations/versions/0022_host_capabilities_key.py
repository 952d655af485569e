"""hosts.capabilities_key: equal for hosts whose capabilities are equal, so a scheduler's cold
start reads a short key per host and one capabilities JSON per distinct key (at 10,000 hosts the
JSON of every host was ~8.5 MB, a quarter of reading the inventory).

* PostgreSQL: a trigger computes it from the stored text on every INSERT and every UPDATE that
  sets the capabilities (or the key): the SHA-256 of the JSON text, whatever the writer.
* SQLite has no hash function: kumo writes it (the SHA-256 of the canonical JSON: the column's
  default on INSERT, Host.set_capabilities on UPDATE), and a trigger sets it NULL when an UPDATE
  changes the capabilities and leaves the key as it was (an in-place JSON change, a hand-written
  UPDATE). NULL means unknown: the reader then takes that host's JSON itself.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29 08:00:00.000000
"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

_PG_KEY = ("CASE WHEN NEW.capabilities IS NULL THEN NULL ELSE "
           "encode(sha256(convert_to(NEW.capabilities::text, 'UTF8')), 'hex') END")


def upgrade() -> None:
    # ADD COLUMN (nullable, no default): no table rebuild on SQLite (whose hosts triggers a
    # rebuild would drop)
    op.add_column('hosts', sa.Column('capabilities_key', sa.String(length=64), nullable=True))
    # (the reader takes one host of each key: GROUP BY on the index, not a sort of every row)
    op.create_index(op.f('ix_hosts_capabilities_key'), 'hosts', ['capabilities_key'],
                    unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE FUNCTION kumo_hosts_capabilities_key() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $$ BEGIN NEW.capabilities_key := {_PG_KEY}; "
                   "RETURN NEW; END $$")
        op.execute("CREATE TRIGGER hosts_capabilities_key BEFORE INSERT OR UPDATE OF "
                   "capabilities, capabilities_key ON hosts FOR EACH ROW EXECUTE FUNCTION "
                   "kumo_hosts_capabilities_key()")
        op.execute("UPDATE hosts SET capabilities_key = NULL WHERE capabilities IS NOT NULL")
        return
    op.execute("CREATE TRIGGER hosts_capabilities_key_stale AFTER UPDATE OF capabilities ON hosts "
               "WHEN NEW.capabilities_key IS OLD.capabilities_key "
               "AND NEW.capabilities IS NOT OLD.capabilities "
               "BEGIN UPDATE hosts SET capabilities_key = NULL WHERE id = NEW.id; END")
    # the existing rows: kumo.db.models.hosts.capabilities_key of each distinct JSON (written
    # out here: a migration does not import the models it predates)
    texts = [t for (t,) in bind.exec_driver_sql(
        "SELECT DISTINCT capabilities FROM hosts WHERE capabilities IS NOT NULL")]
    for text in texts:
        value = json.loads(text)
        if value is None:
            continue
        key = hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"))
                             .encode()).hexdigest()
        bind.exec_driver_sql("UPDATE hosts SET capabilities_key = ? WHERE capabilities = ?",
                             (key, text))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER hosts_capabilities_key ON hosts")
        op.execute("DROP FUNCTION kumo_hosts_capabilities_key()")
    else:
        op.execute("DROP TRIGGER hosts_capabilities_key_stale")
    op.drop_index(op.f('ix_hosts_capabilities_key'), table_name='hosts')
    # (SQLite 3.35+ drops a column in place; batch mode would rebuild hosts and lose its
    # change_seq triggers)
    op.drop_column('hosts', 'capabilities_key')
