"""Mediated access (on-behalf-of columns on audit events) and organisations' OpenID Connect identity providers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

AUDIT_TAGS_0006 = (
    'account:login:password', 'account:login:success', 'account:login:failure', 'account:logout',
    'account:session:expired', 'record:search', 'record:view', 'access:denied',
    'source:register', 'source:change', 'load:start', 'load:finish', 'load:report:view', 'review:decide',
    'record:merge', 'record:unmerge',
    'load:submit', 'oauth:client:register', 'oauth:client:revoke', 'oauth:token:issue', 'oauth:token:refused',
    'account:reauth:failure', 'shield:add', 'shield:remove', 'shield:override', 'shield:override:view',
    'shield:override:review',
    'account:access:lapsed', 'account:create', 'account:change', 'account:suspend', 'account:reinstate',
    'account:close', 'account:import', 'account:role:approve', 'account:role:refuse', 'account:password:change',
    'account:password:reset', 'account:token:issue', 'account:token:enrol', 'account:token:revoke',
    'account:recovery:use', 'account:usage:view', 'org:create', 'org:criterion:met',
    'org:accredit', 'org:suspend', 'criteria:change',
)
NEW_AUDIT_TAGS = (
    'mediated:start', 'mediated:end',
    'idp:register', 'idp:change', 'idp:identity:link', 'idp:identity:unlink',
    'account:oidc:start', 'account:oidc:verified', 'account:oidc:refused',
)


def _replace_audit_tags(tags):
    """The tag column is a checked string: widen (or narrow) the list of values it accepts."""
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_events_audit_tag'), type_='check')
        batch_op.create_check_constraint('audit_tag', sa.column('tag').in_(tags))


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_behalf_of_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('on_behalf_of_organisation', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_events_on_behalf_of_name'), ['on_behalf_of_name'], unique=False)
    _replace_audit_tags(AUDIT_TAGS_0006 + NEW_AUDIT_TAGS)

    op.create_table('identity_providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=300), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=False),
    sa.Column('client_secret_encrypted', sa.Text(), nullable=False),
    sa.Column('trusts_provider_mfa', sa.Boolean(), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_identity_providers_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_providers')),
    sa.UniqueConstraint('organisation_id', name=op.f('uq_identity_providers_organisation_id'))
    )
    op.create_table('provider_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['identity_providers.id'], name=op.f('fk_provider_identities_provider_id_identity_providers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_provider_identities_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_identities')),
    sa.UniqueConstraint('provider_id', 'subject', name=op.f('uq_provider_identities_provider_id_subject')),
    sa.UniqueConstraint('provider_id', 'user_id', name=op.f('uq_provider_identities_provider_id_user_id'))
    )
    with op.batch_alter_table('provider_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_identities_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('provider_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_identities_user_id'))
    op.drop_table('provider_identities')
    op.drop_table('identity_providers')
    op.execute(sa.text("DELETE FROM audit_events WHERE tag IN :tags").bindparams(sa.bindparam("tags", expanding=True)).params(tags=list(NEW_AUDIT_TAGS)))
    _replace_audit_tags(AUDIT_TAGS_0006)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_on_behalf_of_name'))
        batch_op.drop_column('on_behalf_of_organisation')
        batch_op.drop_column('on_behalf_of_name')
