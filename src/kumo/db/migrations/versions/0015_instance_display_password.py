"""Each instance's VNC display password.

instances.display_password: the password of the guest's VNC display (``<graphics passwd=...>``),
generated at create and kept for the instance's life, so every regenerated domain (hard reboot,
rebuild, evacuation) keeps it. Instances recorded before this get one now; their running domains
get it at their next regeneration. Plain text in the private database (0600, in a 0700
directory), as pending_admin_password: libvirt needs the clear value to define the domain.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 22:10:00.000000
"""
import secrets
import string

from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not batch_alter_table: ADD COLUMN needs no table rebuild on SQLite
    op.add_column('instances', sa.Column('display_password', sa.Text(), nullable=True))
    instances = sa.table('instances', sa.column('id', sa.Integer()),
                         sa.column('display_password', sa.Text()))
    conn = op.get_bind()
    for (row_id,) in conn.execute(sa.select(instances.c.id)).all():
        conn.execute(instances.update().where(instances.c.id == row_id)
                     .values(display_password=_password()))


def _password() -> str:
    """As kumo.compute.consoles.new_display_password at the time of writing (a migration keeps
    its own copy: it must not change when that code does)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def downgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('display_password')
