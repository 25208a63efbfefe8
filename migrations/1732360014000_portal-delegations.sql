-- Up Migration

-- Delegations people set for themselves (the portal, PUT /v1/me/delegation). Kept apart from directory_identities,
-- which each sync rewrites from its source: a row here is the person's own choice and wins over what the source says
-- (`delegate_id` null: they cleared it), until they change it again. Each change is also a row in directory_changes,
-- so readers' snapshots move on and the audit trail records it.
CREATE TABLE directory_delegations (
  identity_id text PRIMARY KEY REFERENCES directory_identities (id) ON DELETE CASCADE,
  delegate_id text REFERENCES directory_identities (id) ON DELETE CASCADE,
  until timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((delegate_id IS NULL) = (until IS NULL)),
  CHECK (delegate_id IS DISTINCT FROM identity_id)
);

-- Down Migration
DROP TABLE directory_delegations;
