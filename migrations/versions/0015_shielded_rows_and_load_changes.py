"""Rows on shielded records and a load's changes to each child: the load report's outcome
'shielded', and the audit tag 'load:record:change'.

Both columns are checked strings, so each check constraint is replaced. On PostgreSQL that is
done in place. SQLite cannot alter a constraint, so it rebuilds the two tables; the rebuild of
`audit_events` loses its append-only triggers and partial indexes, which are made again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 21:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ROW_OUTCOMES_0011 = ('linked', 'created', 'updated', 'unchanged', 'review', 'rejected')
NEW_ROW_OUTCOMES = ('shielded',)
AUDIT_TAGS_0011 = (
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
)
NEW_AUDIT_TAGS = ('load:record:change',)
def _replace_check(table, name, column, values):
    """A checked string column: widen (or narrow) the list of values it accepts."""
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f(f'ck_{table}_{name}'), table, type_='check')
        op.create_check_constraint(name, table, sa.column(column).in_(values))
        return
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
        batch_op.create_check_constraint(name, sa.column(column).in_(values))


def _replace_audit_tags(tags):
    if op.get_bind().dialect.name == 'postgresql':
        _replace_check('audit_events', 'audit_tag', 'tag', tags)
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
    _replace_check('audit_events', 'audit_tag', 'tag', tags)
    for _, statement in partial:
        op.execute(statement)
    append_only.create_triggers(op.execute, 'sqlite')


def upgrade():
    _replace_check('load_rows', 'row_outcome', 'outcome', ROW_OUTCOMES_0011 + NEW_ROW_OUTCOMES)
    _replace_audit_tags(AUDIT_TAGS_0011 + NEW_AUDIT_TAGS)


def downgrade():
    connection = op.get_bind()
    held = connection.execute(sa.text("SELECT count(*) FROM audit_events WHERE tag = 'load:record:change'")).scalar()
    if held:
        raise RuntimeError(f"{held} audit events record loads' changes to children; the audit trail is append-only, "
                           "so this downgrade is refused")
    shielded = connection.execute(sa.text("SELECT count(*) FROM load_rows WHERE outcome = 'shielded'")).scalar()
    if shielded:
        raise RuntimeError(f"{shielded} load report rows landed on shielded records; any other outcome would say "
                           "how they compared, so this downgrade is refused")
    _replace_audit_tags(AUDIT_TAGS_0011)
    _replace_check('load_rows', 'row_outcome', 'outcome', ROW_OUTCOMES_0011)
