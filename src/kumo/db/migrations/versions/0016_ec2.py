"""EC2 Query API: ec2_credentials (secret sealed), ec2_tags, ec2_request_signatures (replay
window), instances.password_data (the admin password encrypted with the key pair's public key),
instances.reservation_id (the RunInstances call that made it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 21:50:00.000000
"""
from alembic import op
import sqlalchemy as sa

from kumo.db.base import UTCDateTime

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ec2_credentials',
        sa.Column('access_key', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('secret_sealed', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_ec2_credentials_project_id_projects'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_ec2_credentials_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('access_key', name=op.f('pk_ec2_credentials')))
    op.create_index(op.f('ix_ec2_credentials_project_id'), 'ec2_credentials', ['project_id'])
    op.create_index(op.f('ix_ec2_credentials_user_id'), 'ec2_credentials', ['user_id'])
    op.create_table(
        'ec2_tags',
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('value', sa.String(length=256), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['instance_uuid'], ['instances.uuid'],
                                name=op.f('fk_ec2_tags_instance_uuid_instances'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('instance_uuid', 'key', name=op.f('pk_ec2_tags')))
    op.create_index(op.f('ix_ec2_tags_project_id'), 'ec2_tags', ['project_id'])
    op.create_table(
        'ec2_request_signatures',
        sa.Column('signature', sa.String(length=64), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('signature', name=op.f('pk_ec2_request_signatures')))
    op.create_index(op.f('ix_ec2_request_signatures_expires_at'), 'ec2_request_signatures',
                    ['expires_at'])
    # ADD COLUMN: no table rebuild
    op.add_column('instances', sa.Column('password_data', sa.Text(), nullable=True))
    op.add_column('instances', sa.Column('reservation_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('instances') as batch:
        batch.drop_column('reservation_id')
        batch.drop_column('password_data')
    op.drop_index(op.f('ix_ec2_request_signatures_expires_at'),
                  table_name='ec2_request_signatures')
    op.drop_table('ec2_request_signatures')
    op.drop_index(op.f('ix_ec2_tags_project_id'), table_name='ec2_tags')
    op.drop_table('ec2_tags')
    op.drop_index(op.f('ix_ec2_credentials_user_id'), table_name='ec2_credentials')
    op.drop_index(op.f('ix_ec2_credentials_project_id'), table_name='ec2_credentials')
    op.drop_table('ec2_credentials')
