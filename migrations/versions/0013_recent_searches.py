"""Each person's recent searches, counted against their search limits (index_service/children/search_limits.py).

A row is a search someone ran, kept for a day (the longest limit's window), then deleted as
that person searches again; so the table holds at most a day's limit of rows a person.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recent_searches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recent_searches_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recent_searches'))
    )
    op.create_index('ix_recent_searches_user_id_at', 'recent_searches', ['user_id', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_recent_searches_user_id_at', table_name='recent_searches')
    op.drop_table('recent_searches')
