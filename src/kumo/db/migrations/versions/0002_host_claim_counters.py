"""Host claim counters: instance_count and generation, bumped by every claim and release.

instance_count starts as the number of live (not deleted) instances recorded on the host, which
is what the claims made so far stand for; generation starts at 0.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('instance_count', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('generation', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.create_check_constraint(op.f('ck_hosts_counters'),
                                         'instance_count >= 0 AND generation >= 0')
    op.execute("UPDATE hosts SET instance_count = (SELECT count(*) FROM instances "
               "WHERE instances.host_id = hosts.id AND instances.deleted = false)")


def downgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_hosts_counters'), type_='check')
        batch_op.drop_column('generation')
        batch_op.drop_column('instance_count')
