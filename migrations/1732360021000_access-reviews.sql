-- Up Migration

-- One row per campaign run (an access review); the workflow keeps `status` current, the items live below.
CREATE TABLE campaigns (
  id text PRIMARY KEY,
  definition text NOT NULL,
  name text NOT NULL,
  -- the definition as the run started with it: later edits of campaigns.yaml do not change a running review
  spec jsonb NOT NULL,
  status text NOT NULL,
  started_by text NOT NULL,
  started_at timestamptz NOT NULL,
  due_at timestamptz NOT NULL,
  snapshot_at timestamptz,
  opened_at timestamptz,
  closed_at timestamptz,
  item_count integer NOT NULL DEFAULT 0,
  -- the revoke-share guard: what the default would revoke, and who confirmed (or kept) it
  guard jsonb,
  cancelled_by text,
  escalated boolean NOT NULL DEFAULT false,
  reminders_sent integer NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_started_idx ON campaigns (started_at DESC, id DESC);

-- One row per reviewed grant: never in the workflow's history, so a campaign of 10,000 grants stays small there.
CREATE TABLE campaign_items (
  id bigserial PRIMARY KEY,
  campaign_id text NOT NULL REFERENCES campaigns (id),
  request_id text NOT NULL,
  holder text NOT NULL,
  entitlement text NOT NULL,
  resource text NOT NULL,
  privileged boolean NOT NULL,
  granted_at timestamptz NOT NULL,
  -- who the rule named, who may decide (delegates included), and who escalation adds
  assigned text[] NOT NULL,
  reviewers text[] NOT NULL,
  fallback text[] NOT NULL,
  recommendation text NOT NULL CHECK (recommendation IN ('keep', 'revoke')),
  reasons jsonb NOT NULL DEFAULT '[]',
  decision text CHECK (decision IN ('keep', 'revoke')),
  decided_by text,
  decided_at timestamptz,
  comment text,
  -- `reviewer`, or `default` when nobody answered by the due date
  decision_source text CHECK (decision_source IN ('reviewer', 'default')),
  decision_seq bigint,
  -- `failed`: the request's workflow refused the revoke (the reason in `failure`); security follows up
  outcome text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'kept', 'revoked', 'grant_ended', 'failed')),
  failure text,
  applied_at timestamptz,
  applied_seq bigint,
  UNIQUE (campaign_id, request_id)
);
CREATE INDEX campaign_items_reviewers_idx ON campaign_items USING gin (reviewers);
CREATE INDEX campaign_items_open_idx ON campaign_items (campaign_id, id) WHERE outcome = 'pending';

-- Down Migration
DROP TABLE campaign_items;
DROP TABLE campaigns;
