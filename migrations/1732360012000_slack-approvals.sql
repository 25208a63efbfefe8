-- Up Migration

-- One Slack message per request and approver, updated in place as the request moves (chat.update needs channel + ts).
CREATE TABLE slack_messages (
  request_id text NOT NULL,
  user_id text NOT NULL,
  slack_user text NOT NULL,
  channel text NOT NULL,
  ts text NOT NULL,
  PRIMARY KEY (request_id, user_id)
);

-- The projection revision each request's messages were last brought to.
CREATE TABLE slack_sync (
  request_id text PRIMARY KEY,
  revision integer NOT NULL
);

-- Signatures of interactive requests already handled: a replay inside Slack's 5-minute window is refused.
CREATE TABLE slack_deliveries (
  signature text PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_deliveries_received_idx ON slack_deliveries (received_at);

-- Down Migration
DROP TABLE slack_deliveries;
DROP TABLE slack_sync;
DROP TABLE slack_messages;
