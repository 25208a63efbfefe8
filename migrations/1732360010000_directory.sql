-- Up Migration

-- The directory as the sources (YAML, SCIM, LDAP) last reported it. `source_ref` is the source's own handle (the id
-- for YAML, the SCIM resource id, the LDAP DN); managers and owners point at it, so a rename at the source keeps them.
CREATE TABLE directory_identities (
  id text PRIMARY KEY,
  source text NOT NULL CHECK (source IN ('yaml', 'scim', 'ldap')),
  source_ref text NOT NULL,
  external_id text,
  user_name text NOT NULL,
  name text NOT NULL,
  email text,
  department text,
  manager_ref text,
  kind text NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'service')),
  owner_ref text,
  active boolean NOT NULL DEFAULT true,
  delegation_to text,
  delegation_until timestamptz,
  -- The resource as the source sent it (SCIM name, emails, …), so reads give back what was written.
  attributes jsonb NOT NULL DEFAULT '{}',
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, source_ref)
);
CREATE UNIQUE INDEX directory_identities_user_name_idx ON directory_identities (source, lower(user_name)) WHERE NOT deleted;

CREATE TABLE directory_groups (
  id text PRIMARY KEY,
  source text NOT NULL CHECK (source IN ('yaml', 'scim', 'ldap')),
  source_ref text NOT NULL,
  external_id text,
  display_name text NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, source_ref)
);

CREATE TABLE directory_memberships (
  group_id text NOT NULL REFERENCES directory_groups (id) ON DELETE CASCADE,
  identity_id text NOT NULL REFERENCES directory_identities (id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, identity_id)
);
CREATE INDEX directory_memberships_identity_idx ON directory_memberships (identity_id);

-- One row per change: the version readers compare to know whether their snapshot is current.
CREATE TABLE directory_changes (
  version bigserial PRIMARY KEY,
  source text NOT NULL,
  actor text NOT NULL,
  subject_kind text NOT NULL CHECK (subject_kind IN ('identity', 'group')),
  subject_id text NOT NULL,
  change text NOT NULL CHECK (change IN ('created', 'updated', 'deactivated', 'reactivated', 'deleted')),
  before jsonb,
  after jsonb,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX directory_changes_subject_idx ON directory_changes (subject_kind, subject_id);

-- Bearer tokens of identity providers pushing over SCIM: only a SHA-256 of each is kept.
CREATE TABLE scim_tokens (
  token_hash text PRIMARY KEY,
  provider text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX scim_tokens_provider_idx ON scim_tokens (provider);

-- Each LDAP (or other pulled) sync: its diff, and whether it was applied, refused or waits for security.
CREATE TABLE directory_syncs (
  id text PRIMARY KEY,
  source text NOT NULL,
  status text NOT NULL CHECK (status IN ('applied', 'dry_run', 'failed', 'awaiting_confirmation', 'confirmed', 'superseded')),
  diff jsonb,
  error text,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  confirmed_by text
);

-- Down Migration
DROP TABLE directory_syncs;
DROP TABLE scim_tokens;
DROP TABLE directory_changes;
DROP TABLE directory_memberships;
DROP TABLE directory_groups;
DROP TABLE directory_identities;
