-- Up Migration

-- Who asked for a pulled sync (a person on demand, or the schedule): the person who asked for a held mass deactivation
-- is not the one who confirms it.
ALTER TABLE directory_syncs ADD COLUMN requested_by text;

-- Down Migration
ALTER TABLE directory_syncs DROP COLUMN requested_by;
