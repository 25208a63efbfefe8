-- Up Migration

-- One row per lifecycle event of an identity and the workflow started for it: a leaver (deactivated, or deleted while
-- active) gets an offboarding, a mover (manager or department changed) a re-certification. The directory version makes
-- the event unique, so a repeated change or a second dispatcher starts nothing twice.
CREATE TABLE lifecycle_runs (
  workflow_id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('leaver', 'mover')),
  identity_id text NOT NULL,
  directory_version bigint NOT NULL,
  source text NOT NULL,
  change text NOT NULL CHECK (change IN ('deactivated', 'deleted', 'updated')),
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'stopped')),
  -- What the workflow did: the requests it ended or flagged and how, the approvals that need rerouting.
  summary jsonb,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  UNIQUE (kind, directory_version)
);
CREATE INDEX lifecycle_runs_identity_idx ON lifecycle_runs (identity_id);
-- The dispatcher looks for identity changes that have no run yet; only these rows matter to it.
CREATE INDEX directory_changes_lifecycle_idx ON directory_changes (version)
  WHERE subject_kind = 'identity' AND change IN ('deactivated', 'deleted', 'updated');

-- Down Migration
DROP INDEX directory_changes_lifecycle_idx;
DROP TABLE lifecycle_runs;
