-- Runs once, when the app-db volume is first initialised (as the superuser, in the grantflow database).
-- The analytics database is the demo provisioning target of the postgres-role connector; its roles and
-- table come from the same seed the embedded dev stack applies, mounted read-only at /grantflow/.
CREATE DATABASE analytics;
\connect analytics
\i /grantflow/analytics-seed.sql
