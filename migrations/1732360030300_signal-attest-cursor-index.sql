-- Up Migration

-- The signal attestation's cursor (activities/signal-attest.ts) is the newest attested trail event,
-- max((data->>'sourceSeq')::bigint) over the `signal_attested` events. The worker reads it every minute: without
-- this index that was a scan of the whole audit trail, which only grows.
CREATE INDEX audit_events_signal_attested_source_seq
  ON audit_events (((data->>'sourceSeq')::bigint))
  WHERE action = 'signal_attested';

-- Down Migration
DROP INDEX audit_events_signal_attested_source_seq;
