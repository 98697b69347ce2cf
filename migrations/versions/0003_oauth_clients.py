"""OAuth2 clients of source systems and their access tokens (hashed); audit tags for them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

AUDIT_TAGS_0002 = (
    'account:login:password', 'account:login:success', 'account:login:failure', 'account:logout',
    'account:session:expired', 'record:search', 'record:view', 'access:denied',
    'source:register', 'source:change', 'load:start', 'load:finish', 'load:report:view', 'review:decide',
    'record:merge', 'record:unmerge',
)
NEW_AUDIT_TAGS = (
    'load:submit', 'oauth:client:register', 'oauth:client:revoke', 'oauth:token:issue', 'oauth:token:refused',
)


def _replace_audit_tags(tags):
    """The tag column is a checked string: widen (or narrow) the list of values it accepts."""
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_events_audit_tag'), type_='check')
        batch_op.create_check_constraint('audit_tag', sa.column('tag').in_(tags))


def upgrade():
    op.create_table('oauth_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_oauth_clients_created_by_id_users')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_oauth_clients_revoked_by_id_users')),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_oauth_clients_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_oauth_clients_client_id'))
    )
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_clients_source_id'), ['source_id'], unique=False)

    op.create_table('oauth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('oauth_client_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['oauth_client_id'], ['oauth_clients.id'], name=op.f('fk_oauth_tokens_oauth_client_id_oauth_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_tokens')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_oauth_tokens_token_sha256'))
    )
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_tokens_oauth_client_id'), ['oauth_client_id'], unique=False)

    _replace_audit_tags(AUDIT_TAGS_0002 + NEW_AUDIT_TAGS)


def downgrade():
    op.execute(sa.text("DELETE FROM audit_events WHERE tag IN :tags").bindparams(sa.bindparam("tags", expanding=True)).params(tags=list(NEW_AUDIT_TAGS)))
    _replace_audit_tags(AUDIT_TAGS_0002)
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_oauth_client_id'))

    op.drop_table('oauth_tokens')
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_clients_source_id'))

    op.drop_table('oauth_clients')
