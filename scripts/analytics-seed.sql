-- The demo provisioning target: the analytics database and the group roles the postgres-role connector grants.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analytics_read') THEN CREATE ROLE analytics_read NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analytics_write') THEN CREATE ROLE analytics_write NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS events (id bigserial PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL DEFAULT now());
GRANT SELECT ON events TO analytics_read;
GRANT SELECT, INSERT, UPDATE, DELETE ON events TO analytics_write;
