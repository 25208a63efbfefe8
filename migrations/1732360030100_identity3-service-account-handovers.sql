-- Up Migration

-- A leaver's service account handed to a new owner by the offboarding (the leaver's manager, or security). The
-- directory source still names the leaver until someone edits it there, so this is an overlay the directory view
-- applies while the source's owner is the departed `previous_owner`: once the source names anyone else, it wins again.
-- `review_campaign` is the one-off access review of the account's live grants the handover opened.
CREATE TABLE service_account_handovers (
  account_id text PRIMARY KEY,
  owner_id text NOT NULL,
  previous_owner text NOT NULL,
  offboarding_id text NOT NULL,
  review_campaign text,
  grants integer NOT NULL DEFAULT 0,
  seq bigserial NOT NULL,
  handed_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE service_account_handovers;
