"""Daemon identity and installation id: hosts.daemon_id (the libvirt daemon a host record names,
unique, so two records cannot count one daemon's capacity twice) and the one-row installation
table (the id every domain this database defines is marked with).

Hosts recorded before this have no daemon_id: they are compared by URI until they are added
again; the installation gets its id now.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 19:35:00.000000
"""
import uuid
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

from kumo.db.base import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not batch_alter_table: on SQLite that rebuilds the hosts table and loses its triggers
    # (0005's inventory change tracking); ADD COLUMN and CREATE UNIQUE INDEX need no rebuild
    op.add_column('hosts', sa.Column('daemon_id', sa.String(length=1024), nullable=True))
    op.create_index(op.f('ix_hosts_daemon_id'), 'hosts', ['daemon_id'], unique=True)
    installation = op.create_table(
        'installation',
        sa.Column('singleton', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint('singleton = 1', name=op.f('ck_installation_singleton')),
        sa.PrimaryKeyConstraint('singleton', name=op.f('pk_installation')),
    )
    op.bulk_insert(installation, [{"singleton": 1, "id": str(uuid.uuid4()),
                                   "created_at": datetime.now(timezone.utc)}])


def downgrade() -> None:
    op.drop_table('installation')
    op.drop_index(op.f('ix_hosts_daemon_id'), table_name='hosts')
    op.drop_column('hosts', 'daemon_id')  # SQLite >= 3.35: ALTER TABLE DROP COLUMN
