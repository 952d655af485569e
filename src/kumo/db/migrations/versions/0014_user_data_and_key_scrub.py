"""Server user data and metadata; secrets earlier versions kept are scrubbed.

New columns: instances.user_data (base64, as the Compute API carries it) and
instances.server_metadata (key -> value).

What earlier versions stored, and where (checked in their code): ``kumo server create
--key-file`` before the OpenSSH parser (kumo.compute.keys) stored the file's text as it was in
instances.public_key -- a private key included -- and wrote it into the guest's config drive;
the row kept it after the server was deleted. Nothing wrote key_pairs before key pairs existed,
and no journal payload carries a key. So this migration:

* clears instances.public_key (and pending_admin_password) on deleted instances: a deleted
  server's row keeps its history, not its secrets (delete now clears them itself);
* clears instances.public_key where it holds a private key, and says so in the server's notes:
  the guest's config drive still carries that key until the server is rebuilt, so the key must
  be treated as exposed and replaced;
* deletes any key_pairs row whose public_key is a private key (none are expected).

The private-key markers are frozen here (not imported from kumo.compute.keys): a migration
must do tomorrow what it did today.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 21:45:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

#: first-line markers of private keys (PEM/OpenSSH armour, PuTTY files)
_PRIVATE_MARKERS = ("PRIVATE KEY-----", "PuTTY-User-Key-File-")
#: columns a deleted instance must not keep (kumo.db.models.instances.SCRUBBED_ON_DELETE as of
#: this revision; user_data is new here and empty)
_SCRUBBED = ("public_key", "pending_admin_password")
NOTE = ("an earlier kumo stored a private SSH key as this server's key: it was removed from "
        "the record; the server's config drive still carries it until the server is rebuilt "
        "-- treat that key as exposed and replace it")


def _is_private(text: str | None) -> bool:
    return bool(text) and any(m in text for m in _PRIVATE_MARKERS)


def upgrade() -> None:
    # ADD COLUMN needs no table rebuild on SQLite (and so keeps every trigger and index)
    op.add_column('instances', sa.Column('user_data', sa.Text(), nullable=True))
    op.add_column('instances', sa.Column('server_metadata', sa.JSON(), nullable=False,
                                         server_default=sa.text("'{}'")))
    scrub(op.get_bind())


def scrub(conn: sa.Connection) -> None:
    instances = sa.table('instances', sa.column('id'), sa.column('deleted'),
                         sa.column('public_key'), sa.column('pending_admin_password'),
                         sa.column('notes'))
    conn.execute(instances.update().where(instances.c.deleted == sa.true())
                 .values({c: None for c in _SCRUBBED}))
    rows = conn.execute(sa.select(instances.c.id, instances.c.public_key, instances.c.notes)
                        .where(instances.c.public_key.is_not(None))).all()
    for row_id, key, notes in rows:
        if _is_private(key):
            conn.execute(instances.update().where(instances.c.id == row_id).values(
                public_key=None, notes=f"{notes}; {NOTE}" if notes else NOTE))
    key_pairs = sa.table('key_pairs', sa.column('id'), sa.column('public_key'))
    for row_id, key in conn.execute(sa.select(key_pairs.c.id, key_pairs.c.public_key)).all():
        if _is_private(key):
            conn.execute(key_pairs.delete().where(key_pairs.c.id == row_id))


def downgrade() -> None:
    # SQLite >= 3.35: ALTER TABLE DROP COLUMN (no rebuild). The scrubbed secrets stay gone.
    op.drop_column('instances', 'server_metadata')
    op.drop_column('instances', 'user_data')
