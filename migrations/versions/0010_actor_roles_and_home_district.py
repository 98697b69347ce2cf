"""The actor's roles on each audit event, and a user's home postcode district for the unusual-use check.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:30:00.000000

Both columns are nullable and added in place (no table rebuild, so the append-only triggers
stay): events written before this revision keep their hashes (canonical content leaves a None
out), and say nothing of roles.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('audit_events', sa.Column('actor_roles', sa.String(length=200), nullable=True))
    op.add_column('users', sa.Column('home_postcode_district', sa.String(length=4), nullable=True))


def downgrade():
    connection = op.get_bind()
    holding = connection.execute(sa.text("SELECT count(*) FROM audit_events WHERE actor_roles IS NOT NULL")).scalar()
    if holding:
        raise RuntimeError(f"{holding} audit events hold the actor's roles, which their hashes cover: dropping the "
                           "column would break the hash chain, so this downgrade is refused")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('home_postcode_district')
    if connection.dialect.name == 'postgresql':
        op.drop_column('audit_events', 'actor_roles')
        return
    # SQLite rebuilds the table to drop a column, and the rebuild loses the append-only triggers.
    from index_service.audit import append_only
    append_only.drop_triggers(op.execute, 'sqlite')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('actor_roles')
    append_only.create_triggers(op.execute, 'sqlite')
