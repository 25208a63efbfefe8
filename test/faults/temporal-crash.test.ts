/**
 * The Temporal dev server is SIGKILLed while approvals and expiry timers are pending, kept down past those expiries,
 * and restarted on its persisted SQLite file: every request carries on, the overdue expiries fire after the restart,
 * and nothing is lost or done twice. While it is down the API says so (503 with Retry-After) instead of failing.
 */
import {
  checkOutcomes,
  Findings,
  mapLimit,
  persist,
  sleep,
  submitRequest,
  waitForFinal,
  waitForStatus,
  type Outcome,
} from '../helpers/fault-checks';
import { startFaultStack, synthId, type FaultStack } from '../helpers/fault-stack';

jest.setTimeout(240_000);

const DOWN_MS = 30_000;

let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack({ title: 'temporal-crash', users: 20 });
  await stack.startWorker();
  await stack.command('startApi');
});
afterAll(async () => {
  await stack?.stop();
});

const github = { entitlement: 'github:member', justification: 'Needed for code review duty.' };
const analytics = { entitlement: 'analytics-db:read', justification: 'Quarterly churn analysis.' };

test('killing the Temporal server loses nothing: approvals continue and overdue expiries fire after the restart', async () => {
  const findings = new Findings();
  const decide = (id: string, decision: 'approve' | 'deny') =>
    persist(stack, 'POST', `/v1/requests/${id}/decisions`, { as: 'bob', body: { decision }, key: `decide-${id}` });

  // Live grants whose expiry timers will come due while the server is down, and approvals still pending then.
  const users = Array.from({ length: 20 }, (_, i) => synthId(i + 1));
  const [auto, approvedBefore, pending] = await Promise.all([
    mapLimit(users.slice(0, 6), 6, async (user): Promise<Outcome> => ({
      user,
      id: await submitRequest(stack, user, { ...github, duration: 'PT20S' }),
      journey: 'auto',
    })),
    mapLimit(users.slice(6, 10), 4, async (user): Promise<Outcome> => {
      const id = await submitRequest(stack, user, { ...analytics, duration: 'PT20S' });
      await waitForStatus(stack, id, ['pending_approval']);
      await decide(id, 'approve');
      return { user, id, journey: 'approve' };
    }),
    mapLimit(users.slice(10, 20), 5, async (user, i): Promise<Outcome> => ({
      user,
      id: await submitRequest(stack, user, { ...analytics, duration: 'PT5S' }),
      journey: i % 3 === 2 ? 'deny' : 'approve',
    })),
  ]);
  const live = [...auto, ...approvedBefore];
  for (const o of live) await waitForStatus(stack, o.id, ['active']);
  for (const o of pending) await waitForStatus(stack, o.id, ['pending_approval']);
  const expiries = await stack.db.query<{ id: string; expires_at: Date }>(
    'SELECT id, expires_at FROM requests WHERE id = ANY($1)',
    [live.map((o) => o.id)],
  );
  const expiresAt = new Map(expiries.rows.map((r) => [r.id, r.expires_at.getTime()]));

  // ---- the crash ----
  const killedAt = Date.now();
  await stack.command('killTemporal');
  // While it is down, the API answers "unavailable, retry later" rather than an error or a hang.
  const ready = await stack.api('GET', '/readyz');
  findings.check(
    ready.status === 503 && ready.body.checks?.temporal === 'failed',
    `/readyz: ${ready.status} ${JSON.stringify(ready.body)}`,
  );
  findings.check(!!ready.headers.get('retry-after'), '/readyz sent no Retry-After');
  const first = pending[0] as Outcome;
  const refused = await stack.api('POST', `/v1/requests/${first.id}/decisions`, {
    as: 'bob',
    body: { decision: 'approve' },
    headers: { 'Idempotency-Key': `outage-${first.id}` },
  });
  findings.check(
    refused.status === 503,
    `a decision while Temporal is down: ${refused.status} ${JSON.stringify(refused.body)}`,
  );
  findings.check(!!refused.headers.get('retry-after'), 'the 503 to a decision sent no Retry-After');
  // Reads fall back to the projection in PostgreSQL.
  const read = await stack.api('GET', `/v1/requests/${first.id}`, { as: first.user });
  findings.check(
    read.status === 200 && read.body.status === 'pending_approval',
    `reading a request while Temporal is down: ${read.status} ${JSON.stringify(read.body).slice(0, 200)}`,
  );

  await sleep(Math.max(0, killedAt + DOWN_MS - Date.now()));
  const restartingAt = Date.now();
  await stack.command('startTemporal');
  const restartedAt = Date.now();

  // ---- after the restart: the pending approvals go on ----
  await mapLimit(pending, 5, async (o) => {
    const answer = await decide(o.id, o.journey === 'deny' ? 'deny' : 'approve');
    findings.check(answer.status === 200, `deciding ${o.id} after the restart: ${answer.status}`);
  });
  const all = [...live, ...pending];
  await waitForFinal(
    stack,
    all.map((o) => o.id),
    120_000,
  );
  // Overdue: fell due while the server was down. Most live grants do; on a slow machine a few may expire before the
  // kill or after the restart, which proves nothing either way.
  const overdue = live.filter((o) => {
    const at = expiresAt.get(o.id) ?? 0;
    return at > killedAt && at < restartingAt;
  });
  process.stdout.write(
    `temporal-crash: down ${Math.round((restartedAt - killedAt) / 1000)} s with ${overdue.length} of ${live.length} ` +
      `expiries falling due meanwhile; all final ${Math.round((Date.now() - restartedAt) / 1000)} s after the restart\n`,
  );
  findings.check(overdue.length >= live.length / 2, `only ${overdue.length} expiries fell due while it was down`);

  // The overdue expiries fired once the server was back, not before and not never.
  const { rows } = await stack.db.query<{ request_id: string; at: Date }>(
    `SELECT request_id, at FROM audit_events WHERE action = 'expired' AND request_id = ANY($1)`,
    [overdue.map((o) => o.id)],
  );
  const expiredAt = new Map(rows.map((r) => [r.request_id, r.at.getTime()]));
  for (const o of overdue) {
    const at = expiredAt.get(o.id);
    findings.check(
      at !== undefined && at >= restartingAt,
      `${o.id} expired at ${at ? new Date(at).toISOString() : 'never'}; the server came back at ` +
        new Date(restartingAt).toISOString(),
    );
  }

  await checkOutcomes(stack, all, findings);
  const unexpected = (await stack.exits()).filter((e) => !e.expected);
  findings.check(unexpected.length === 0, `processes died while Temporal was down: ${JSON.stringify(unexpected)}`);
  expect(findings.summary()).toBe('0 findings:\n  ');
});
