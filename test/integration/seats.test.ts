import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createActivities } from '../../activities';
import { releaseSeat, seatUse, takeSeat, type SeatInput } from '../../activities/seats';
import { parseConfigs } from '../../domain/config';
import type { Config } from '../../domain/config';
import { createLogger } from '../../platform/logger';
import { demoRaw, withLicensedTool } from '../helpers/harness';

/**
 * Seats on real PostgreSQL: the count happens under the entitlement's advisory lock, so approvals that ask at the
 * same moment, on connections of their own, never take more seats than the limit. Every test uses entitlements and
 * people of its own (the database is shared by every suite of the run).
 */
const run = randomBytes(4).toString('hex');
let counter = 0;
const fresh = (prefix: string) => `${prefix}${run}n${++counter}`;
const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');

let pools: pg.Pool[];
beforeAll(() => {
  // Two pools of ten, so twenty asks really run as twenty concurrent transactions.
  pools = [0, 1].map(() => new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 }));
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

const ask = (entitlement: string, beneficiary: string, over: Partial<SeatInput> = {}): SeatInput => ({
  requestId: `req-${beneficiary}`,
  beneficiary,
  entitlement,
  breakGlass: false,
  since: new Date().toISOString(),
  limit: 2,
  whenFull: 'queue',
  ...over,
});

describe('takeSeat', () => {
  test('twenty approvals at once on a limit of 2: exactly two get a seat, every round, and retries take no more', async () => {
    for (let round = 0; round < 5; round++) {
      const entitlement = `race${run}:r${round}`;
      const people = Array.from({ length: 20 }, (_, i) => fresh(`p${i}x`));
      const since = new Date(Date.UTC(2026, 11, 1, 10, 0, 0)).toISOString();
      const asks = people.map((p) => ask(entitlement, p, { since }));
      const decisions = await Promise.all(asks.map((a, i) => takeSeat(pools[i % 2] as pg.Pool, a)));
      expect(decisions.filter((d) => d.outcome === 'seat')).toHaveLength(2);

      const { rows } = await (pools[0] as pg.Pool).query<{ state: string; n: number }>(
        'SELECT state, count(*)::int AS n FROM seats WHERE entitlement = $1 GROUP BY state ORDER BY state',
        [entitlement],
      );
      expect(rows).toEqual([
        { state: 'held', n: 2 },
        { state: 'queued', n: 18 },
      ]);
      // Activity retries (or a workflow asking again after a crash) answer the same and take nothing more; asked
      // again, those in line learn their places: one each, first come first served (ties by request id).
      const again = await Promise.all(asks.map((a, i) => takeSeat(pools[(i + 1) % 2] as pg.Pool, a)));
      expect(again.map((d) => d.outcome)).toEqual(decisions.map((d) => d.outcome));
      const line = asks
        .filter((_, i) => decisions[i]?.outcome === 'queued')
        .sort((x, y) => (x.requestId < y.requestId ? -1 : 1));
      const places = line.map((a) => again[asks.indexOf(a)]);
      expect(places.map((d) => d?.outcome === 'queued' && d.position)).toEqual(line.map((_, i) => i + 1));
    }
  });

  test('a freed seat goes to the first in line, never to a later request that asks first', async () => {
    const entitlement = `fifo${run}:x`;
    const pool = pools[0] as pg.Pool;
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((p) => fresh(p)) as [string, string, string, string];
    const t = (minute: number) => new Date(Date.UTC(2026, 11, 1, 10, minute)).toISOString();
    expect(await takeSeat(pool, ask(entitlement, a, { since: t(0) }))).toMatchObject({ outcome: 'seat' });
    expect(await takeSeat(pool, ask(entitlement, b, { since: t(1) }))).toMatchObject({ outcome: 'seat' });
    expect(await takeSeat(pool, ask(entitlement, c, { since: t(2) }))).toEqual({
      outcome: 'queued',
      position: 1,
      used: 2,
      limit: 2,
    });
    expect(await takeSeat(pool, ask(entitlement, d, { since: t(3) }))).toMatchObject({
      outcome: 'queued',
      position: 2,
    });

    await releaseSeat(pool, `req-${a}`);
    // d asks before c: the free seat is c's.
    expect(await takeSeat(pool, ask(entitlement, d, { since: t(9) }))).toMatchObject({
      outcome: 'queued',
      position: 1,
    });
    expect(await takeSeat(pool, ask(entitlement, c, { since: t(9) }))).toMatchObject({ outcome: 'seat', used: 1 });
    expect(await takeSeat(pool, ask(entitlement, d, { since: t(9) }))).toMatchObject({
      outcome: 'queued',
      position: 1,
    });
  });

  test('live grants count, a person holds one seat, break-glass never waits, and refuse mode refuses', async () => {
    const entitlement = `live${run}:x`;
    const pool = pools[0] as pg.Pool;
    const [a, b, c] = ['a', 'b', 'c'].map((p) => fresh(p)) as [string, string, string];
    await pool.query(
      `INSERT INTO grants (request_id, beneficiary, entitlement, connector, started_at, expires_at)
       VALUES ($1, $2, $3, 'webhook', now(), now() + interval '1 day')`,
      [`old-${a}`, a, entitlement],
    );
    const limit1 = { limit: 1, whenFull: 'refuse' as const };
    // a's second request (an overlap) needs no second seat; b is refused.
    expect(await takeSeat(pool, ask(entitlement, a, limit1))).toMatchObject({ outcome: 'seat', used: 1 });
    const refused = await takeSeat(pool, ask(entitlement, b, limit1));
    expect(refused).toMatchObject({ outcome: 'refused', used: 1, limit: 1 });
    expect(await pool.query('SELECT 1 FROM seats WHERE request_id = $1', [`req-${b}`])).toMatchObject({ rowCount: 0 });
    expect(await takeSeat(pool, ask(entitlement, c, { ...limit1, breakGlass: true }))).toMatchObject({
      outcome: 'seat',
    });
  });
});

describe('with a seat-limited entitlement in the catalog', () => {
  let config: Config;
  const resource = fresh('tool');
  const people = ['a', 'b', 'c'].map((p) => fresh(p));
  beforeAll(() => {
    const raw = demoRaw();
    withLicensedTool(raw, resource, { limit: 1, whenFull: 'refuse' });
    for (const id of people) {
      raw.directory.users.push({ id, name: id, department: 'engineering', manager: 'bob', groups: ['engineering'] });
    }
    config = parseConfigs(raw);
  });

  test('refuse mode refuses a new request at submission with a reason, once every seat is taken', async () => {
    const pool = pools[0] as pg.Pool;
    const acts = createActivities({ pool, config, log });
    const entitlement = `${resource}:seat`;
    const evaluate = (who: string) =>
      acts.evaluateRequest({
        requestId: `req-${who}`,
        requester: who,
        input: { entitlement, justification: 'Needed for the licence test.', fields: {}, breakGlass: false },
        now: new Date().toISOString(),
      });
    const [a, b] = people as [string, string];
    const first = await evaluate(a);
    expect(first).toMatchObject({ valid: true, grant: { seats: { limit: 1, whenFull: 'refuse', recheckMs: 30_000 } } });
    expect(await acts.takeSeat({ ...ask(entitlement, a), limit: 1, whenFull: 'refuse' })).toMatchObject({
      outcome: 'seat',
    });
    const second = await evaluate(b);
    expect(second).toMatchObject({ valid: false, reasons: [{ code: 'seats_full', field: 'entitlement' }] });
    expect(await pool.query('SELECT 1 FROM open_claims WHERE request_id = $1', [`req-${b}`])).toMatchObject({
      rowCount: 0,
    });
    expect((await seatUse(pool, config)).find((u) => u.entitlement === entitlement)).toEqual({
      entitlement,
      limit: 1,
      whenFull: 'refuse',
      used: 1,
      queued: 0,
    });

    // The first request closes: its claim and its seat go together, and the next request is valid again.
    await acts.releaseClaim({ requestId: `req-${a}`, beneficiary: a, entitlement });
    expect(await evaluate(b)).toMatchObject({ valid: true });
    await acts.releaseClaim({ requestId: `req-${b}`, beneficiary: b, entitlement });
  });
});
