"""RunInstances' ClientToken held by the launch's journal entry: ec2_client_tokens.journal_id
(the ``ec2-run`` entry that launches the token's reservation: unfinished while it launches,
its lease the launching controller's, done with the reservation's instances in its payload).
Rows written before this revision have none: their launches were complete.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 04:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN (nullable, no default): no table rebuild on SQLite
    op.add_column('ec2_client_tokens', sa.Column('journal_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ec2_client_tokens') as batch:
        batch.drop_column('journal_id')
