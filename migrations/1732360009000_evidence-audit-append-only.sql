-- Up Migration

-- Evidence nobody can rewrite (issue 9), at the database: the audit table refuses UPDATE, DELETE and TRUNCATE for
-- everyone (a trigger), and the application's role is not even granted them (least privilege; the trigger is the
-- second line should someone grant them back). Only a superuser can get past both, and the keyed chain and the
-- signed checkpoints kept outside the database catch what they then change.

-- Each event's HMAC (keyed with a secret that is never stored here) and the id of the key that made it, so keys can
-- rotate. Events written before this migration keep NULL: verify accepts them only as the chain's unkeyed prefix.
ALTER TABLE audit_events ADD COLUMN key_id text;
ALTER TABLE audit_events ADD COLUMN mac text;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_keyed_check CHECK ((key_id IS NULL) = (mac IS NULL));

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rule audit_events_append_only: audit events are append-only; % on %.% is refused',
    TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Evidence is never changed or removed: append a new event that corrects or annuls an earlier one.';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_append_only_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The role the API and the worker log in as. Created without LOGIN: the deployment gives it a password
-- (`ALTER ROLE grantflow_app LOGIN PASSWORD '…'`) or grants it to a login role of its own; the embedded default and
-- the test stack do the former (scripts/stack.ts). Roles are per cluster, so another database may have made it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grantflow_app') THEN
    CREATE ROLE grantflow_app NOLOGIN;
  END IF;
END;
$$;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO grantflow_app', current_database());
END;
$$;
GRANT USAGE ON SCHEMA public TO grantflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO grantflow_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO grantflow_app;
-- Tables later migrations create (as the same owner) are the application's to use as well, the audit table excepted.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO grantflow_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO grantflow_app;
-- The migrations' own bookkeeping is the owner's alone.
REVOKE ALL ON pgmigrations FROM grantflow_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM grantflow_app;

-- Down Migration
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM grantflow_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM grantflow_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM grantflow_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM grantflow_app;
REVOKE USAGE ON SCHEMA public FROM grantflow_app;
DROP TRIGGER audit_events_append_only_truncate ON audit_events;
DROP TRIGGER audit_events_append_only ON audit_events;
DROP FUNCTION audit_events_append_only();
ALTER TABLE audit_events DROP CONSTRAINT audit_events_keyed_check;
ALTER TABLE audit_events DROP COLUMN mac;
ALTER TABLE audit_events DROP COLUMN key_id;
