/**
 * Expiry storm (issue 14, item 4): many grants that expire in the same minute, all revoked at the target, against a
 * lone grant's revoke measured in the same run. Each grant is an auto-approved github:member (the webhook connector
 * to the bench's receiver) whose duration is chosen so that it ends at one common moment; the receiver's ledger says
 * when each revoke reached the target, and the bench counts how many calls were at the target at once.
 */
import type { LedgerEntry } from '../../scripts/webhook-receiver';
import { HttpError, sleep, type Bench } from '../lib/bench';
import { summarize, type Summary } from '../lib/stats';

export interface StormResult {
  /** Grants asked for, and submitted in time for the common end (a slow machine may submit fewer). */
  requested: number;
  grants: number;
  /** The worker's bound on connector calls at once (GRANTFLOW_CONNECTOR_CONCURRENCY). */
  connectorConcurrency: number;
  /** Submitting them all, and the rate. */
  submitS: number;
  submittedPerSecond: number;
  /** How far apart their expiries lie (last − first), ms. */
  expirySpreadMs: number;
  /** A lone grant: its expiry → its revoke at the target, ms. */
  single: Summary;
  /** The storm: the first expiry → the last revoke at the target, ms. */
  stormMs: number;
  /** Each storm grant: its expiry → its revoke at the target, ms. */
  perGrant: Summary;
  /** stormMs / single p50. */
  ratio: number;
  /** The target it is held to: grants / concurrency (as if the revokes ran back to back, that many at a time). */
  allowedRatio: number;
  revokedAtTarget: number;
  /** The most calls the target had in hand at once during the storm. */
  maxInFlightAtTarget: number;
}

const LONE = 5;

async function ledger(b: Bench): Promise<LedgerEntry[]> {
  const res = await fetch(`${b.target.url}/ledger`, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new HttpError(res.status, await res.text(), 'GET /ledger');
  return ((await res.json()) as { deliveries: LedgerEntry[] }).deliveries;
}

async function expiries(b: Bench, ids: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await b.db.query<{ id: string; expires_at: Date | null }>(
    'SELECT id, expires_at FROM requests WHERE id = ANY($1::text[])',
    [ids],
  );
  return new Map(rows.filter((r) => r.expires_at).map((r) => [r.id, (r.expires_at as Date).getTime()]));
}

/** Waits until every request's revoke reached the target; when each did, by request id. */
async function revokes(b: Bench, ids: readonly string[], timeoutMs: number): Promise<Map<string, number>> {
  const wanted = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Map<string, number>();
    for (const e of await ledger(b)) {
      if (e.body.action === 'revoke' && wanted.has(e.body.requestId)) seen.set(e.body.requestId, Date.parse(e.firstAt));
    }
    if (seen.size === wanted.size) return seen;
    if (Date.now() > deadline) {
      throw new Error(`Only ${seen.size} of ${wanted.size} grants were revoked at the target within ${timeoutMs} ms.`);
    }
    await sleep(500);
  }
}

/**
 * Submits with `inFlight` at a time; each grant's duration makes it end at `endsAt` (or later, by its own lag). Stops
 * when too little time is left for another to end with the others.
 */
async function submitAll(b: Bench, users: string[], endsAt: number, inFlight: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (;;) {
        const seconds = Math.ceil((endsAt - Date.now()) / 1000);
        const user = users[next++];
        if (!user || seconds < 10) return;
        const { id } = await b.ours.submit(user, 'github:member', { duration: `PT${seconds}S` });
        ids.push(id);
      }
    }),
  );
  return ids;
}

export async function stormPhase(b: Bench): Promise<StormResult> {
  const { storm } = b.settings;
  const take = (n: number) =>
    Array.from({ length: n }, () => {
      const id = b.users.take('s');
      if (!id) throw new Error('The bench directory has too few storm users.');
      return id;
    });

  // Lone grants first, a second apart, so that each revoke has the system to itself.
  const lone: string[] = [];
  for (const user of take(LONE)) {
    lone.push((await b.ours.submit(user, 'github:member', { duration: 'PT3S' })).id);
    await sleep(1000);
  }
  const loneAt = await revokes(b, lone, 60_000);
  const loneEnds = await expiries(b, lone);
  const single = summarize(lone.map((id) => (loneAt.get(id) as number) - (loneEnds.get(id) as number)));
  b.log(`  a lone revoke: ${Math.round(single.p50)} ms p50 after its expiry`);

  const users = take(storm.grants);
  const started = Date.now();
  const endsAt = started + storm.submitBudgetS * 1000;
  const ids = await submitAll(b, users, endsAt, 32);
  const submitS = (Date.now() - started) / 1000;
  if (ids.length < users.length) b.log(`  only ${ids.length} of ${users.length} grants were submitted in time`);
  b.log(`  ${ids.length} grants submitted in ${Math.round(submitS)} s; they end at ${new Date(endsAt).toISOString()}`);
  b.target.resetInFlight();
  const at = await revokes(b, ids, Math.max(endsAt - Date.now(), 0) + storm.drainBudgetS * 1000);
  const maxInFlightAtTarget = b.target.maxInFlight();
  const ends = await expiries(b, ids);
  const endTimes = ids.map((id) => ends.get(id) ?? Number.NaN);
  const firstEnd = Math.min(...endTimes);
  const stormMs = Math.max(...at.values()) - firstEnd;
  const ratio = stormMs / single.p50;
  return {
    requested: storm.grants,
    grants: ids.length,
    connectorConcurrency: storm.connectorConcurrency,
    submitS,
    submittedPerSecond: ids.length / submitS,
    expirySpreadMs: Math.max(...endTimes) - firstEnd,
    single,
    stormMs,
    perGrant: summarize(ids.map((id) => (at.get(id) as number) - (ends.get(id) as number))),
    ratio,
    allowedRatio: ids.length / storm.connectorConcurrency,
    revokedAtTarget: at.size,
    maxInFlightAtTarget,
  };
}
