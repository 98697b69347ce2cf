-- Roles for a production PostgreSQL deployment of the Child Index, run by the database owner
-- (the role that runs `flask db upgrade`) after each upgrade:
--   psql -v ON_ERROR_STOP=1 -d childindex -f scripts/postgresql_roles.sql
-- Create the two login roles first, with passwords kept outside the repository:
--   CREATE ROLE child_index_app LOGIN;        -- the web workers and load processes
--   CREATE ROLE child_index_retention LOGIN;  -- `flask audit prune` only, from cron
-- The app's role may add audit events and checkpoints and move the chain head, and never update
-- or delete an audit row; the append-only triggers (owned by the owner, which the app's role
-- cannot drop or disable) refuse it as well.

GRANT USAGE ON SCHEMA public TO child_index_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO child_index_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO child_index_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM child_index_app;
REVOKE INSERT, DELETE, TRUNCATE ON audit_chain_head FROM child_index_app;

-- Retention: everything the app may do, and deleting events, which the trigger allows only
-- behind the signed prune checkpoint the command writes first.
GRANT child_index_app TO child_index_retention;
GRANT DELETE ON audit_events TO child_index_retention;
