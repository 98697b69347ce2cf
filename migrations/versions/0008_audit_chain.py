"""The audit trail as a hash chain: positions and hashes, the chain head, signed checkpoints,
append-only triggers, and the tags of auditors' reports, exports, subject access and retention.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:30:00.000000

"""
from datetime import timezone

from alembic import op
import sqlalchemy as sa
from flask import current_app

from index_service.audit import append_only, canonical


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

AUDIT_TAGS_0007 = (
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
)
NEW_AUDIT_TAGS = ('audit:report:run', 'audit:export', 'audit:subject-access', 'audit:prune')
# The columns the hash covered at this revision (later ones are added to canonical.HASHED_FIELDS,
# and do not exist yet here; left out of the content, they leave these hashes unchanged).
HASHED_AT_0008 = ('chain_position', 'client_address', 'details', 'occurred_at', 'on_behalf_of_name',
                  'on_behalf_of_organisation', 'organisation_id', 'outcome', 'reason', 'tag', 'target_ids',
                  'user_agent', 'user_id')


def _replace_audit_tags(tags):
    """The tag column is a checked string: widen (or narrow) the list of values it accepts."""
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_events_audit_tag'), type_='check')
        batch_op.create_check_constraint('audit_tag', sa.column('tag').in_(tags))


def _chain_existing_events(connection):
    """Events written before the chain existed join it in the order they were written, JSON made canonical."""
    typed = {'target_ids': sa.JSON, 'details': sa.JSON, 'occurred_at': sa.DateTime(timezone=True)}
    events = sa.table(
        'audit_events', sa.column('id'), sa.column('chain_position'), sa.column('previous_hash'),
        sa.column('event_hash'),
        *(sa.column(name, typed.get(name)) for name in HASHED_AT_0008 if name != 'chain_position'),
    )
    rows = connection.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    previous, position = canonical.GENESIS_HASH, 0
    for row in rows:
        position += 1
        values = dict(row, chain_position=position)
        occurred = values['occurred_at']
        values['occurred_at'] = occurred.replace(tzinfo=timezone.utc) if occurred.tzinfo is None else occurred
        previous_hash, previous = previous, canonical.event_hash(previous, canonical.content_of(values))
        connection.execute(
            events.update().where(events.c.id == row['id']).values(
                chain_position=position, previous_hash=previous_hash, event_hash=previous,
                # Written again through the app's engine, whose JSON serialiser is the canonical one.
                target_ids=row['target_ids'], details=row['details'],
            )
        )
    return position, previous


def upgrade():
    _replace_audit_tags(AUDIT_TAGS_0007 + NEW_AUDIT_TAGS)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_position', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('previous_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('event_hash', sa.String(length=64), nullable=True))

    connection = op.get_bind()
    position, last_hash = _chain_existing_events(connection)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain_position', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('previous_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('event_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_chain_position'), ['chain_position'])
        batch_op.create_index('ix_audit_events_organisation_id_occurred_at', ['organisation_id', 'occurred_at'],
                              unique=False)

    head = op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('event_hash', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('periodic', 'prune', name='checkpoint_kind', native_enum=False, create_constraint=True, length=8), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('event_hash', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index('ix_audit_checkpoints_kind_position', ['kind', 'position'], unique=False)

    key = current_app.config['AUDIT_CHECKPOINT_KEY'].encode()
    op.bulk_insert(head, [{'id': 1, 'position': position, 'event_hash': last_hash,
                           'signature': canonical.signature(key, 'head', position, last_hash)}])
    append_only.create_triggers(op.execute, connection.dialect.name)


def downgrade():
    append_only.drop_triggers(op.execute, op.get_bind().dialect.name)
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_checkpoints_kind_position')
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_chain_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_organisation_id_occurred_at')
        batch_op.drop_constraint(batch_op.f('uq_audit_events_chain_position'), type_='unique')
        batch_op.drop_column('event_hash')
        batch_op.drop_column('previous_hash')
        batch_op.drop_column('chain_position')
    op.execute(sa.text("DELETE FROM audit_events WHERE tag IN :tags").bindparams(sa.bindparam("tags", expanding=True)).params(tags=list(NEW_AUDIT_TAGS)))
    _replace_audit_tags(AUDIT_TAGS_0007)
