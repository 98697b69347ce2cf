"""Shielding decisions taken by loads: the load that took one, and no person needed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shielding_decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('load_id', sa.Integer(), nullable=True))
        batch_op.alter_column('decided_by_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_shielding_decisions_load_id_loads'), 'loads', ['load_id'], ['id'])


def downgrade():
    op.execute(sa.text("DELETE FROM shielding_decisions WHERE decided_by_id IS NULL"))
    with op.batch_alter_table('shielding_decisions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_shielding_decisions_load_id_loads'), type_='foreignkey')
        batch_op.alter_column('decided_by_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('load_id')
