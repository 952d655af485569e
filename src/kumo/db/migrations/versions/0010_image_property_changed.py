"""When each image property got its current value: image_properties.updated_at (set on insert
and on every change of the value), so ``kumo audit`` can say "the image gained os_type=windows on
2017-05-05" rather than guess from the image's own timestamp. Rows from before this have none
(audit says the time is not recorded).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 21:50:00.000000
"""
from alembic import op
import sqlalchemy as sa

from kumo.db.base import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN needs no table rebuild on SQLite
    op.add_column('image_properties', sa.Column('updated_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('image_properties', 'updated_at')  # SQLite >= 3.35: ALTER TABLE DROP COLUMN
