-- Up Migration

-- Seats of entitlements with a licence limit (catalog `seats`). One row per request that holds a seat (`held`: its
-- provisioning may start) or waits in line for one (`queued`, first come first served by `queued_at`). Rows change
-- only under the entitlement's advisory lock (activities/seats.ts), so two approvals at once cannot both count the
-- last free seat; a request's row goes when the request closes, with its claim. Live grants (`grants`) count too,
-- so a limit set on an entitlement that already has holders counts them.
CREATE TABLE seats (
  request_id text PRIMARY KEY,
  entitlement text NOT NULL,
  beneficiary text NOT NULL,
  state text NOT NULL CHECK (state IN ('held', 'queued')),
  queued_at timestamptz NOT NULL,
  seated_at timestamptz
);
CREATE INDEX seats_entitlement ON seats (entitlement, state, queued_at);

-- Down Migration
DROP TABLE seats;
