"""Fewer index entries written at random places by a load: a redundant identifier index dropped,
and load rows indexed by child within their load.

- ix_source_identifiers_kind_value goes: the index of uq_source_identifiers_kind_value_source
  (kind, value, source_id) answers every lookup by kind and value, and a load wrote an entry in
  each, at a random place, for every NHS number and UPN it gave a record.
- ix_load_rows_child_id becomes ix_load_rows_load_id_child_id: the one query that finds load
  rows by child (the involvements a full load no longer supplies) asks within one load, and a
  load's entries now lie together instead of one at a random place for each child it linked.

At a million children the two were about one page in seven that a load's batch wrote to SQLite's log.
The indexes are dropped and made outside batch mode, so no table is rebuilt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_source_identifiers_kind_value', table_name='source_identifiers')
    op.create_index('ix_load_rows_load_id_child_id', 'load_rows', ['load_id', 'child_id'], unique=False)
    op.drop_index('ix_load_rows_child_id', table_name='load_rows')


def downgrade():
    op.create_index('ix_load_rows_child_id', 'load_rows', ['child_id'], unique=False)
    op.drop_index('ix_load_rows_load_id_child_id', table_name='load_rows')
    op.create_index('ix_source_identifiers_kind_value', 'source_identifiers', ['kind', 'value'], unique=False)
