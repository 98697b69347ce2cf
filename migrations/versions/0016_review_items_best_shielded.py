"""Review items whose best candidate is a shielded record: `review_items.best_shielded`, so the
queue shows them only to those who may see shielded records. Items made before are not marked
(their pages redact shielded candidates as before).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('best_shielded', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_column('best_shielded')
