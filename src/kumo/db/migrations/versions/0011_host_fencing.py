"""Host fencing and spares: hosts.fence_command (an operator's command that powers the host off,
run by `kumo host fence` and kumo serve's automatic mode), hosts.down_probes (consecutive
liveness probes that found the host down: "down for N intervals"), hosts.reserved (a spare host
that takes only evacuated instances, Masakari's reserved_host).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 21:55:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not batch_alter_table: on SQLite that rebuilds the hosts table and loses its triggers
    # (0005's inventory change tracking); ADD COLUMN needs no rebuild
    op.add_column('hosts', sa.Column('fence_command', sa.Text(), nullable=True))
    op.add_column('hosts', sa.Column('down_probes', sa.Integer(), server_default='0',
                                     nullable=False))
    op.add_column('hosts', sa.Column('reserved', sa.Boolean(), server_default=sa.false(),
                                     nullable=False))


def downgrade() -> None:
    op.drop_column('hosts', 'reserved')  # SQLite >= 3.35: ALTER TABLE DROP COLUMN
    op.drop_column('hosts', 'down_probes')
    op.drop_column('hosts', 'fence_command')
