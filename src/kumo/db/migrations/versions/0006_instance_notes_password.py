"""Instance notes and a pending admin password.

* instances.notes: what the operator should know about an instance that is not a fault (it is
  ACTIVE), e.g. a Windows admin password that a controller generated and stopped before showing.
* instances.pending_admin_password: a password set with ``kumo server set-password`` for a guest
  without the QEMU guest agent, written to the config drive at the next rebuild and then
  cleared (the database and its directory are private to the controller, 0600/0700).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 19:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('pending_admin_password', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('pending_admin_password')
        batch_op.drop_column('notes')
