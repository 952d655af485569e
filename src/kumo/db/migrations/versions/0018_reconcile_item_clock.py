"""reconcile_items.clock: where a --sync-time run stands with each item's guest clock
(kumo.db.models.ClockState; NULL: not looked at yet), so a run killed between an item's
property change and its clock resumes with the clock, and never sets a clock twice.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 01:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not batch_alter_table: ADD COLUMN needs no table rebuild on SQLite
    op.add_column('reconcile_items', sa.Column('clock', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reconcile_items', schema=None) as batch_op:
        batch_op.drop_column('clock')
