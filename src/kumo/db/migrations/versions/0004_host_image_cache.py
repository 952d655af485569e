"""The image cache on hosts (host_images): one row per host and image, uploading or ready.

Image volumes already on hosts have no row; the next create that needs one uploads it again
(replacing the volume), since nothing recorded that its upload had completed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 18:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'host_images',
        sa.Column('host_id', sa.Integer(), nullable=False),
        sa.Column('image_id', sa.String(length=36), nullable=False),
        sa.Column('volume', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=True),
        sa.Column('token', sa.String(length=32), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('uploading', 'ready')", name=op.f('ck_host_images_state')),
        sa.ForeignKeyConstraint(['host_id'], ['hosts.id'],
                                name=op.f('fk_host_images_host_id_hosts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('host_id', 'image_id', name=op.f('pk_host_images')),
    )


def downgrade() -> None:
    op.drop_table('host_images')
