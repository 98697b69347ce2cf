"""The duplicate sweep: its items (two held records that may be one child), and the audit tag
'duplicates:sweep' for each run's summary.

The audit tag is a checked string, so its check constraint is replaced as 0015 replaced it (on
SQLite by rebuilding `audit_events`, whose append-only triggers and partial indexes are made again).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 23:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

AUDIT_TAGS_0015 = (
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
    'mediated:start', 'mediated:end',
    'idp:register', 'idp:change', 'idp:identity:link', 'idp:identity:unlink',
    'account:oidc:start', 'account:oidc:verified', 'account:oidc:refused',
    'audit:report:run', 'audit:export', 'audit:subject-access', 'audit:prune',
    'load:record:change',
)
NEW_AUDIT_TAGS = ('duplicates:sweep',)


def _replace_audit_tags(tags):
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('ck_audit_events_audit_tag'), 'audit_events', type_='check')
        op.create_check_constraint('audit_tag', 'audit_events', sa.column('tag').in_(tags))
        return
    # SQLite rebuilds the table: its triggers go with it, and a rebuild would make its partial
    # indexes whole, so they are dropped first and made again as they were.
    from index_service.audit import append_only
    partial = op.get_bind().execute(sa.text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' "
        "AND sql LIKE '% WHERE %'")).all()
    append_only.drop_triggers(op.execute, 'sqlite')
    for name, _ in partial:
        op.drop_index(name, table_name='audit_events')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_events_audit_tag'), type_='check')
        batch_op.create_check_constraint('audit_tag', sa.column('tag').in_(tags))
    for _, statement in partial:
        op.execute(statement)
    append_only.create_triggers(op.execute, 'sqlite')


def upgrade():
    op.create_table('duplicate_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_child_id', sa.Integer(), nullable=False),
    sa.Column('second_child_id', sa.Integer(), nullable=False),
    sa.Column('comparison', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('open', 'merged', 'not_same', 'unmerged', name='duplicate_status', native_enum=False,
                                create_constraint=True, length=8), nullable=False),
    sa.Column('merge_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_duplicate_items_decided_by_id_users')),
    sa.ForeignKeyConstraint(['first_child_id'], ['children.id'],
                            name=op.f('fk_duplicate_items_first_child_id_children')),
    sa.ForeignKeyConstraint(['merge_id'], ['merges.id'], name=op.f('fk_duplicate_items_merge_id_merges')),
    sa.ForeignKeyConstraint(['second_child_id'], ['children.id'],
                            name=op.f('fk_duplicate_items_second_child_id_children')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_items')),
    sa.UniqueConstraint('first_child_id', 'second_child_id', name='uq_duplicate_items_first_child_id_second_child_id')
    )
    op.create_index('ix_duplicate_items_second_child_id', 'duplicate_items', ['second_child_id'], unique=False)
    op.create_index('ix_duplicate_items_status_created_at', 'duplicate_items', ['status', 'created_at'], unique=False)
    _replace_audit_tags(AUDIT_TAGS_0015 + NEW_AUDIT_TAGS)


def downgrade():
    held = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_events WHERE tag = 'duplicates:sweep'")).scalar()
    if held:
        raise RuntimeError(f"{held} audit events record duplicate sweeps; the audit trail is append-only, "
                           "so this downgrade is refused")
    _replace_audit_tags(AUDIT_TAGS_0015)
    op.drop_index('ix_duplicate_items_status_created_at', table_name='duplicate_items')
    op.drop_index('ix_duplicate_items_second_child_id', table_name='duplicate_items')
    op.drop_table('duplicate_items')
