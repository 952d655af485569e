"""Instances record their pinned machine type (pc-q35-7.2, pc-i440fx-7.2, ...).

Set at create from the host's versioned machine for the chosen family, kept by hard reboot and
rebuild, moved only by an audited ``kumo server set-property hw_machine_type=...``. Existing
instances get NULL: their next plan uses the family as before, and no chipset change is forced.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 19:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('machine_type', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('machine_type')
