"""The requester of each journal entry: journal.user_id and journal.project_id (who asked,
in which project's scope), as Nova records them on an instance action (os-instance-actions
``user_id``/``project_id``). Entries written before this revision keep NULL: who asked was
not recorded (an older entry's payload may still name the user as ``by``).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 02:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN (nullable, no default): no table rebuild on SQLite
    op.add_column('journal', sa.Column('user_id', sa.String(length=64), nullable=True))
    op.add_column('journal', sa.Column('project_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('journal') as batch:
        batch.drop_column('project_id')
        batch.drop_column('user_id')
