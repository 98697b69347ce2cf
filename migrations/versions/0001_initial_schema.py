"""Initial schema: organisations, users and sessions, the child record, audit events.

Revision ID: 6a27449e846a
Revises: 
Create Date: 2026-11-25 10:44:18.143705

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('children',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('index_id', sa.String(length=12), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('middle_names', sa.String(length=200), nullable=True),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('gender', sa.Enum('male', 'female', 'other', 'unknown', name='gender', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('active', 'archived', 'deceased', name='child_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('is_shielded', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_children')),
    sa.UniqueConstraint('index_id', name=op.f('uq_children_index_id'))
    )
    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_children_date_of_birth'), ['date_of_birth'], unique=False)

    op.create_table('failed_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_failed_attempts'))
    )
    with op.batch_alter_table('failed_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_failed_attempts_key_at', ['key', 'at'], unique=False)

    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.Enum('local_authority', 'nhs_trust', 'gp_practice', 'school', 'police', 'youth_offending_team', 'voluntary', 'national_index', name='organisation_type', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('name', name=op.f('uq_organisations_name'))
    )
    op.create_table('blocking_keys',
    sa.Column('key', sa.BigInteger(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_blocking_keys_child_id_children'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', 'child_id', name=op.f('pk_blocking_keys'))
    )
    with op.batch_alter_table('blocking_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blocking_keys_child_id'), ['child_id'], unique=False)

    op.create_table('data_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_data_sources_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_sources')),
    sa.UniqueConstraint('name', name=op.f('uq_data_sources_name'))
    )
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_sources_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=False),
    sa.Column('last_totp_step', sa.BigInteger(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_users_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('line1', sa.String(length=200), nullable=True),
    sa.Column('line2', sa.String(length=200), nullable=True),
    sa.Column('town', sa.String(length=100), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('postcode_key', sa.String(length=8), nullable=True),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('supplied_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_addresses_child_id_children'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_addresses_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses'))
    )
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addresses_child_id'), ['child_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_addresses_postcode_key'), ['postcode_key'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('tag', sa.Enum('account:login:password', 'account:login:success', 'account:login:failure', 'account:logout', 'account:session:expired', 'record:search', 'record:view', 'access:denied', name='audit_tag', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('outcome', sa.Enum('success', 'failure', 'denied', name='audit_outcome', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('target_ids', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('client_address', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_audit_events_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_tag'), ['tag'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_user_id'), ['user_id'], unique=False)

    op.create_table('carer_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('relationship_to_child', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('supplied_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_carer_contacts_child_id_children'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_carer_contacts_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carer_contacts'))
    )
    with op.batch_alter_table('carer_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carer_contacts_child_id'), ['child_id'], unique=False)

    op.create_table('child_names',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('preferred', 'former', 'alias', name='name_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=True),
    sa.Column('family_name', sa.String(length=100), nullable=True),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('supplied_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_child_names_child_id_children'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_child_names_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_child_names'))
    )
    with op.batch_alter_table('child_names', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_child_names_child_id'), ['child_id'], unique=False)

    op.create_table('field_provenance',
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('supplied_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_field_provenance_child_id_children'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_field_provenance_source_id_data_sources')),
    sa.PrimaryKeyConstraint('child_id', 'field', name=op.f('pk_field_provenance'))
    )
    op.create_table('involvements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('service', sa.Enum('education', 'gp_practice', 'health_visitor', 'school_nurse', 'social_care', 'youth_justice', 'early_help', 'other', name='service', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=True),
    sa.Column('practitioner_name', sa.String(length=200), nullable=True),
    sa.Column('practitioner_phone', sa.String(length=40), nullable=True),
    sa.Column('practitioner_email', sa.String(length=254), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('is_lead_professional', sa.Boolean(), nullable=False),
    sa.Column('has_early_help_assessment', sa.Boolean(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('supplied_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_involvements_child_id_children'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_involvements_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_involvements_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_involvements'))
    )
    with op.batch_alter_table('involvements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_involvements_child_id'), ['child_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_involvements_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('source_identifiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('nhs_number', 'upn', 'source_record', name='identifier_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('supplied_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_source_identifiers_child_id_children'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_source_identifiers_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_identifiers')),
    sa.UniqueConstraint('kind', 'value', 'source_id', name='uq_source_identifiers_kind_value_source')
    )
    with op.batch_alter_table('source_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_identifiers_child_id'), ['child_id'], unique=False)
        batch_op.create_index('ix_source_identifiers_kind_value', ['kind', 'value'], unique=False)

    op.create_table('user_roles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('practitioner', 'data_admin', 'user_admin', 'shielder', 'auditor', 'index_team', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_roles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_roles'))
    )
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_last_seen_at'), ['last_seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_user_sessions_last_seen_at'))

    op.drop_table('user_sessions')
    op.drop_table('user_roles')
    with op.batch_alter_table('source_identifiers', schema=None) as batch_op:
        batch_op.drop_index('ix_source_identifiers_kind_value')
        batch_op.drop_index(batch_op.f('ix_source_identifiers_child_id'))

    op.drop_table('source_identifiers')
    with op.batch_alter_table('involvements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_involvements_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_involvements_child_id'))

    op.drop_table('involvements')
    op.drop_table('field_provenance')
    with op.batch_alter_table('child_names', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_child_names_child_id'))

    op.drop_table('child_names')
    with op.batch_alter_table('carer_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carer_contacts_child_id'))

    op.drop_table('carer_contacts')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_user_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_tag'))
        batch_op.drop_index(batch_op.f('ix_audit_events_occurred_at'))

    op.drop_table('audit_events')
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addresses_postcode_key'))
        batch_op.drop_index(batch_op.f('ix_addresses_child_id'))

    op.drop_table('addresses')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_organisation_id'))

    op.drop_table('users')
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_sources_organisation_id'))

    op.drop_table('data_sources')
    with op.batch_alter_table('blocking_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blocking_keys_child_id'))

    op.drop_table('blocking_keys')
    op.drop_table('organisations')
    with op.batch_alter_table('failed_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_failed_attempts_key_at')

    op.drop_table('failed_attempts')
    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_children_date_of_birth'))

    op.drop_table('children')
