import { hasHeldResource, loadHoldings } from '../activities/holdings';
import type pg from 'pg';
import type { Holding, Status } from '../domain';
import { inTransaction } from '../activities/transaction';
import type { RequestView } from '../workflows/messages';
import type { Caller, RequestSubject } from './caller';
import { Problem } from './problem';
import { CURSOR, type ListQuery, type RequestSummary } from './schemas';

/** The API's reads and writes of the `requests` projection (the workflow keeps the rest of each row current). */
export function createRequestStore(pool: pg.Pool) {
  /**
   * Claims the request's row before its workflow starts. With an Idempotency-Key the row is unique per requester and
   * key, so a retry finds the first attempt's id; a different body under the same key is refused.
   */
  async function claim(s: Submission): Promise<{ id: string; submittedAt: string; replay: boolean }> {
    return inTransaction(pool, async (client) => {
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO requests (id, requester, beneficiary, entitlement, resource, status, justification, break_glass,
                               idempotency_key, body_hash, submitted_at)
         VALUES ($1, $2, $3, $4, $5, 'validating', $6, $7, $8, $9, $10)
         ON CONFLICT (requester, idempotency_key) DO NOTHING
         RETURNING id`,
        [
          s.id,
          s.requester,
          s.beneficiary,
          s.entitlement,
          s.resource,
          s.justification,
          s.breakGlass,
          s.idempotencyKey ?? null,
          s.bodyHash,
          s.submittedAt,
        ],
      );
      if (inserted.rowCount === 1) return { id: s.id, submittedAt: s.submittedAt, replay: false };
      const { rows } = await client.query<{ id: string; body_hash: string | null; submitted_at: Date }>(
        'SELECT id, body_hash, submitted_at FROM requests WHERE requester = $1 AND idempotency_key = $2',
        [s.requester, s.idempotencyKey],
      );
      const first = rows[0];
      if (!first) throw new Error('idempotency conflict without a row');
      if (first.body_hash !== s.bodyHash) {
        throw new Problem(
          'idempotency-key-reused',
          `Idempotency-Key "${s.idempotencyKey}" was already used for request ${first.id} with a different body; ` +
            'use a new key for a new request.',
          { existingRequestId: first.id },
        );
      }
      return { id: first.id, submittedAt: first.submitted_at.toISOString(), replay: true };
    });
  }

  /** Forgets a claimed row whose workflow never started (and which no key can be retried under). */
  async function release(id: string): Promise<void> {
    await pool.query('DELETE FROM requests WHERE id = $1 AND revision = 0', [id]);
  }

  async function subject(id: string): Promise<(RequestSubject & { status: Status; view?: RequestView }) | undefined> {
    const { rows } = await pool.query<{
      requester: string;
      beneficiary: string;
      involved: string[];
      status: Status;
      view: RequestView | null;
    }>('SELECT requester, beneficiary, involved, status, view FROM requests WHERE id = $1', [id]);
    const row = rows[0];
    if (!row) return undefined;
    return {
      requester: row.requester,
      beneficiary: row.beneficiary,
      involved: row.involved,
      status: row.status,
      ...(row.view && { view: row.view }),
    };
  }

  /** Requests the caller may see, newest first, a page at a time. */
  async function list(
    caller: Caller,
    q: ListQuery & { pendingFor?: string },
  ): Promise<{ items: RequestSummary[]; next?: string }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const bind = (value: unknown) => `$${params.push(value)}`;
    if (!caller.seesAll) {
      where.push(
        `(requester = ${bind(caller.id)} OR beneficiary = ANY(${bind(caller.own)}::text[]) OR ${bind(caller.id)} = ANY(involved))`,
      );
    }
    if (q.mine) where.push(`(requester = ${bind(caller.id)} OR beneficiary = ANY(${bind(caller.own)}::text[]))`);
    if (q.pendingFor !== undefined) where.push(`${bind(q.pendingFor)} = ANY(pending_approvers)`);
    if (q.status) where.push(`status = ANY(${bind(q.status)}::text[])`);
    if (q.resource !== undefined) where.push(`resource = ${bind(q.resource)}`);
    if (q.entitlement !== undefined) where.push(`entitlement = ${bind(q.entitlement)}`);
    if (q.beneficiary !== undefined) where.push(`beneficiary = ${bind(q.beneficiary)}`);
    if (q.type !== undefined) where.push(`view->'tags'->>'type' = ${bind(q.type)}`);
    if (q.tag !== undefined) where.push(`tags @> ARRAY[${bind(q.tag)}]::text[]`);
    if (q.cursor !== undefined) {
      const [micros, id] = decodeCursor(q.cursor);
      where.push(
        `(submitted_at, id) < ('epoch'::timestamptz + ${bind(micros)}::bigint * interval '1 microsecond', ${bind(id)})`,
      );
    }
    const { rows } = await pool.query<SummaryRow>(
      `SELECT id, requester, beneficiary, entitlement, resource, status, break_glass, review_state, risk_level,
              pending_approvers, submitted_at, updated_at, expires_at, view->'tags'->>'type' AS type,
              ((extract(epoch FROM submitted_at) * 1000000)::bigint)::text AS cursor_at
         FROM requests
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY submitted_at DESC, id DESC
        LIMIT ${bind(q.limit + 1)}`,
      params,
    );
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      items: page.map(toSummary),
      ...(rows.length > q.limit && last && { next: encodeCursor(last.cursor_at, last.id) }),
    };
  }

  /** The policy's facts about the beneficiary, read as the evaluateRequest activity reads them. */
  async function holdings(
    beneficiary: string,
    circle: readonly string[],
    resource: string,
  ): Promise<{ holdings: Holding[]; heldResourceBefore: boolean }> {
    // No request of this preview exists yet: nothing to leave out.
    const [held, heldResourceBefore] = await Promise.all([
      loadHoldings(pool, circle, ''),
      hasHeldResource(pool, beneficiary, resource, ''),
    ]);
    return { holdings: held, heldResourceBefore };
  }

  return { claim, release, subject, list, holdings };
}
export type RequestStore = ReturnType<typeof createRequestStore>;

export interface Submission {
  id: string;
  requester: string;
  beneficiary: string;
  entitlement: string;
  resource: string;
  justification: string;
  breakGlass: boolean;
  idempotencyKey?: string;
  bodyHash: string;
  submittedAt: string;
}

interface SummaryRow {
  id: string;
  requester: string;
  beneficiary: string;
  entitlement: string;
  resource: string;
  status: Status;
  break_glass: boolean;
  review_state: RequestSummary['reviewState'] | null;
  risk_level: RequestSummary['riskLevel'] | null;
  pending_approvers: string[];
  submitted_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  type: RequestSummary['type'] | null;
  cursor_at: string;
}

function toSummary(r: SummaryRow): RequestSummary {
  return {
    id: r.id,
    requester: r.requester,
    beneficiary: r.beneficiary,
    entitlement: r.entitlement,
    resource: r.resource,
    status: r.status,
    breakGlass: r.break_glass,
    ...(r.review_state && { reviewState: r.review_state }),
    ...(r.risk_level && { riskLevel: r.risk_level }),
    ...(r.type && { type: r.type }),
    pendingApprovers: r.pending_approvers,
    submittedAt: r.submitted_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    ...(r.expires_at && { expiresAt: r.expires_at.toISOString() }),
  };
}

// The cursor is the last row's position (see CURSOR in schemas.ts), so no row is skipped or repeated.
function encodeCursor(micros: string, id: string): string {
  return `${micros}~${id}`;
}

function decodeCursor(cursor: string): [string, string] {
  const m = CURSOR.exec(cursor);
  if (m?.[1] && m[2]) return [m[1], m[2]];
  throw new Problem('validation', 'The cursor is not one this API gave out.', {
    errors: [{ field: 'cursor', message: 'is not a valid cursor' }],
  });
}
