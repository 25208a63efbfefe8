-- Up Migration

-- One row per leave event (an identity deactivated, or deleted while active): the offboarding workflow started for it.
-- The directory version makes the event unique, so a repeated deactivation or a second dispatcher starts nothing twice.
CREATE TABLE offboardings (
  workflow_id text PRIMARY KEY,
  identity_id text NOT NULL,
  directory_version bigint NOT NULL UNIQUE,
  source text NOT NULL,
  change text NOT NULL CHECK (change IN ('deactivated', 'deleted')),
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'stopped')),
  -- What the workflow did: the requests it ended and how, the approvals that need rerouting, the service accounts.
  summary jsonb,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX offboardings_identity_idx ON offboardings (identity_id);
-- The dispatcher looks for leave events that have no offboarding yet; only these rows matter to it.
CREATE INDEX directory_changes_leave_idx ON directory_changes (version)
  WHERE subject_kind = 'identity' AND change IN ('deactivated', 'deleted');

-- Down Migration
DROP INDEX directory_changes_leave_idx;
DROP TABLE offboardings;
