import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { inTransaction, lockName } from './transaction';
import type { AuditEventInput } from './types';

/** The `prev_hash` of the first event. */
export const GENESIS_HASH = '0'.repeat(64);
const CHAIN_LOCK = 'grantflow:audit-chain';
const PAGE = 1000;

/** An event as stored: its place in the chain and the hashes that tie it to its predecessor. */
export interface AuditRecord {
  seq: number;
  eventId: string;
  requestId?: string;
  actor: string;
  action: string;
  at: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
  /**
   * The policy version the event's request was decided under, from its projected view: shown beside the event in
   * lists and exports, not part of the hashed content (the request records it once, not every event).
   */
  policyVersion?: string;
}

export type VerifyResult =
  | {
      ok: true;
      count: number;
      /** The last hash: kept outside the database, it also shows later whether the tail was cut. */
      head: string;
    }
  | { ok: false; count: number; brokenAt: { seq: number; eventId: string; reason: string } };

export interface AuditQuery {
  /** Inclusive lower bound on `at` (ISO-8601). */
  from?: string;
  /** Exclusive upper bound on `at` (ISO-8601). */
  to?: string;
  requestId?: string;
  limit: number;
  /** The `seq` of the last event of the previous page. */
  after?: number;
}

export interface AuditPage {
  events: AuditRecord[];
  /** Pass as `after` for the next page; absent on the last page. */
  next?: number;
}

type HashedContent = Pick<AuditRecord, 'eventId' | 'requestId' | 'actor' | 'action' | 'at' | 'data'>;

/** JSON with object keys sorted at every depth, so equal content always hashes alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function hashEvent(prevHash: string, e: HashedContent): string {
  const content = {
    eventId: e.eventId,
    requestId: e.requestId ?? null,
    actor: e.actor,
    action: e.action,
    at: e.at,
    data: e.data,
  };
  return createHash('sha256')
    .update(prevHash + canonicalJson(content), 'utf8')
    .digest('hex');
}

export type AuditLog = ReturnType<typeof createAuditLog>;

export function createAuditLog(pool: pg.Pool) {
  // Group commit: appends that arrive while a chain transaction is running wait and go together in the next one,
  // so concurrent workflows share one lock acquisition and one commit instead of queueing on the lock one by one.
  const GROUP_LIMIT = 200;
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
        // One bad event must not fail the others: fall back to one transaction each.
        for (const g of group) await appendNow(g.events).then(() => g.done(), g.done);
      }
    }
    draining = false;
  }

  /** Appends the events not yet present, in order, continuing the chain; safe to repeat and to run concurrently. */
  function append(events: readonly AuditEventInput[]): Promise<void> {
    try {
      // An invalid event is refused before it can join (and spoil) a group.
      events.forEach(normalise);
    } catch (err) {
      return Promise.reject(err);
    }
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
      unique.push(normalise(e));
    }
    if (unique.length === 0) return;
    await inTransaction(pool, async (client) => {
      // One writer at a time: every event must see the hash its predecessor committed.
      await lockName(client, CHAIN_LOCK);
      const present = await client.query<{ event_id: string }>(
        'SELECT event_id FROM audit_events WHERE event_id = ANY($1::text[])',
        [unique.map((e) => e.eventId)],
      );
      const known = new Set(present.rows.map((r) => r.event_id));
      const fresh = unique.filter((e) => !known.has(e.eventId));
      if (fresh.length === 0) return;
      const head = await client.query<{ hash: string }>('SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      let prevHash = head.rows[0]?.hash ?? GENESIS_HASH;
      for (const e of fresh) {
        const hash = hashEvent(prevHash, e);
        await client.query(
          `INSERT INTO audit_events (event_id, request_id, actor, action, at, data, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
          [e.eventId, e.requestId ?? null, e.actor, e.action, e.at, JSON.stringify(e.data), prevHash, hash],
        );
        prevHash = hash;
      }
    });
  }

  /** Walks the whole chain in order and names the first event whose link or content does not hold. */
  async function verify(): Promise<VerifyResult> {
    let expected = GENESIS_HASH;
    let count = 0;
    let after = 0;
    for (;;) {
      const { rows } = await pool.query<Row>(`${SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, PAGE]);
      for (const row of rows) {
        const r = toRecord(row);
        const broken = (reason: string): VerifyResult => ({
          ok: false,
          count,
          brokenAt: { seq: r.seq, eventId: r.eventId, reason },
        });
        if (r.prevHash !== expected) {
          return broken(
            'prev_hash does not match the hash of the event before it: an event was removed, inserted or reordered',
          );
        }
        if (hashEvent(r.prevHash, r) !== r.hash) return broken('the content does not match its hash: it was altered');
        expected = r.hash;
        count += 1;
        after = r.seq;
      }
      if (rows.length < PAGE) return { ok: true, count, head: expected };
    }
  }

  async function list(query: AuditQuery): Promise<AuditPage> {
    const limit = Math.min(Math.max(Math.trunc(query.limit), 1), PAGE);
    const { rows } = await pool.query<Row>(
      `SELECT a.seq, a.event_id, a.request_id, a.actor, a.action, a.at, a.data, a.prev_hash, a.hash,
              r.view->'plan'->>'policyVersion' AS policy_version
         FROM audit_events a LEFT JOIN requests r ON r.id = a.request_id
       WHERE a.seq > $1
         AND ($2::timestamptz IS NULL OR a.at >= $2)
         AND ($3::timestamptz IS NULL OR a.at < $3)
         AND ($4::text IS NULL OR a.request_id = $4)
       ORDER BY a.seq
       LIMIT $5`,
      [query.after ?? 0, query.from ?? null, query.to ?? null, query.requestId ?? null, limit],
    );
    const events = rows.map(toRecord);
    const last = events.at(-1);
    return rows.length === limit && last ? { events, next: last.seq } : { events };
  }

  /** Every matching event, page by page, so an export never holds the whole trail in memory. */
  async function* records(filter: Omit<AuditQuery, 'limit' | 'after'>): AsyncGenerator<AuditRecord> {
    let after: number | undefined;
    do {
      const page = await list({ ...filter, limit: PAGE, after });
      yield* page.events;
      after = page.next;
    } while (after !== undefined);
  }

  /** CSV (RFC 4180) with a header line; `data` is its canonical JSON. */
  async function* exportCsv(filter: Omit<AuditQuery, 'limit' | 'after'> = {}): AsyncGenerator<string> {
    yield `${CSV_COLUMNS.join(',')}\r\n`;
    for await (const r of records(filter)) yield toCsvLine(r);
  }

  /** One JSON array, streamed element by element. */
  async function* exportJson(filter: Omit<AuditQuery, 'limit' | 'after'> = {}): AsyncGenerator<string> {
    let first = true;
    yield '[';
    for await (const r of records(filter)) {
      yield `${first ? '\n' : ',\n'}${JSON.stringify(r)}`;
      first = false;
    }
    yield '\n]\n';
  }

  return { append, verify, list, records, exportCsv, exportJson };
}

interface Row {
  seq: string;
  event_id: string;
  request_id: string | null;
  actor: string;
  action: string;
  at: Date;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
  policy_version?: string | null;
}

const SELECT = 'SELECT seq, event_id, request_id, actor, action, at, data, prev_hash, hash FROM audit_events';

function toRecord(row: Row): AuditRecord {
  return {
    seq: Number(row.seq),
    eventId: row.event_id,
    ...(row.request_id !== null && { requestId: row.request_id }),
    actor: row.actor,
    action: row.action,
    at: row.at.toISOString(),
    data: row.data,
    prevHash: row.prev_hash,
    hash: row.hash,
    ...(row.policy_version != null && { policyVersion: row.policy_version }),
  };
}

/**
 * Brings an event to the form it has after a round trip through PostgreSQL, so the hash computed now is the hash
 * `verify` recomputes later: `at` in UTC with milliseconds (timestamptz keeps no offset), `data` as JSON.
 */
function normalise(e: AuditEventInput): HashedContent {
  const at = new Date(e.at);
  if (Number.isNaN(at.getTime())) {
    throw ApplicationFailure.nonRetryable(
      `Audit event ${e.eventId} has an invalid time "${e.at}".`,
      'InvalidAuditEvent',
    );
  }
  // jsonb refuses NUL characters in strings; replacing them keeps a hostile justification from jamming the trail.
  const json = JSON.stringify(e.data ?? {}, (_k, v: unknown) =>
    typeof v === 'string' ? v.replaceAll('\u0000', '\uFFFD') : v,
  );
  return {
    eventId: e.eventId,
    ...(e.requestId !== undefined && { requestId: e.requestId }),
    actor: e.actor,
    action: e.action,
    at: at.toISOString(),
    data: JSON.parse(json) as Record<string, unknown>,
  };
}

// policy_version comes last: it is beside the chain, not in it, and earlier columns keep their places.
const CSV_COLUMNS = [
  'seq',
  'event_id',
  'request_id',
  'at',
  'actor',
  'action',
  'data',
  'prev_hash',
  'hash',
  'policy_version',
] as const;

function toCsvLine(r: AuditRecord): string {
  const cells = [String(r.seq), r.eventId, r.requestId ?? '', r.at, r.actor, r.action, canonicalJson(r.data)];
  return `${[...cells.map(csvCell), r.prevHash, r.hash, csvCell(r.policyVersion ?? '')].join(',')}\r\n`;
}

function csvCell(value: string): string {
  // A cell a spreadsheet would run as a formula is defused with a leading apostrophe (OWASP CSV injection).
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
