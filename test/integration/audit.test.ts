import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createAuditLog, GENESIS_HASH, hashEvent, type AuditLog } from '../../activities/audit';
import type { AuditEventInput } from '../../activities/types';

/**
 * Each test gets its own copy of the audit table in a schema of its own: tampering with one chain must not break
 * the chain other suites verify against the shared database.
 */
interface Chain {
  schema: string;
  pool: pg.Pool;
  audit: AuditLog;
  /** Another pool on the same chain: a second worker process. */
  pool2: pg.Pool;
  audit2: AuditLog;
}

const admin = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
const chains: Chain[] = [];

async function newChain(): Promise<Chain> {
  const schema = `audit_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.audit_events (LIKE public.audit_events INCLUDING ALL)`);
  // Lists and exports show each event's policy version from the request's projection.
  await admin.query(`CREATE TABLE ${schema}.requests (LIKE public.requests INCLUDING ALL)`);
  const open = () =>
    new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 5, options: `-c search_path=${schema}` });
  const pool = open();
  const pool2 = open();
  const chain = { schema, pool, audit: createAuditLog(pool), pool2, audit2: createAuditLog(pool2) };
  chains.push(chain);
  return chain;
}

afterAll(async () => {
  for (const c of chains) {
    await c.pool.end();
    await c.pool2.end();
    await admin.query(`DROP SCHEMA ${c.schema} CASCADE`);
  }
  await admin.end();
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

async function seqs(c: Chain): Promise<number[]> {
  const { rows } = await c.pool.query<{ seq: string }>('SELECT seq FROM audit_events ORDER BY seq');
  return rows.map((r) => Number(r.seq));
}

describe('audit chain', () => {
  test('links each event to the hash of the one before, starting from the genesis hash', async () => {
    const c = await newChain();
    await c.audit.append([event(1), event(2)]);
    await c.audit.append([event(3, { requestId: undefined, data: undefined })]);

    const { events } = await c.audit.list({ limit: 10 });
    expect(events.map((e) => e.eventId)).toEqual(['req-1:step', 'req-2:step', 'req-3:step']);
    expect(events[0]?.prevHash).toBe(GENESIS_HASH);
    expect(events[1]?.prevHash).toBe(events[0]?.hash);
    expect(events[2]?.prevHash).toBe(events[1]?.hash);
    expect(events[2]?.requestId).toBeUndefined();
    expect(events[2]?.data).toEqual({});
    for (const e of events) expect(hashEvent(e.prevHash, e)).toBe(e.hash);
    await expect(c.audit.verify()).resolves.toEqual({ ok: true, count: 3, head: events[2]?.hash });
  });

  test('an empty chain verifies', async () => {
    const c = await newChain();
    await expect(c.audit.verify()).resolves.toEqual({ ok: true, count: 0, head: GENESIS_HASH });
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
    expect(after[2]?.eventId).toBe('req-3:step');
    expect(after[2]?.prevHash).toBe(before[1]?.hash);
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 3 });
  });

  test('concurrent appends from two pools keep one chain', async () => {
    const c = await newChain();
    const appends = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? c.audit : c.audit2).append([event(i)]));
    // The same events again, racing the first attempts: each must still land exactly once.
    const retries = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? c.audit2 : c.audit).append([event(i)]));
    await Promise.all([...appends, ...retries]);

    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 40 });
    const { rows } = await c.pool.query<{ prev_hash: string; n: string }>(
      'SELECT prev_hash, count(*) AS n FROM audit_events GROUP BY prev_hash HAVING count(*) > 1',
    );
    expect(rows).toEqual([]);
  });

  test('appends arriving together are committed together, and one bad event fails only its own append', async () => {
    const c = await newChain();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => c.audit.append([event(i, i === 7 ? { at: 'yesterday' } : {})])),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect((results[7] as PromiseRejectedResult).reason).toMatchObject({ type: 'InvalidAuditEvent' });
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: true, count: 29 });
    // Grouped: far fewer commits than appends, which shows as runs of events written in one transaction.
    const { rows } = await c.pool.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM audit_events');
    expect(Number(rows[0]?.n)).toBeLessThan(29);
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

describe('audit verification finds tampering', () => {
  async function chainOf(n: number): Promise<{ c: Chain; seq: number[] }> {
    const c = await newChain();
    await c.audit.append(Array.from({ length: n }, (_, i) => event(i + 1)));
    return { c, seq: await seqs(c) };
  }

  test('a changed byte in the data', async () => {
    const { c, seq } = await chainOf(5);
    await c.pool.query(`UPDATE audit_events SET data = jsonb_set(data, '{n}', '30') WHERE seq = $1`, [seq[2]]);
    await expect(c.audit.verify()).resolves.toEqual({
      ok: false,
      count: 2,
      brokenAt: { seq: seq[2], eventId: 'req-3:step', reason: expect.stringContaining('altered') },
    });
  });

  test('a changed actor whose hash was recomputed breaks the next link', async () => {
    const { c, seq } = await chainOf(4);
    const { events } = await c.audit.list({ limit: 10 });
    const forged = { ...events[1]!, actor: 'mallory' };
    await c.pool.query('UPDATE audit_events SET actor = $1, hash = $2 WHERE seq = $3', [
      'mallory',
      hashEvent(forged.prevHash, forged),
      seq[1],
    ]);
    await expect(c.audit.verify()).resolves.toMatchObject({
      ok: false,
      count: 2,
      brokenAt: {
        seq: seq[2],
        eventId: 'req-3:step',
        reason: expect.stringContaining('removed, inserted or reordered'),
      },
    });
  });

  test('a deleted event', async () => {
    const { c, seq } = await chainOf(5);
    await c.pool.query('DELETE FROM audit_events WHERE seq = $1', [seq[1]]);
    await expect(c.audit.verify()).resolves.toMatchObject({
      ok: false,
      count: 1,
      brokenAt: { seq: seq[2], eventId: 'req-3:step', reason: expect.stringContaining('removed') },
    });
  });

  test('the first event deleted', async () => {
    const { c, seq } = await chainOf(3);
    await c.pool.query('DELETE FROM audit_events WHERE seq = $1', [seq[0]]);
    await expect(c.audit.verify()).resolves.toMatchObject({ ok: false, count: 0, brokenAt: { seq: seq[1] } });
  });

  test('two events swapped', async () => {
    const { c, seq } = await chainOf(5);
    const [, , third, fourth] = seq as [number, number, number, number, number];
    await c.pool.query('UPDATE audit_events SET seq = -1 WHERE seq = $1', [third]);
    await c.pool.query('UPDATE audit_events SET seq = $1 WHERE seq = $2', [third, fourth]);
    await c.pool.query('UPDATE audit_events SET seq = $1 WHERE seq = -1', [fourth]);
    await expect(c.audit.verify()).resolves.toMatchObject({
      ok: false,
      count: 2,
      brokenAt: { seq: third, eventId: 'req-4:step', reason: expect.stringContaining('reordered') },
    });
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

  test('exports CSV with quoting and defused formulas, and JSON', async () => {
    const c = await newChain();
    await c.audit.append([
      event(1, { actor: '=HYPERLINK("http://evil")', data: { comment: 'a, "quoted"\nline' } }),
      event(2),
    ]);

    let csv = '';
    for await (const chunk of c.audit.exportCsv()) csv += chunk;
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('seq,event_id,request_id,at,actor,action,data,prev_hash,hash,policy_version');
    expect(csv).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(csv).toContain('"{""comment"":""a, \\""quoted\\""\\nline""}"');
    expect(csv.endsWith('\r\n')).toBe(true);

    let json = '';
    for await (const chunk of c.audit.exportJson({ requestId: 'req-2' })) json += chunk;
    const parsed = JSON.parse(json) as { eventId: string; hash: string }[];
    expect(parsed.map((e) => e.eventId)).toEqual(['req-2:step']);
    expect(parsed[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
