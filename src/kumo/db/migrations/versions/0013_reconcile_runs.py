"""Reconcile runs (kumo reconcile --apply / --revert): the run, one item per instance it
selected (the record before and after, the journal entry that redefined the domain), and the
instance's pending-restart mark (--reboot on-next-stop).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 21:50:00.000000
"""
from alembic import op
import sqlalchemy as sa

from kumo.db.base import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

RUN_STATES = "state IN ('in-progress', 'interrupted', 'done')"
ITEM_STATES = "state IN ('pending', 'changed', 'unchanged', 'skipped', 'failed')"


def upgrade() -> None:
    op.create_table(
        'reconcile_runs',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('spec', sa.JSON(), nullable=False),
        sa.Column('revert_of', sa.String(length=36), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('journal_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint(RUN_STATES, name=op.f('ck_reconcile_runs_state')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reconcile_runs')),
    )
    op.create_index(op.f('ix_reconcile_runs_revert_of'), 'reconcile_runs', ['revert_of'])
    op.create_table(
        'reconcile_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.String(length=36), nullable=False),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('machine_before', sa.String(length=64), nullable=True),
        sa.Column('machine_after', sa.String(length=64), nullable=True),
        sa.Column('journal_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint(ITEM_STATES, name=op.f('ck_reconcile_items_state')),
        sa.ForeignKeyConstraint(['run_id'], ['reconcile_runs.id'],
                                name=op.f('fk_reconcile_items_run_id_reconcile_runs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reconcile_items')),
        sa.UniqueConstraint('run_id', 'instance_uuid',
                            name=op.f('uq_reconcile_items_run_id_instance_uuid')),
    )
    op.create_index(op.f('ix_reconcile_items_run_id'), 'reconcile_items', ['run_id'])
    op.create_index(op.f('ix_reconcile_items_instance_uuid'), 'reconcile_items',
                    ['instance_uuid'])
    # ADD COLUMN needs no table rebuild on SQLite (instances has no triggers, but stay lean)
    op.add_column('instances', sa.Column('pending_restart', sa.String(length=36), nullable=True))


def downgrade() -> None:
    op.drop_column('instances', 'pending_restart')  # SQLite >= 3.35: ALTER TABLE DROP COLUMN
    op.drop_index(op.f('ix_reconcile_items_instance_uuid'), table_name='reconcile_items')
    op.drop_index(op.f('ix_reconcile_items_run_id'), table_name='reconcile_items')
    op.drop_table('reconcile_items')
    op.drop_index(op.f('ix_reconcile_runs_revert_of'), table_name='reconcile_runs')
    op.drop_table('reconcile_runs')
