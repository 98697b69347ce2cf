"""Accreditation, accounts and two-factor tokens: criteria and evidence, organisations' accreditation,
people's checks, encrypted secrets, role approval, recovery codes and administrators' notices.

Existing two-factor secrets are encrypted with TOTP_ENCRYPTION_KEY and count as enrolled tokens;
existing grants of roles that now need the index team's approval count as approved. Existing
organisations start unaccredited and existing people with no checks recorded: access is earned
(`flask orgs accredit` and `flask users checks` record them from the command line).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:30:00.000000

"""
import base64
import os

from alembic import op
import sqlalchemy as sa
from cryptography.fernet import Fernet, MultiFernet
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

AUDIT_TAGS_0005 = (
    'account:login:password', 'account:login:success', 'account:login:failure', 'account:logout',
    'account:session:expired', 'record:search', 'record:view', 'access:denied',
    'source:register', 'source:change', 'load:start', 'load:finish', 'load:report:view', 'review:decide',
    'record:merge', 'record:unmerge',
    'load:submit', 'oauth:client:register', 'oauth:client:revoke', 'oauth:token:issue', 'oauth:token:refused',
    'account:reauth:failure', 'shield:add', 'shield:remove', 'shield:override', 'shield:override:view',
    'shield:override:review',
)
NEW_AUDIT_TAGS = (
    'account:access:lapsed', 'account:create', 'account:change', 'account:suspend', 'account:reinstate',
    'account:close', 'account:import', 'account:role:approve', 'account:role:refuse', 'account:password:change',
    'account:password:reset', 'account:token:issue', 'account:token:enrol', 'account:token:revoke',
    'account:recovery:use', 'account:usage:view', 'org:create', 'org:criterion:met',
    'org:accredit', 'org:suspend', 'criteria:change',
)
ROLES_NEEDING_APPROVAL = ('shielder', 'override', 'auditor', 'index_team')
SEED_CRITERIA = (
    ('hr_records', 'HR records are kept for everyone with access', True),
    ('vetting', 'Enhanced vetting checks are current for everyone with access', True),
    ('exit_procedure', 'The exit procedure returns tokens and closes accounts the same day', True),
    ('induction_training', 'Training on the index is part of induction', True),
    ('misuse_policy', 'A misuse policy is in place and staff know it', True),
    ('shielding_policy', 'A shielding policy is in place', True),
    ('override_investigation', 'Emergency overrides are investigated', True),
    ('sensitive_consent', 'Consent is recorded for sensitive services', True),
    ('mediated_access', 'Mediated access is arranged for practitioners without direct access', True),
    ('token_management', 'Two-factor tokens are issued, revoked and reissued under control', True),
    ('helpdesk', 'A helpdesk and first-line support are in place', True),
    ('subject_access', 'Subject access requests are answered', True),
    ('line_manager_monitoring', "Line managers monitor their staff's use of the index", True),
    ('workstation_security', 'Workstations and the network are secure', True),
    ('death_of_child', 'The death of a child is reported to the index', True),
    ('data_sharing_agreements', "Data sharing agreements are in place with the index's sources", True),
    ('disputed_data', 'Disputed data is raised and resolved', True),
    ('data_quality', 'Data supplied to the index is checked for quality', True),
    ('local_procedures', 'Local procedures are documented', False),
)


def _replace_audit_tags(tags):
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_events_audit_tag'), type_='check')
        batch_op.create_check_constraint('audit_tag', sa.column('tag').in_(tags))


def _box():
    keys = [key.strip() for key in current_app.config['TOTP_ENCRYPTION_KEY'].split(',') if key.strip()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _encrypt_existing_secrets():
    connection = op.get_bind()
    box = _box()
    rows = connection.execute(sa.text('SELECT id, totp_secret, created_at FROM users')).all()
    for user_id, secret, created_at in rows:
        connection.execute(
            sa.text('UPDATE users SET totp_secret_encrypted = :stored, token_enrolled_at = :at, '
                    'token_issued_at = :at WHERE id = :id'),
            {'stored': box.encrypt(secret.encode()).decode(), 'at': created_at, 'id': user_id},
        )


def _decrypt_secrets_back():
    connection = op.get_bind()
    box = _box()
    for user_id, stored in connection.execute(sa.text('SELECT id, totp_secret_encrypted FROM users')).all():
        # Someone with no token enrolled gets a secret nobody knows: they still cannot sign in.
        secret = box.decrypt(stored.encode()).decode() if stored else base64.b32encode(os.urandom(20)).decode()
        connection.execute(sa.text('UPDATE users SET totp_secret = :secret WHERE id = :id'),
                           {'secret': secret, 'id': user_id})


def upgrade():
    criteria = op.create_table('accreditation_criteria',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('mandatory', sa.Boolean(), nullable=False),
    sa.Column('retired', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accreditation_criteria')),
    sa.UniqueConstraint('code', name=op.f('uq_accreditation_criteria_code'))
    )
    op.bulk_insert(criteria, [
        {'code': code, 'title': title, 'mandatory': mandatory, 'retired': False, 'position': position}
        for position, (code, title, mandatory) in enumerate(SEED_CRITERIA, start=1)
    ])

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accreditation_status', sa.Enum('pending', 'accredited', 'suspended', name='accreditation_status', native_enum=False, create_constraint=True), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('accredited_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('accredited_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.alter_column('accreditation_status', server_default=None)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_must_change', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('totp_secret_encrypted', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('pending_totp_secret_encrypted', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('token_issued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('token_enrolled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('vetting_reference', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('vetting_expires_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('training_completed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('approved_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('line_manager_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_users_line_manager_id_users'), 'users', ['line_manager_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_users_line_manager_id'), ['line_manager_id'], unique=False)
    _encrypt_existing_secrets()
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('password_must_change', server_default=None)
        batch_op.drop_column('totp_secret')

    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('granted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('approved_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_user_roles_approved_by_id_users'), 'users', ['approved_by_id'], ['id'])
    op.execute(sa.text('UPDATE user_roles SET approved_at = CURRENT_TIMESTAMP WHERE role IN :roles')
               .bindparams(sa.bindparam('roles', expanding=True)).params(roles=list(ROLES_NEEDING_APPROVAL)))

    op.create_table('criterion_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('criterion_id', sa.Integer(), nullable=False),
    sa.Column('evidence', sa.String(length=2000), nullable=False),
    sa.Column('met_on', sa.Date(), nullable=False),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['users.id'], name=op.f('fk_criterion_evidence_confirmed_by_id_users')),
    sa.ForeignKeyConstraint(['criterion_id'], ['accreditation_criteria.id'], name=op.f('fk_criterion_evidence_criterion_id_accreditation_criteria')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_criterion_evidence_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_criterion_evidence')),
    sa.UniqueConstraint('organisation_id', 'criterion_id', name=op.f('uq_criterion_evidence_organisation_id_criterion_id'))
    )
    with op.batch_alter_table('criterion_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_criterion_evidence_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=200), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)

    op.create_table('admin_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_admin_notices_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_admin_notices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_notices'))
    )
    with op.batch_alter_table('admin_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_notices_organisation_id'), ['organisation_id'], unique=False)

    _replace_audit_tags(AUDIT_TAGS_0005 + NEW_AUDIT_TAGS)


def downgrade():
    op.execute(sa.text("DELETE FROM audit_events WHERE tag IN :tags").bindparams(sa.bindparam("tags", expanding=True)).params(tags=list(NEW_AUDIT_TAGS)))
    _replace_audit_tags(AUDIT_TAGS_0005)
    with op.batch_alter_table('admin_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_notices_organisation_id'))
    op.drop_table('admin_notices')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('criterion_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_criterion_evidence_organisation_id'))
    op.drop_table('criterion_evidence')
    op.execute(sa.text('DELETE FROM user_roles WHERE approved_at IS NULL AND role IN :roles')
               .bindparams(sa.bindparam('roles', expanding=True)).params(roles=list(ROLES_NEEDING_APPROVAL)))
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_user_roles_approved_by_id_users'), type_='foreignkey')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('granted_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
    _decrypt_secrets_back()
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index(batch_op.f('ix_users_line_manager_id'))
        batch_op.drop_constraint(batch_op.f('fk_users_line_manager_id_users'), type_='foreignkey')
        for column in ('line_manager_id', 'approved_on', 'training_completed_on', 'vetting_expires_on',
                       'vetting_reference', 'closed_at', 'suspended_at', 'token_enrolled_at', 'token_issued_at',
                       'pending_totp_secret_encrypted', 'totp_secret_encrypted', 'password_must_change'):
            batch_op.drop_column(column)
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_organisations_accreditation_status'), type_='check')
        batch_op.drop_column('accredited_at')
        batch_op.drop_column('accredited_until')
        batch_op.drop_column('accreditation_status')
    op.drop_table('accreditation_criteria')
