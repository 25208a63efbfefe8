-- Up Migration

-- An identity's time zone (IANA, e.g. Europe/Berlin) as the directory gives it: SCIM's core `timezone`, an LDAP
-- attribute the settings name, the YAML `timeZone`. Business-hours SLAs and reminders count each approver's own
-- working day in it; absent, the policy calendar's zone.
ALTER TABLE directory_identities ADD COLUMN time_zone text;

-- Down Migration
ALTER TABLE directory_identities DROP COLUMN time_zone;
