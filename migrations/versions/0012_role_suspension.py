"""A role's approval suspended by a password reset or a new token, until the index team approves it again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 21:30:00.000000

Three nullable columns on user_roles: no existing grant is suspended.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspended_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('suspended_because', sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_user_roles_suspended_by_id_users'), 'users',
                                    ['suspended_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_user_roles_suspended_by_id_users'), type_='foreignkey')
        batch_op.drop_column('suspended_because')
        batch_op.drop_column('suspended_by_id')
        batch_op.drop_column('suspended_at')
