"""Cold migrations and resizes (kumo server migrate / resize, kumo host drain): one row per move
of an instance, with the claim the move holds on its other host until it is confirmed or
reverted.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 01:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

from kumo.db.base import UTCDateTime

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

KINDS = "kind IN ('migration', 'resize')"
STATUSES = ("status IN ('pre-migrating', 'migrating', 'finished', 'confirming', 'confirmed', "
            "'reverting', 'reverted', 'error')")


def upgrade() -> None:
    op.create_table(
        'migrations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('source_host_id', sa.Integer(), nullable=False),
        sa.Column('source_node', sa.String(length=255), nullable=False),
        sa.Column('dest_host_id', sa.Integer(), nullable=False),
        sa.Column('dest_node', sa.String(length=255), nullable=False),
        sa.Column('old_flavor', sa.JSON(), nullable=False),
        sa.Column('new_flavor', sa.JSON(), nullable=False),
        sa.Column('old_vm_state', sa.String(length=32), nullable=False),
        sa.Column('held_host_id', sa.Integer(), nullable=True),
        sa.Column('held_vcpus', sa.Integer(), nullable=False),
        sa.Column('held_ram_mib', sa.Integer(), nullable=False),
        sa.Column('held_disk_gib', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('journal_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint(KINDS, name=op.f('ck_migrations_kind')),
        sa.CheckConstraint(STATUSES, name=op.f('ck_migrations_status')),
        sa.ForeignKeyConstraint(['source_host_id'], ['hosts.id'],
                                name=op.f('fk_migrations_source_host_id_hosts')),
        sa.ForeignKeyConstraint(['dest_host_id'], ['hosts.id'],
                                name=op.f('fk_migrations_dest_host_id_hosts')),
        sa.ForeignKeyConstraint(['held_host_id'], ['hosts.id'],
                                name=op.f('fk_migrations_held_host_id_hosts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_migrations')),
    )
    op.create_index(op.f('ix_migrations_instance_uuid'), 'migrations', ['instance_uuid'])
    op.create_index(op.f('ix_migrations_held_host_id'), 'migrations', ['held_host_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_migrations_held_host_id'), table_name='migrations')
    op.drop_index(op.f('ix_migrations_instance_uuid'), table_name='migrations')
    op.drop_table('migrations')
