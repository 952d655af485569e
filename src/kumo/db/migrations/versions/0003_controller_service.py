"""kumo serve: journal leases, host liveness, image-cache ages and periodic task runs.

* journal.lease_expires_at: an entry's owner holds it until then (renewed while working); NULL
  on rows written before leases (only the same-machine process check applies to them).
* hosts.liveness / liveness_reason / liveness_checked_at: the last probe's verdict (up, down);
  hosts.last_heartbeat stays the time of the last good contact.
* image_cache_volumes: since when each cached image volume on a host has been unused.
* periodic_runs: one row per periodic task, its last run across all controllers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:45:00.000000
"""
from alembic import op
import sqlalchemy as sa

from kumo.db.base import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_expires_at', UTCDateTime(), nullable=True))
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('liveness', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('liveness_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('liveness_checked_at', UTCDateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_hosts_liveness'),
                                         "liveness IN ('up', 'down')")
    op.create_table(
        'image_cache_volumes',
        sa.Column('host_id', sa.Integer(), nullable=False),
        sa.Column('volume', sa.String(length=255), nullable=False),
        sa.Column('first_seen_at', UTCDateTime(), nullable=False),
        sa.Column('unused_since', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['host_id'], ['hosts.id'],
                                name=op.f('fk_image_cache_volumes_host_id_hosts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('host_id', 'volume', name=op.f('pk_image_cache_volumes')),
    )
    op.create_table(
        'periodic_runs',
        sa.Column('task', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=True),
        sa.Column('started_at', UTCDateTime(), nullable=True),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('last_success_at', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('runs', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('task', name=op.f('pk_periodic_runs')),
    )


def downgrade() -> None:
    op.drop_table('periodic_runs')
    op.drop_table('image_cache_volumes')
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_hosts_liveness'), type_='check')
        batch_op.drop_column('liveness_checked_at')
        batch_op.drop_column('liveness_reason')
        batch_op.drop_column('liveness')
    with op.batch_alter_table('journal', schema=None) as batch_op:
        batch_op.drop_column('lease_expires_at')
