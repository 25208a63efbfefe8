-- Up Migration

-- The projection of each request, kept current by the workflow: lists, the inbox and KPIs are SQL.
CREATE TABLE requests (
  id text PRIMARY KEY,
  requester text NOT NULL,
  beneficiary text NOT NULL,
  entitlement text NOT NULL,
  resource text NOT NULL,
  break_glass boolean NOT NULL DEFAULT false,
  status text NOT NULL,
  review_state text,
  risk_level text,
  risk_score integer,
  justification text NOT NULL,
  -- who may decide now, and everyone who ever could (they keep seeing the request)
  pending_approvers text[] NOT NULL DEFAULT '{}',
  involved text[] NOT NULL DEFAULT '{}',
  idempotency_key text,
  body_hash text,
  submitted_at timestamptz NOT NULL DEFAULT now(),
  first_decision_at timestamptz,
  approved_at timestamptz,
  started_at timestamptz,
  expires_at timestamptz,
  ended_at timestamptz,
  escalated boolean NOT NULL DEFAULT false,
  auto_approved boolean NOT NULL DEFAULT false,
  -- the workflow's projection sequence: an older write never overwrites a newer one
  revision integer NOT NULL DEFAULT 0,
  view jsonb,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (requester, idempotency_key)
);
CREATE INDEX requests_status_idx ON requests (status);
CREATE INDEX requests_pending_idx ON requests USING gin (pending_approvers);
CREATE INDEX requests_involved_idx ON requests USING gin (involved);
CREATE INDEX requests_beneficiary_idx ON requests (beneficiary);
CREATE INDEX requests_submitted_idx ON requests (submitted_at DESC, id DESC);

-- At most one open (pending or live) regular request per beneficiary and entitlement, held atomically.
CREATE TABLE open_claims (
  beneficiary text NOT NULL,
  entitlement text NOT NULL,
  request_id text NOT NULL,
  PRIMARY KEY (beneficiary, entitlement)
);

-- Live grants, counted: a target is revoked only when the last grant holding it ends.
CREATE TABLE grants (
  request_id text PRIMARY KEY,
  beneficiary text NOT NULL,
  entitlement text NOT NULL,
  connector text NOT NULL,
  started_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  ended_at timestamptz
);
CREATE INDEX grants_live_idx ON grants (beneficiary, entitlement) WHERE ended_at IS NULL;

-- Append-only, hash-chained audit trail. event_id makes every write idempotent per step.
CREATE TABLE audit_events (
  seq bigserial PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  request_id text,
  actor text NOT NULL,
  action text NOT NULL,
  at timestamptz NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_events_request_idx ON audit_events (request_id);
CREATE INDEX audit_events_at_idx ON audit_events (at);

-- Down Migration
DROP TABLE audit_events;
DROP TABLE grants;
DROP TABLE open_claims;
DROP TABLE requests;
