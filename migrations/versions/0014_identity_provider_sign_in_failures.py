"""The sign-in failures index also holds refused sign-ins through an organisation's identity provider,
since the failed sign-ins report now lists them.

Made outside batch mode, like 0009, so `audit_events` is not rebuilt and its triggers stand.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 21:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BEFORE = "tag IN ('account:login:failure', 'account:reauth:failure', 'oauth:token:refused')"
AFTER = ("tag IN ('account:login:failure', 'account:reauth:failure', 'oauth:token:refused', "
         "'account:oidc:refused')")


def _where(condition):
    return {'sqlite_where': sa.text(condition), 'postgresql_where': sa.text(condition)}


def upgrade():
    op.drop_index('ix_audit_events_sign_in_failures', table_name='audit_events')
    op.create_index('ix_audit_events_sign_in_failures', 'audit_events', ['chain_position'], unique=False,
                    **_where(AFTER))


def downgrade():
    op.drop_index('ix_audit_events_sign_in_failures', table_name='audit_events')
    op.create_index('ix_audit_events_sign_in_failures', 'audit_events', ['chain_position'], unique=False,
                    **_where(BEFORE))
