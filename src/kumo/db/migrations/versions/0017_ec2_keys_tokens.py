"""EC2 key pairs and idempotency: key_pairs.private_fingerprint (the SHA-1 of a generated
key's private half, EC2's fingerprint of a key pair it created), ec2_client_tokens
(RunInstances' ClientToken -> reservation).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 01:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

from kumo.db.base import UTCDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN: no table rebuild
    op.add_column('key_pairs', sa.Column('private_fingerprint', sa.String(length=64),
                                         nullable=True))
    op.create_table(
        'ec2_client_tokens',
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('request_digest', sa.String(length=64), nullable=False),
        sa.Column('reservation_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'token', name=op.f('pk_ec2_client_tokens')))
    op.create_index(op.f('ix_ec2_client_tokens_reservation_id'), 'ec2_client_tokens',
                    ['reservation_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_ec2_client_tokens_reservation_id'), table_name='ec2_client_tokens')
    op.drop_table('ec2_client_tokens')
    with op.batch_alter_table('key_pairs') as batch:
        batch.drop_column('private_fingerprint')
