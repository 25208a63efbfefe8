import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { appendAudit, createAuditLog, type AuditLog } from '../../activities/audit';
import {
  chainHash,
  eventMac,
  GENESIS_HASH,
  legacyHash,
  parseKeyring,
  signCheckpoint,
  verifyRecords,
  type AuditKeyring,
  type AuditRecord,
  type Checkpoint,
} from '../../activities/audit-chain';
import { createCheckpointer, fileSink, type Checkpointer } from '../../activities/audit-checkpoints';
import { inTransaction } from '../../activities/transaction';
import type { AuditEventInput } from '../../activities/types';
import { verifyExport } from '../../scripts/audit-verify';

/**
 * Each test gets its own copy of the audit table (with the append-only trigger) in a schema of its own, written by
 * the application's role: tampering with one chain must not break the chain other suites verify. The attacker is
 * the owner (a superuser in the test stack), who can switch the trigger off.
 */
const ADMIN_URL = process.env.GRANTFLOW_TEST_ADMIN_DATABASE_URL ?? (process.env.DATABASE_URL as string);
const admin = new pg.Pool({ connectionString: ADMIN_URL, max: 2 });
const K1 = parseKeyring('k1:first-audit-key-0123456789abcdefghijklmn', 'test');
const ROTATED = parseKeyring(
  'k2:second-audit-key-0123456789abcdefghijklm,k1:first-audit-key-0123456789abcdefghijklmn',
  'test',
);
const signingKey = generateKeyPairSync('ed25519').privateKey;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-audit-test-'));

interface Chain {
  schema: string;
  pool: pg.Pool;
  audit: AuditLog;
  /** Another pool on the same chain: a second worker process. */
  audit2: AuditLog;
  checkpoints: Checkpointer;
  sinkFile: string;
  /** The attacker: the owner, with the trigger switched off for this session. */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
}

const pools: pg.Pool[] = [];
const schemas: string[] = [];

async function newChain(keyring: AuditKeyring = K1): Promise<Chain> {
  const schema = `audit_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.audit_events (LIKE public.audit_events INCLUDING ALL)`);
  await admin.query(`CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON ${schema}.audit_events
    FOR EACH ROW EXECUTE FUNCTION public.audit_events_append_only()`);
  await admin.query(`CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON ${schema}.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION public.audit_events_append_only()`);
  await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO grantflow_app`);
  await admin.query(`GRANT SELECT, INSERT ON ${schema}.audit_events TO grantflow_app`);
  const open = (url: string) => {
    const pool = new pg.Pool({ connectionString: url, max: 5, options: `-c search_path=${schema}` });
    pools.push(pool);
    return pool;
  };
  const pool = open(process.env.DATABASE_URL as string);
  const attacker = open(ADMIN_URL);
  const sinkFile = path.join(tmp, `${schema}.jsonl`);
  const checkpoints = createCheckpointer({ pool, signingKey, sink: fileSink(sinkFile) });
  return {
    schema,
    pool,
    audit: createAuditLog(pool, { keyring, checkpoints }),
    audit2: createAuditLog(open(process.env.DATABASE_URL as string), { keyring, checkpoints }),
    checkpoints,
    sinkFile,
    async sql(text, params) {
      const client = await attacker.connect();
      try {
        await client.query('SET session_replication_role = replica');
        return await client.query(text, params);
      } finally {
        await client.query('RESET session_replication_role');
        client.release();
      }
    },
  };
}

afterAll(async () => {
  for (const p of pools) await p.end();
  for (const s of schemas) await admin.query(`DROP SCHEMA ${s} CASCADE`);
  await admin.end();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const event = (n: number, extra: Partial<AuditEventInput> = {}): AuditEventInput => ({
  eventId: `req-${n}:step`,
  requestId: `req-${n}`,
  actor: 'system',
  action: 'request.submitted',
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  data: { n, nested: { b: 2, a: [1, 'x'] } },
  ...extra,
});

async function allEvents(c: Chain): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of c.audit.records({})) out.push(r);
  return out;
}

describe('audit chain', () => {
  test('numbers events densely from 1, links each to the one before and authenticates it with the current key', async () => {
    const c = await newChain();
    await c.audit.append([event(1), event(2)]);
    await c.audit.append([event(3, { requestId: undefined, data: undefined })]);

    const { events } = await c.audit.list({ limit: 10 });
    expect(events.map((e) => [e.seq, e.eventId, e.keyId])).toEqual([
      [1, 'req-1:step', 'k1'],
      [2, 'req-2:step', 'k1'],
      [3, 'req-3:step', 'k1'],
    ]);
    expect(events[0]?.prevHash).toBe(GENESIS_HASH);
    expect(events[1]?.prevHash).toBe(events[0]?.hash);
    expect(events[2]?.prevHash).toBe(events[1]?.hash);
    expect(events[2]?.requestId).toBeUndefined();
    expect(events[2]?.data).toEqual({});
    const key = K1.keys.get('k1') as Buffer;
    for (const e of events) {
      expect(chainHash(e.prevHash, e.seq, e)).toBe(e.hash);
      expect(e.mac).toBe(eventMac(key, 'k1', e.hash));
    }
    await expect(c.audit.verify()).resolves.toMatchObject({
      ok: true,
      count: 3,
      head: { seq: 3, hash: events[2]?.hash },
      macChecked: true,
      findings: [],
    });
  });

  test('an empty chain verifies, and has no head to checkpoint', async () => {
    const c = await newChain();
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 0, head: { seq: 0, hash: GENESIS_HASH } });
    await expect(c.checkpoints.checkpoint()).resolves.toBeUndefined();
  });

  test('appending an event again is a no-op, also within one batch', async () => {
    const c = await newChain();
    await c.audit.append([event(1), event(2)]);
    const before = (await c.audit.list({ limit: 10 })).events;

    // A retried activity re-sends the same events, possibly with others; only the new one is added.
    await c.audit.append([event(2, { data: { changed: true } }), event(1), event(3), event(3)]);
    const after = (await c.audit.list({ limit: 10 })).events;

    expect(after).toHaveLength(3);
    expect(after.slice(0, 2)).toEqual(before);
    expect(after[2]).toMatchObject({ seq: 3, eventId: 'req-3:step', prevHash: before[1]?.hash });
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 3 });
  });

  test('concurrent appends from two pools keep one chain with dense seqs', async () => {
    const c = await newChain();
    const appends = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? c.audit : c.audit2).append([event(i)]));
    // The same events again, racing the first attempts: each must still land exactly once.
    const retries = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? c.audit2 : c.audit).append([event(i)]));
    await Promise.all([...appends, ...retries]);

    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 40, head: { seq: 40 } });
  });

  test('appends arriving together are committed together, and one bad event fails only its own append', async () => {
    const c = await newChain();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => c.audit.append([event(i, i === 7 ? { at: 'yesterday' } : {})])),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect((results[7] as PromiseRejectedResult).reason).toMatchObject({ type: 'InvalidAuditEvent' });
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 29 });
    const { rows } = await c.pool.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM audit_events');
    expect(Number(rows[0]?.n)).toBeLessThan(29);
  });

  test("appendAudit joins the caller's transaction: rolled back with it, committed with it", async () => {
    const c = await newChain();
    await expect(
      inTransaction(c.pool, async (client) => {
        await appendAudit(client, K1, [event(1)]);
        throw new Error('the projection write failed');
      }),
    ).rejects.toThrow('the projection write failed');
    expect((await c.audit.list({ limit: 10 })).events).toEqual([]);

    await inTransaction(c.pool, (client) => appendAudit(client, K1, [event(1), event(2)]));
    await c.audit.append([event(3)]);
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 3, head: { seq: 3 } });
  });

  test('normalises the time to UTC milliseconds so the stored event hashes as appended', async () => {
    const c = await newChain();
    await c.audit.append([event(1, { at: '2026-03-01T10:00:00+02:00' })]);
    const { events } = await c.audit.list({ limit: 1 });
    expect(events[0]?.at).toBe('2026-03-01T08:00:00.000Z');
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true });
  });

  test('refuses an invalid time without retrying', async () => {
    const c = await newChain();
    await expect(c.audit.append([event(1, { at: 'yesterday' })])).rejects.toMatchObject({
      type: 'InvalidAuditEvent',
      nonRetryable: true,
    });
  });
});

describe('append-only at the database', () => {
  test("the application's role holds no UPDATE, DELETE or TRUNCATE on the audit table", async () => {
    const app = new pg.Client({ connectionString: ADMIN_URL });
    await app.connect();
    try {
      // Checked on the role itself, so this holds whichever URL the suite was given.
      await app.query('SET ROLE grantflow_app');
      for (const statement of [
        `UPDATE public.audit_events SET actor = 'mallory' WHERE seq = 1`,
        'DELETE FROM public.audit_events WHERE seq = 1',
        'TRUNCATE public.audit_events',
      ]) {
        await expect(app.query(statement)).rejects.toMatchObject({
          code: '42501',
          message: 'permission denied for table audit_events',
        });
      }
      await expect(app.query('SELECT count(*) FROM public.audit_events')).resolves.toBeDefined();
    } finally {
      await app.end();
    }
  });

  test('even the owner is refused by the trigger, with an error that names the rule', async () => {
    const c = await newChain();
    await c.audit.append([event(1)]);
    const owner = new pg.Client({ connectionString: ADMIN_URL, options: `-c search_path=${c.schema}` });
    await owner.connect();
    try {
      for (const [statement, op] of [
        [`UPDATE audit_events SET actor = 'mallory'`, 'UPDATE'],
        ['DELETE FROM audit_events', 'DELETE'],
        ['TRUNCATE audit_events', 'TRUNCATE'],
      ] as const) {
        await expect(owner.query(statement)).rejects.toMatchObject({
          code: '42501',
          message: expect.stringContaining(`rule audit_events_append_only: audit events are append-only; ${op}`),
        });
      }
      // The real table carries the same triggers as this copy.
      const { rows } = await owner.query(
        `SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.audit_events'::regclass AND NOT tgisinternal ORDER BY 1`,
      );
      expect(rows.map((r: { tgname: string }) => r.tgname)).toEqual([
        'audit_events_append_only',
        'audit_events_append_only_truncate',
      ]);
    } finally {
      await owner.end();
    }
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 1 });
  });
});

describe('verify names each attack', () => {
  /** A chain of n events with a checkpoint at its head. */
  async function checkpointed(n: number): Promise<{ c: Chain; cp: Checkpoint; events: AuditRecord[] }> {
    const c = await newChain();
    await c.audit.append(Array.from({ length: n }, (_, i) => event(i + 1)));
    const cp = await c.checkpoints.checkpoint();
    if (!cp) throw new Error('no checkpoint');
    return { c, cp, events: await allEvents(c) };
  }

  test('a changed byte in the data', async () => {
    const { c } = await checkpointed(5);
    await c.sql(`UPDATE audit_events SET data = jsonb_set(data, '{n}', '30') WHERE seq = 3`);
    const v = await c.audit.verify();
    expect(v.ok).toBe(false);
    expect(v.findings[0]).toMatchObject({ kind: 'changed', seq: 3, eventId: 'req-3:step' });
    expect(v.findings[0]?.message).toMatch(/was changed: its content does not match its hash/);
  });

  test('one event rewritten and the chain recomputed with SQL, as a superuser past the trigger', async () => {
    const { c, cp } = await checkpointed(6);
    // The attacker knows the public hash formula but not the HMAC key: re-hash from the changed event onwards.
    const events = await allEvents(c);
    let prev = events[1]?.hash as string;
    for (const e of events.slice(2)) {
      const forged = e.seq === 3 ? { ...e, actor: 'mallory' } : e;
      const hash = chainHash(prev, e.seq, forged);
      await c.sql('UPDATE audit_events SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4', [
        forged.actor,
        prev,
        hash,
        e.seq,
      ]);
      prev = hash;
    }
    const v = await c.audit.verify();
    expect(v.ok).toBe(false);
    expect(v.findings[0]).toMatchObject({ kind: 'changed', seq: 3, eventId: 'req-3:step' });
    expect(v.findings[0]?.message).toMatch(/changed and its hash recomputed: its HMAC \(key k1\) does not match/);
    expect(v.findings.slice(1, 4).map((f) => [f.kind, f.seq])).toEqual([
      ['changed', 4],
      ['changed', 5],
      ['changed', 6],
    ]);
    expect(v.findings[1]?.message).toMatch(/re-hashed to cover the change at seq 3/);
    expect(v.findings.at(-1)).toMatchObject({ kind: 'checkpoint_mismatch', seq: cp.seq });
  });

  test('the same rewrite by someone holding the HMAC key is caught by the signed checkpoint alone', async () => {
    const { c, cp } = await checkpointed(4);
    const events = await allEvents(c);
    const key = K1.keys.get('k1') as Buffer;
    let prev = events[0]?.hash as string;
    for (const e of events.slice(1)) {
      const hash = chainHash(prev, e.seq, e.seq === 2 ? { ...e, action: 'nothing.happened' } : e);
      await c.sql('UPDATE audit_events SET action = $1, prev_hash = $2, hash = $3, mac = $4 WHERE seq = $5', [
        e.seq === 2 ? 'nothing.happened' : e.action,
        prev,
        hash,
        eventMac(key, 'k1', hash),
        e.seq,
      ]);
      prev = hash;
    }
    const v = await c.audit.verify();
    expect(v.findings).toEqual([expect.objectContaining({ kind: 'checkpoint_mismatch', seq: cp.seq })]);
    expect(v.findings[0]?.message).toMatch(/differs from checkpoint 4 .*events up to it were rewritten/);
    expect(v.checkpoint).toMatchObject({ seq: 4, holds: false });
  });

  test('the newest event deleted after a checkpoint: the tail was cut', async () => {
    const { c } = await checkpointed(5);
    await c.sql('DELETE FROM audit_events WHERE seq = 5');
    const v = await c.audit.verify();
    expect(v.findings).toEqual([expect.objectContaining({ kind: 'tail_cut', seq: 5, toSeq: 5 })]);
    expect(v.findings[0]?.message).toMatch(/ends at seq 4, but checkpoint 5 .*the tail after seq 4 was cut/);
  });

  test('a truncated tail of several events; appending after the cut does not hide it', async () => {
    const { c } = await checkpointed(8);
    await c.sql('DELETE FROM audit_events WHERE seq > 5');
    const v = await c.audit.verify();
    expect(v.findings).toEqual([expect.objectContaining({ kind: 'tail_cut', seq: 6, toSeq: 8 })]);
    // Appending after the cut does not hide it: seq 6 comes again, with another hash than the signed chain.
    await c.audit.append([event(100), event(101), event(102), event(103)]);
    const again = await c.audit.verify();
    expect(again.findings).toEqual([expect.objectContaining({ kind: 'checkpoint_mismatch', seq: 8 })]);
  });

  test('an event deleted from the middle: exactly which are missing', async () => {
    const { c } = await checkpointed(7);
    await c.sql('DELETE FROM audit_events WHERE seq IN (3, 4)');
    const v = await c.audit.verify();
    expect(v.findings).toEqual([expect.objectContaining({ kind: 'missing', seq: 3, toSeq: 4 })]);
    expect(v.findings[0]?.message).toMatch(/Events seq 3 to 4 are missing/);
  });

  test('a reordered pair', async () => {
    const { c } = await checkpointed(6);
    await c.sql('UPDATE audit_events SET seq = -1 WHERE seq = 3');
    await c.sql('UPDATE audit_events SET seq = 3 WHERE seq = 4');
    await c.sql('UPDATE audit_events SET seq = 4 WHERE seq = -1');
    const v = await c.audit.verify();
    expect(v.findings.map((f) => [f.kind, f.seq, f.eventId])).toEqual([
      ['reordered', 3, 'req-4:step'],
      ['reordered', 4, 'req-3:step'],
    ]);
    expect(v.findings[0]?.message).toMatch(/belongs at seq 4 but is stored at seq 3/);
  });

  test('a forged checkpoint: signed by another key, or a genuine one edited', async () => {
    const { c, cp } = await checkpointed(5);
    await c.sql('DELETE FROM audit_events WHERE seq = 5');
    // To hide the cut, the attacker appends a checkpoint at seq 4 signed with a key of their own ...
    const theirs = signCheckpoint(generateKeyPairSync('ed25519').privateKey, { seq: 4, hash: cp.hash }, new Date());
    fs.appendFileSync(c.sinkFile, `${JSON.stringify(theirs)}\n`);
    // ... and a copy of the real one with the seq lowered.
    fs.appendFileSync(c.sinkFile, `${JSON.stringify({ ...cp, seq: 4 })}\n`);
    const v = await c.audit.verify();
    expect(v.findings.map((f) => f.kind)).toEqual(['checkpoint_forged', 'checkpoint_forged', 'tail_cut']);
    expect(v.findings[0]?.message).toMatch(/names signing key \w+, not the published key/);
    expect(v.findings[1]?.message).toMatch(/Ed25519 signature does not verify/);
  });

  test('events rewritten with the old unkeyed formula after keyed ones', async () => {
    const { c, events } = await checkpointed(3);
    const third = events[2] as AuditRecord;
    await c.sql('UPDATE audit_events SET key_id = NULL, mac = NULL, hash = $1 WHERE seq = 3', [
      legacyHash(third.prevHash, third),
    ]);
    const v = await c.audit.verify();
    expect(v.findings[0]).toMatchObject({ kind: 'unkeyed_after_keyed', seq: 3 });
  });
});

describe('honest cases', () => {
  test('events from before keying verify as the unkeyed prefix the keyed chain continues', async () => {
    const c = await newChain();
    let prev = GENESIS_HASH;
    for (const n of [1, 2]) {
      const e = { ...event(n), data: event(n).data ?? {} };
      const hash = legacyHash(prev, e);
      await c.sql(
        `INSERT INTO audit_events (seq, event_id, request_id, actor, action, at, data, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [n * 10, e.eventId, e.requestId, e.actor, e.action, e.at, JSON.stringify(e.data), prev, hash],
      );
      prev = hash;
    }
    await c.audit.append([event(3)]);
    const v = await c.audit.verify();
    expect(v).toMatchObject({ ok: true, count: 3, unkeyed: 2, head: { seq: 21 } });
  });

  test('rotating the HMAC key: old events keep verifying with the old key, new ones carry the new key id', async () => {
    const c = await newChain(K1);
    await c.audit.append([event(1), event(2)]);
    const rotated = createAuditLog(c.pool, { keyring: ROTATED, checkpoints: c.checkpoints });
    await rotated.append([event(3)]);
    expect((await allEvents(c)).map((e) => e.keyId)).toEqual(['k1', 'k1', 'k2']);
    await expect(rotated.verify()).resolves.toMatchObject({ ok: true, count: 3 });
    // A keyring that dropped k1 too early names the events it can no longer vouch for.
    const forgetful = createAuditLog(c.pool, {
      keyring: parseKeyring('k2:second-audit-key-0123456789abcdefghijklm', 't'),
    });
    const v = await forgetful.verify();
    expect(v.findings.map((f) => [f.kind, f.seq])).toEqual([
      ['unknown_key', 1],
      ['unknown_key', 2],
    ]);
  });

  test('checkpoints taken during a burst of appends each hold, and so does the chain', async () => {
    const c = await newChain();
    const burst = Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? c.audit : c.audit2).append([event(i + 1)])),
    );
    const taken: Checkpoint[] = [];
    for (let i = 0; i < 10; i++) {
      const cp = await c.checkpoints.checkpoint();
      if (cp) taken.push(cp);
      await new Promise((r) => setTimeout(r, 5));
    }
    await burst;
    const last = await c.checkpoints.checkpoint();
    if (last) taken.push(last);
    expect(taken.length).toBeGreaterThan(1);
    const events = await allEvents(c);
    expect(events).toHaveLength(200);
    for (const cp of taken) {
      const v = verifyRecords(events, { keyring: K1, checkpoint: cp });
      expect({ seq: cp.seq, findings: v.findings }).toEqual({ seq: cp.seq, findings: [] });
    }
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, checkpoint: { seq: 200, holds: true } });
  });
});

describe('exports verified offline with only the public key', () => {
  async function exported(c: Chain, cp?: Checkpoint): Promise<unknown> {
    let text = '';
    for await (const chunk of c.audit.exportJson({}, cp)) text += chunk;
    return JSON.parse(text);
  }
  const publicKey = () => createPublicKey(signingKey);

  test('an untouched export holds; it stops at its checkpoint even when events came after', async () => {
    const c = await newChain();
    await c.audit.append([event(1), event(2), event(3)]);
    const cp = await c.checkpoints.checkpoint();
    await c.audit.append([event(4)]);
    const doc = (await exported(c, cp)) as { events: AuditRecord[]; checkpoint: Checkpoint };
    expect(doc.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(doc.checkpoint).toEqual(cp);
    expect(verifyExport(doc, publicKey())).toMatchObject({
      ok: true,
      keySource: 'pinned',
      checkpoint: { seq: 3, holds: true },
      macChecked: false,
    });
  });

  test('offline and the API agree on a tampered chain', async () => {
    const c = await newChain();
    await c.audit.append([1, 2, 3, 4, 5].map((n) => event(n)));
    const cp = await c.checkpoints.checkpoint();
    await c.sql(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`);
    const api = await c.audit.verify();
    const offline = verifyExport(await exported(c, cp), publicKey());
    expect(offline.ok).toBe(false);
    expect(offline.findings).toEqual(api.findings);
    expect(offline.findings[0]).toMatchObject({ kind: 'changed', seq: 2 });
  });

  test('an export edited after the fact, a filtered export and a foreign key are refused', async () => {
    const c = await newChain();
    await c.audit.append([1, 2, 3].map((n) => event(n)));
    const cp = await c.checkpoints.checkpoint();
    const doc = (await exported(c, cp)) as { events: AuditRecord[] };
    const edited = structuredClone(doc);
    (edited.events[0] as AuditRecord).data = { n: 99 };
    expect(verifyExport(edited, publicKey()).findings[0]).toMatchObject({ kind: 'changed', seq: 1 });
    const dropped = { ...doc, events: doc.events.slice(0, 2) };
    expect(verifyExport(dropped, publicKey()).findings[0]).toMatchObject({ kind: 'tail_cut', seq: 3 });
    const foreign = generateKeyPairSync('ed25519').publicKey;
    expect(verifyExport(doc, foreign).findings[0]).toMatchObject({ kind: 'checkpoint_forged' });

    let filtered = '';
    for await (const chunk of c.audit.exportJson({ requestId: 'req-2' }, cp)) filtered += chunk;
    expect(() => verifyExport(JSON.parse(filtered), publicKey())).toThrow(/filtered/);
  });
});

describe('audit reads', () => {
  test('lists by request and time, page by page', async () => {
    const c = await newChain();
    await c.audit.append([1, 2, 3, 4, 5, 6].map((n) => event(n, { requestId: n % 2 ? 'odd' : 'even' })));

    const first = await c.audit.list({ requestId: 'odd', limit: 2 });
    expect(first.events.map((e) => e.eventId)).toEqual(['req-1:step', 'req-3:step']);
    const second = await c.audit.list({ requestId: 'odd', limit: 2, after: first.next });
    expect(second.events.map((e) => e.eventId)).toEqual(['req-5:step']);
    expect(second.next).toBeUndefined();

    const window = await c.audit.list({ from: event(2).at, to: event(4).at, limit: 10 });
    expect(window.events.map((e) => e.eventId)).toEqual(['req-2:step', 'req-3:step']);
  });

  test('exports CSV with quoting and defused formulas, and the key id and MAC of each event', async () => {
    const c = await newChain();
    await c.audit.append([
      event(1, { actor: '=HYPERLINK("http://evil")', data: { comment: 'a, "quoted"\nline' } }),
      event(2),
    ]);

    let csv = '';
    for await (const chunk of c.audit.exportCsv()) csv += chunk;
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('seq,event_id,request_id,at,actor,action,data,prev_hash,hash,key_id,mac,policy_version');
    expect(csv).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(csv).toContain('"{""comment"":""a, \\""quoted\\""\\nline""}"');
    expect(lines[2]).toMatch(/,k1,[0-9a-f]{64},$/);
    expect(csv.endsWith('\r\n')).toBe(true);
  });
});
