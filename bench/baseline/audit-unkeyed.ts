/**
 * The audit append as it was before the keyed chain (commit d0a75fb, activities/audit.ts): unkeyed SHA-256, the seq
 * from the table's sequence, the same group commit. Kept only so `npm run bench:audit` can measure the keyed chain
 * against it in the same run.
 */
import type pg from 'pg';
import { legacyHash, GENESIS_HASH, type HashedContent } from '../../activities/audit-chain';
import { inTransaction, lockName } from '../../activities/transaction';
import type { AuditEventInput } from '../../activities/types';

const GROUP_LIMIT = 200;

export function createUnkeyedAuditLog(pool: pg.Pool, table: string) {
  const waiting: { events: readonly AuditEventInput[]; done: (err?: unknown) => void }[] = [];
  let draining = false;

  async function drain(): Promise<void> {
    draining = true;
    while (waiting.length > 0) {
      const group = waiting.splice(0, GROUP_LIMIT);
      try {
        await appendNow(group.flatMap((g) => g.events));
        for (const g of group) g.done();
      } catch {
        for (const g of group) await appendNow(g.events).then(() => g.done(), g.done);
      }
    }
    draining = false;
  }

  function append(events: readonly AuditEventInput[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      waiting.push({ events, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!draining) void drain();
    });
  }

  async function appendNow(events: readonly AuditEventInput[]): Promise<void> {
    const unique: HashedContent[] = [];
    const seen = new Set<string>();
    for (const e of events) {
      if (seen.has(e.eventId)) continue;
      seen.add(e.eventId);
      unique.push({ ...e, at: new Date(e.at).toISOString(), data: e.data ?? {} });
    }
    if (unique.length === 0) return;
    await inTransaction(pool, async (client) => {
      await lockName(client, `grantflow:audit-chain:${table}`);
      const present = await client.query<{ event_id: string }>(
        `SELECT event_id FROM ${table} WHERE event_id = ANY($1::text[])`,
        [unique.map((e) => e.eventId)],
      );
      const known = new Set(present.rows.map((r) => r.event_id));
      const fresh = unique.filter((e) => !known.has(e.eventId));
      if (fresh.length === 0) return;
      const head = await client.query<{ hash: string }>(`SELECT hash FROM ${table} ORDER BY seq DESC LIMIT 1`);
      let prevHash = head.rows[0]?.hash ?? GENESIS_HASH;
      for (const e of fresh) {
        const hash = legacyHash(prevHash, e);
        await client.query(
          `INSERT INTO ${table} (event_id, request_id, actor, action, at, data, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
          [e.eventId, e.requestId ?? null, e.actor, e.action, e.at, JSON.stringify(e.data), prevHash, hash],
        );
        prevHash = hash;
      }
    });
  }

  return { append };
}
