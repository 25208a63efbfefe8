-- Up Migration

-- Who is changing one beneficiary's entitlement at its target right now. A grant and a revoke of the same access
-- must not overlap (a revoke counted before a new grant would remove it), but neither may hold a PostgreSQL
-- transaction across a slow remote call: ten slow webhooks would hold ten of the worker's connections. So the
-- caller takes this lease in one short statement, calls the target without a transaction, and gives it back.
-- A lease outlives a crashed holder only until `lease_until` (longer than an activity attempt may run).
CREATE TABLE connector_leases (
  beneficiary text NOT NULL,
  entitlement text NOT NULL,
  request_id text NOT NULL,
  operation text NOT NULL CHECK (operation IN ('grant', 'revoke')),
  lease_until timestamptz NOT NULL,
  PRIMARY KEY (beneficiary, entitlement)
);

-- Down Migration
DROP TABLE connector_leases;
