-- Up Migration

-- The notification outbox: the request workflow's bookkeeping writes a notification with its audit events and its
-- projection row in one transaction, unsent (sent_at NULL) when a chat webhook will carry it, and sends it after the
-- commit. Rows written by the per-notification path keep their default (sent as written).
ALTER TABLE notifications ADD COLUMN body text;
ALTER TABLE notifications ALTER COLUMN sent_at DROP NOT NULL;
CREATE INDEX notifications_unsent_idx ON notifications (key) WHERE sent_at IS NULL;

-- Down Migration
DROP INDEX notifications_unsent_idx;
UPDATE notifications SET sent_at = now() WHERE sent_at IS NULL;
ALTER TABLE notifications ALTER COLUMN sent_at SET NOT NULL;
ALTER TABLE notifications DROP COLUMN body;
