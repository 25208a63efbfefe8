-- Up Migration

-- One row per notification key: a retried notify activity finds its row and does not send again.
CREATE TABLE notifications (
  key text PRIMARY KEY,
  request_id text,
  recipients text[] NOT NULL DEFAULT '{}',
  subject text NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_request_idx ON notifications (request_id);

-- Down Migration
DROP TABLE notifications;
