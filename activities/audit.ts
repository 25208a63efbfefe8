import type pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import {
  canonicalJson,
  chainHash,
  createVerifier,
  eventMac,
  GENESIS_HASH,
  type AuditKeyring,
  type AuditRecord,
  type Checkpoint,
  type Finding,
  type HashedContent,
  type VerifyReport,
} from './audit-chain';
import type { Checkpointer } from './audit-checkpoints';
import { groupCommit } from './group-commit';
import { storableJson } from './storable';
import { inTransaction, lockName } from './transaction';
import type { AuditEventInput } from './types';

export { canonicalJson, GENESIS_HASH, type AuditRecord } from './audit-chain';

/** Held by every writer of the chain until its commit. */
export const CHAIN_LOCK = 'grantflow:audit-chain';
const PAGE = 1000;

export type VerifyResult = VerifyReport;

export interface AuditQuery {
  /** Inclusive lower bound on `at` (ISO-8601). */
  from?: string;
  /** Exclusive upper bound on `at` (ISO-8601). */
  to?: string;
  requestId?: string;
  limit: number;
  /** The `seq` of the last event of the previous page. */
  after?: number;
  /** Inclusive upper bound on `seq` (an export stops at its checkpoint). */
  upTo?: number;
}

export interface AuditPage {
  events: AuditRecord[];
  /** Pass as `after` for the next page; absent on the last page. */
  next?: number;
}

/**
 * Appends the events not yet present, in order, continuing the chain, inside the caller's transaction (so an event
 * and the state it records can commit together). Safe to repeat (event ids are unique) and to run concurrently: the
 * chain lock, held until the caller commits, gives every event its predecessor's seq + 1 and hash. It is the only
 * writer of `audit_events`: a row inserted any other way would break the chain's dense seqs.
 */
export async function appendAudit(
  client: pg.PoolClient | pg.Client,
  keyring: AuditKeyring,
  events: readonly AuditEventInput[],
): Promise<void> {
  const unique: HashedContent[] = [];
  const seen = new Set<string>();
  for (const e of events) {
    if (seen.has(e.eventId)) continue;
    seen.add(e.eventId);
    unique.push(normalise(e));
  }
  if (unique.length === 0) return;
  const key = keyring.keys.get(keyring.current);
  if (!key) throw new Error(`The current audit key "${keyring.current}" is not in the keyring.`);
  await lockName(client, CHAIN_LOCK);
  const present = await client.query<{ event_id: string }>(
    'SELECT event_id FROM audit_events WHERE event_id = ANY($1::text[])',
    [unique.map((e) => e.eventId)],
  );
  const known = new Set(present.rows.map((r) => r.event_id));
  const fresh = unique.filter((e) => !known.has(e.eventId));
  if (fresh.length === 0) return;
  const head = await client.query<{ seq: string; hash: string }>(
    'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
  );
  let seq = Number(head.rows[0]?.seq ?? 0);
  let prevHash = head.rows[0]?.hash ?? GENESIS_HASH;
  for (const e of fresh) {
    seq += 1;
    const hash = chainHash(prevHash, seq, e);
    await client.query(
      `INSERT INTO audit_events (seq, event_id, request_id, actor, action, at, data, prev_hash, hash, key_id, mac)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11)`,
      [
        seq,
        e.eventId,
        e.requestId ?? null,
        e.actor,
        e.action,
        e.at,
        JSON.stringify(e.data),
        prevHash,
        hash,
        keyring.current,
        eventMac(key, keyring.current, hash),
      ],
    );
    prevHash = hash;
  }
}

export interface AuditLogOptions {
  keyring: AuditKeyring;
  /** Signs and reads checkpoints; without one, verify holds the chain against none. */
  checkpoints?: Checkpointer;
}

export type AuditLog = ReturnType<typeof createAuditLog>;

export function createAuditLog(pool: pg.Pool, opts: AuditLogOptions) {
  const { keyring, checkpoints } = opts;
  const appendGrouped = groupCommit<readonly AuditEventInput[]>((groups) => appendNow(groups.flat()));

  /** Appends the events not yet present, in order, continuing the chain; safe to repeat and to run concurrently. */
  function append(events: readonly AuditEventInput[]): Promise<void> {
    try {
      // An invalid event is refused before it can join (and spoil) a group.
      events.forEach(normalise);
    } catch (err) {
      return Promise.reject(err);
    }
    return appendGrouped(events);
  }

  async function appendNow(events: readonly AuditEventInput[]): Promise<void> {
    await inTransaction(pool, (client) => appendAudit(client, keyring, events));
  }

  /**
   * Walks the whole chain in order with the HMAC keys and holds it against the newest checkpoint in the sink; every
   * break is named (changed, missing, reordered, tail cut, a checkpoint that is forged or does not match).
   */
  async function verify(): Promise<VerifyResult> {
    const newest = checkpoints ? await checkpoints.newest() : { rejected: [] };
    const verifier = createVerifier({ keyring, ...(newest.checkpoint && { checkpoint: newest.checkpoint }) });
    let after = 0;
    for (;;) {
      const { rows } = await pool.query<Row>(`${SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, PAGE]);
      for (const row of rows) {
        const r = toRecord(row);
        verifier.push(r);
        after = r.seq;
      }
      if (rows.length < PAGE) break;
    }
    const report = verifier.finish();
    const forged: Finding[] = newest.rejected.map((r) => ({
      kind: 'checkpoint_forged',
      seq: r.seq ?? 0,
      message: `A checkpoint in ${checkpoints?.where ?? 'the sink'} cannot be trusted: ${r.problem}.`,
    }));
    return forged.length ? { ...report, ok: false, findings: [...forged, ...report.findings] } : report;
  }

  async function list(query: AuditQuery): Promise<AuditPage> {
    const limit = Math.min(Math.max(Math.trunc(query.limit), 1), PAGE);
    const { rows } = await pool.query<Row>(
      `${SELECT}
       WHERE seq > $1
         AND ($2::timestamptz IS NULL OR at >= $2)
         AND ($3::timestamptz IS NULL OR at < $3)
         AND ($4::text IS NULL OR request_id = $4)
         AND ($6::bigint IS NULL OR seq <= $6)
       ORDER BY seq
       LIMIT $5`,
      [query.after ?? 0, query.from ?? null, query.to ?? null, query.requestId ?? null, limit, query.upTo ?? null],
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
  async function* exportCsv(filter: Omit<AuditQuery, 'limit' | 'after' | 'upTo'> = {}): AsyncGenerator<string> {
    yield `${CSV_COLUMNS.join(',')}\r\n`;
    for await (const r of records(filter)) yield toCsvLine(r);
  }

  /**
   * One JSON document, streamed event by event: the events up to the checkpoint and the checkpoint itself, so an
   * auditor can verify the export offline with only the public key (`npm run audit:verify -- export.json`).
   */
  async function* exportJson(
    filter: Omit<AuditQuery, 'limit' | 'after' | 'upTo'> = {},
    checkpoint?: Checkpoint,
  ): AsyncGenerator<string> {
    const complete = filter.from === undefined && filter.to === undefined && filter.requestId === undefined;
    const head = {
      format: EXPORT_FORMAT,
      version: 1,
      exportedAt: new Date().toISOString(),
      // Only an unfiltered export holds every link from the first event to the checkpoint.
      complete,
      filter,
      checkpoint: checkpoint ?? null,
      publicKey: checkpoints ? checkpoints.publicKey() : null,
    };
    const opening = JSON.stringify(head);
    yield `${opening.slice(0, -1)},"events":[`;
    let first = true;
    for await (const r of records({ ...filter, ...(checkpoint && { upTo: checkpoint.seq }) })) {
      yield `${first ? '\n' : ',\n'}${JSON.stringify(r)}`;
      first = false;
    }
    yield '\n]}\n';
  }

  return { append, verify, list, records, exportCsv, exportJson, checkpoints };
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
  key_id: string | null;
  mac: string | null;
}

const SELECT =
  'SELECT seq, event_id, request_id, actor, action, at, data, prev_hash, hash, key_id, mac FROM audit_events';

/** The `format` of a JSON export. */
export const EXPORT_FORMAT = 'grantflow-audit-export';

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
    ...(row.key_id !== null && { keyId: row.key_id }),
    ...(row.mac !== null && { mac: row.mac }),
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
  // jsonb refuses NUL characters and unpaired surrogates; replacing them keeps hostile text from jamming the trail.
  const json = storableJson(e.data ?? {});
  return {
    eventId: e.eventId,
    ...(e.requestId !== undefined && { requestId: e.requestId }),
    actor: e.actor,
    action: e.action,
    at: at.toISOString(),
    data: JSON.parse(json) as Record<string, unknown>,
  };
}

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
  'key_id',
  'mac',
  // Last, so readers that address the columns before it by position keep working.
  'policy_version',
] as const;

function toCsvLine(r: AuditRecord): string {
  const cells = [String(r.seq), r.eventId, r.requestId ?? '', r.at, r.actor, r.action, canonicalJson(r.data)];
  const tail = [r.prevHash, r.hash, csvCell(r.keyId ?? ''), r.mac ?? '', csvCell(policyVersionOf(r))];
  return `${[...cells.map(csvCell), ...tail].join(',')}\r\n`;
}

/**
 * The policy a decision was taken under, as its event recorded it in the hashed `data` (validated, rejected, an
 * extension's evaluation or refusal); empty for events that decide nothing. A column of its own, so a spreadsheet
 * can filter on it without parsing JSON.
 */
function policyVersionOf(r: AuditRecord): string {
  const version = r.data.policyVersion;
  return typeof version === 'string' ? version : '';
}

function csvCell(value: string): string {
  // A cell a spreadsheet would run as a formula is defused with a leading apostrophe (OWASP CSV injection).
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
