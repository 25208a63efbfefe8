-- Up Migration

-- The write rate limit, shared by every API instance (api/rate-limit.ts): one row per caller and window, in the
-- layout of rate-limiter-flexible's PostgreSQL store (key, points used, window end in epoch milliseconds). The app
-- role gets SELECT, INSERT, UPDATE and DELETE through the default privileges; DELETE clears windows long expired.
CREATE TABLE rate_limits (
  key varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);

-- Down Migration
DROP TABLE rate_limits;
