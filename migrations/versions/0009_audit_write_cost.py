"""Fewer indexes for the audit write: the tag and on-behalf-of indexes made partial, holding only the
rare events their reports read (sign-in failures; events made on someone's behalf).

Every event wrote both before; now an ordinary search or view writes neither. The indexes are
dropped and made outside batch mode, so `audit_events` is not rebuilt and its triggers stand.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 13:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

SIGN_IN_FAILURES = "tag IN ('account:login:failure', 'account:reauth:failure', 'oauth:token:refused')"
ON_BEHALF = "on_behalf_of_name IS NOT NULL"


def _where(condition):
    return {'sqlite_where': sa.text(condition), 'postgresql_where': sa.text(condition)}


def upgrade():
    op.drop_index('ix_audit_events_tag', table_name='audit_events')
    op.drop_index('ix_audit_events_on_behalf_of_name', table_name='audit_events')
    op.create_index('ix_audit_events_sign_in_failures', 'audit_events', ['chain_position'], unique=False,
                    **_where(SIGN_IN_FAILURES))
    op.create_index('ix_audit_events_on_behalf_of', 'audit_events', ['id'], unique=False, **_where(ON_BEHALF))


def downgrade():
    op.drop_index('ix_audit_events_on_behalf_of', table_name='audit_events')
    op.drop_index('ix_audit_events_sign_in_failures', table_name='audit_events')
    op.create_index('ix_audit_events_on_behalf_of_name', 'audit_events', ['on_behalf_of_name'], unique=False)
    op.create_index('ix_audit_events_tag', 'audit_events', ['tag'], unique=False)
