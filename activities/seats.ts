import type pg from 'pg';
import type { Config } from '../domain/config';
import { FINAL_STATUSES } from '../domain/model';
import { decideSeat, seatsUsed, type QueuedRequest, type SeatDecision, type SeatHolder } from '../domain/seats';
import type { Queryable } from './holdings';
import { inTransaction, lockName } from './transaction';

export interface SeatInput {
  requestId: string;
  beneficiary: string;
  entitlement: string;
  breakGlass: boolean;
  /** When the request joined the line (its approval, ISO-8601); a request already in line keeps its first time. */
  since: string;
  limit: number;
  whenFull: 'queue' | 'refuse';
}

/** What one entitlement's seats look like now: for the KPIs. */
export interface SeatUse {
  entitlement: string;
  limit: number;
  whenFull: 'queue' | 'refuse';
  used: number;
  queued: number;
}

function seatLock(entitlement: string): string {
  return `grantflow:seats:${entitlement}`;
}

/**
 * Who holds a seat of the entitlement and who waits, read inside the entitlement's lock. Holders are the requests
 * with a seat (from the moment their provisioning may start until they close) and every live grant, so a limit put
 * on an entitlement that already has holders counts them. A row left by a request that has ended without closing
 * (its workflow was terminated) holds nothing: its projection shows the end.
 */
async function seatState(
  client: Queryable,
  entitlement: string,
): Promise<{ holders: SeatHolder[]; queue: QueuedRequest[] }> {
  const { rows } = await client.query<{
    request_id: string;
    beneficiary: string;
    state: 'held' | 'queued' | 'granted';
    queued_at: Date;
  }>(
    `SELECT s.request_id, s.beneficiary, s.state, s.queued_at
       FROM seats s LEFT JOIN requests r ON r.id = s.request_id
      WHERE s.entitlement = $1 AND (r.status IS NULL OR NOT (r.status = ANY($2::text[])))
     UNION ALL
     SELECT g.request_id, g.beneficiary, 'granted', g.started_at
       FROM grants g
      WHERE g.entitlement = $1 AND g.ended_at IS NULL`,
    [entitlement, FINAL_STATUSES],
  );
  const holders: SeatHolder[] = [];
  const queue: QueuedRequest[] = [];
  for (const row of rows) {
    if (row.state === 'queued') {
      queue.push({ requestId: row.request_id, beneficiary: row.beneficiary, since: row.queued_at.toISOString() });
    } else {
      holders.push({ requestId: row.request_id, beneficiary: row.beneficiary, status: 'active' });
    }
  }
  return { holders, queue };
}

/**
 * Asks for a seat for an approved request, under the entitlement's advisory lock: two approvals at once are counted
 * one after the other, so the last free seat goes to exactly one of them. Idempotent per request: a retry, or the
 * workflow asking again after a crash, finds its own row (a held seat answers `seat` again and takes no second one;
 * a queued request keeps its place in line).
 */
export async function takeSeat(pool: pg.Pool, input: SeatInput): Promise<SeatDecision> {
  return inTransaction(pool, async (client) => {
    await lockName(client, seatLock(input.entitlement));
    const { holders, queue } = await seatState(client, input.entitlement);
    const own = queue.find((q) => q.requestId === input.requestId);
    const decision = decideSeat({ limit: input.limit, whenFull: input.whenFull }, holders, queue, {
      requestId: input.requestId,
      beneficiary: input.beneficiary,
      breakGlass: input.breakGlass,
      since: own?.since ?? input.since,
    });
    if (decision.outcome === 'seat') {
      await client.query(
        `INSERT INTO seats (request_id, entitlement, beneficiary, state, queued_at, seated_at)
         VALUES ($1, $2, $3, 'held', $4, now())
         ON CONFLICT (request_id) DO UPDATE SET state = 'held', seated_at = COALESCE(seats.seated_at, now())`,
        [input.requestId, input.entitlement, input.beneficiary, input.since],
      );
    } else if (decision.outcome === 'queued') {
      await client.query(
        `INSERT INTO seats (request_id, entitlement, beneficiary, state, queued_at)
         VALUES ($1, $2, $3, 'queued', $4) ON CONFLICT (request_id) DO NOTHING`,
        [input.requestId, input.entitlement, input.beneficiary, input.since],
      );
    } else {
      await client.query('DELETE FROM seats WHERE request_id = $1', [input.requestId]);
    }
    return decision;
  });
}

/** Whether a new request for a `refuse` entitlement would find every seat taken (read under the same lock). */
export async function seatsFull(
  client: pg.PoolClient,
  input: Omit<SeatInput, 'whenFull'>,
): Promise<Extract<SeatDecision, { outcome: 'refused' }> | undefined> {
  await lockName(client, seatLock(input.entitlement));
  const { holders, queue } = await seatState(client, input.entitlement);
  const decision = decideSeat({ limit: input.limit, whenFull: 'refuse' }, holders, queue, input);
  return decision.outcome === 'refused' ? decision : undefined;
}

/** Frees the request's seat or its place in line: the next in line takes it when it asks again. */
export async function releaseSeat(client: Queryable, requestId: string): Promise<void> {
  await client.query('DELETE FROM seats WHERE request_id = $1', [requestId]);
}

/** Seat use of every entitlement with a limit, counted like takeSeat counts (people, not grants). */
export async function seatUse(pool: pg.Pool, config: Config): Promise<SeatUse[]> {
  const limited = [...config.entitlements.values()].filter((e) => e.seats);
  const out: SeatUse[] = [];
  for (const e of limited) {
    const seats = e.seats as NonNullable<typeof e.seats>;
    const { holders, queue } = await seatState(pool, e.id);
    out.push({
      entitlement: e.id,
      limit: seats.limit,
      whenFull: seats.whenFull,
      used: seatsUsed(holders),
      queued: new Set(queue.map((q) => q.beneficiary)).size,
    });
  }
  return out;
}
