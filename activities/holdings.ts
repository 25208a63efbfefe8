import type pg from 'pg';
import { FINAL_STATUSES, type Holding, type Status } from '../domain/model';

/** A pool or a client inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

/**
 * The other requests of a circle of beneficiaries (a person and the service accounts they own) that hold or await an
 * entitlement: open requests past validation, requests that claimed during validation, and live grants (whatever
 * their request's state says).
 */
export async function loadHoldings(
  client: Queryable,
  beneficiaries: readonly string[],
  requestId: string,
): Promise<Holding[]> {
  const { rows } = await client.query<{
    request_id: string;
    beneficiary: string;
    entitlement: string;
    status: Status;
    break_glass: boolean;
  }>(
    `SELECT r.id AS request_id, r.beneficiary, r.entitlement, r.status, r.break_glass
       FROM requests r
      WHERE r.beneficiary = ANY($1::text[]) AND r.id <> $2 AND NOT (r.status = ANY($3::text[]))
        AND (r.status <> 'validating' OR EXISTS (SELECT 1 FROM open_claims c WHERE c.request_id = r.id))
     UNION ALL
     SELECT c.request_id, c.beneficiary, c.entitlement, 'validating', false
       FROM open_claims c
      WHERE c.beneficiary = ANY($1::text[]) AND c.request_id <> $2
        AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = c.request_id)
     UNION ALL
     SELECT g.request_id, g.beneficiary, g.entitlement, 'active', COALESCE(r.break_glass, false)
       FROM grants g LEFT JOIN requests r ON r.id = g.request_id
      WHERE g.beneficiary = ANY($1::text[]) AND g.request_id <> $2 AND g.ended_at IS NULL`,
    [beneficiaries, requestId, FINAL_STATUSES],
  );
  // A request listed twice (open and with a live grant) counts once, as live.
  const byRequest = new Map<string, Holding>();
  for (const row of rows) {
    byRequest.set(row.request_id, {
      requestId: row.request_id,
      beneficiary: row.beneficiary,
      entitlement: row.entitlement,
      status: row.status,
      breakGlass: row.break_glass,
    });
  }
  return [...byRequest.values()];
}

export async function hasHeldResource(
  client: Queryable,
  beneficiary: string,
  resource: string,
  requestId: string,
): Promise<boolean> {
  const { rows } = await client.query<{ held: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM grants WHERE beneficiary = $1 AND split_part(entitlement, ':', 1) = $2 AND request_id <> $3
     ) AS held`,
    [beneficiary, resource, requestId],
  );
  return rows[0]?.held === true;
}
