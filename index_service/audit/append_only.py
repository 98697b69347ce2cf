"""The triggers that make the audit tables append-only, on SQLite and PostgreSQL.

Made by the migrations (which import this module, so that a later migration that rebuilds
`audit_events` on SQLite, as Alembic's batch mode does, can make them again). Updates are
refused always. Deletes are refused too, except of events at or before the latest prune
checkpoint: retention (`flask audit prune`) writes that signed checkpoint first, in the same
transaction, and `audit verify` checks its signature, so a forged one is caught.

On PostgreSQL a production deployment also gives the application's role no UPDATE or DELETE
on these tables (docs/operations.md, PostgreSQL roles); the triggers hold even for a role that has them.
"""

from __future__ import annotations

from collections.abc import Callable

APPEND_ONLY_TABLES = ("audit_events", "audit_checkpoints")
_PRUNED_THROUGH = "(SELECT coalesce(max(position), 0) FROM audit_checkpoints WHERE kind = 'prune')"

SQLITE_CREATE = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    f"WHEN OLD.chain_position > {_PRUNED_THROUGH} "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only; only audit prune removes them'); END",
    "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "
    "BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END",
    "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "
    "BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END",
)
SQLITE_DROP = tuple(
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "audit_events_no_update",
        "audit_events_no_delete",
        "audit_checkpoints_no_update",
        "audit_checkpoints_no_delete",
    )
)

POSTGRESQL_CREATE = (
    f"""CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.chain_position <= {_PRUNED_THROUGH} THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only; only audit prune removes them'
        USING ERRCODE = 'insufficient_privilege';
END $$""",
    """CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only' USING ERRCODE = 'insufficient_privilege';
END $$""",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints "
    "FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only()",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_checkpoints_append_only()",
    "DROP FUNCTION IF EXISTS audit_events_append_only()",
)


def create_statements(dialect: str) -> tuple[str, ...]:
    return POSTGRESQL_CREATE if dialect == "postgresql" else SQLITE_CREATE


def drop_statements(dialect: str) -> tuple[str, ...]:
    return POSTGRESQL_DROP if dialect == "postgresql" else SQLITE_DROP


def create_triggers(execute: Callable[[str], object], dialect: str) -> None:
    for statement in create_statements(dialect):
        execute(statement)


def drop_triggers(execute: Callable[[str], object], dialect: str) -> None:
    for statement in drop_statements(dialect):
        execute(statement)
