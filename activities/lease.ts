import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import type { GrantSpec } from '../domain';

/** Longer than one connector attempt may run (the activities' start-to-close timeout is 60 s). */
const LEASE_MS = 90_000;

/**
 * Runs `fn` (a call to the target) holding the lease on the grant's beneficiary and entitlement, without a
 * transaction or a pooled connection held across it (migrations/1732360020500_request-connector-leases.sql says
 * why). Another request's operation in progress makes this attempt fail as retryable (`ConnectorBusy`): the
 * activity's retry policy waits for it. The same request takes its own lease again, so a retry after a crash
 * does not wait for itself.
 */
export async function withConnectorLease<T>(
  pool: pg.Pool,
  grant: GrantSpec,
  requestId: string,
  operation: 'grant' | 'revoke',
  fn: () => Promise<T>,
): Promise<T> {
  const { rows } = await pool.query<{ request_id: string }>(
    `INSERT INTO connector_leases (beneficiary, entitlement, request_id, operation, lease_until)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
     ON CONFLICT (beneficiary, entitlement) DO UPDATE
       SET request_id = EXCLUDED.request_id, operation = EXCLUDED.operation, lease_until = EXCLUDED.lease_until
       WHERE connector_leases.lease_until < now() OR connector_leases.request_id = EXCLUDED.request_id
     RETURNING request_id`,
    [grant.beneficiary, grant.entitlement, requestId, operation, LEASE_MS / 1000],
  );
  if (rows.length === 0) {
    throw ApplicationFailure.retryable(
      `Another request is changing ${grant.entitlement} for ${grant.beneficiary} at the target; trying again.`,
      'ConnectorBusy',
    );
  }
  try {
    return await fn();
  } finally {
    await pool
      .query('DELETE FROM connector_leases WHERE beneficiary = $1 AND entitlement = $2 AND request_id = $3', [
        grant.beneficiary,
        grant.entitlement,
        requestId,
      ])
      .catch(() => undefined); // an unreleased lease expires at lease_until
  }
}
