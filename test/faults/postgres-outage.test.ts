/**
 * PostgreSQL — grantflow's database and the analytics target alike — stops for 30 s in the middle of a run: requests
 * just submitted, provisioning, expiring and being approved. The API answers 503 with Retry-After meanwhile; the
 * activities retry and catch up once it is back; nothing is lost or done twice.
 */
import {
  checkOutcomes,
  crashTraces,
  Findings,
  mapLimit,
  persist,
  sleep,
  submitRequest,
  waitForFinal,
  waitForStatus,
  type Journey,
  type Outcome,
} from '../helpers/fault-checks';
import { startFaultStack, synthId, type FaultStack } from '../helpers/fault-stack';

jest.setTimeout(240_000);

const OUTAGE_MS = 30_000;

let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack({ title: 'postgres-outage', users: 40 });
  // A worker that dies is replaced, as its container's restart policy would; the death is still reported below.
  await stack.command('supervise', { on: true });
  await stack.startWorker();
  await stack.command('startApi');
});
afterAll(async () => {
  await stack?.stop();
});

const github = { entitlement: 'github:member', justification: 'Needed for code review duty.' };
const analytics = { entitlement: 'analytics-db:read', justification: 'Quarterly churn analysis.' };

test('a 30 s PostgreSQL outage: 503 with Retry-After meanwhile, then every request catches up, once', async () => {
  const findings = new Findings();
  const users = Array.from({ length: 40 }, (_, i) => synthId(i + 1));
  const decide = (id: string, decision: 'approve' | 'deny') =>
    persist(stack, 'POST', `/v1/requests/${id}/decisions`, { as: 'bob', body: { decision }, key: `decide-${id}` });

  // Before: grants that expire during the outage, approvals waiting for bob.
  const outcomes: Outcome[] = [];
  const early = await mapLimit(users.slice(0, 8), 8, async (user) => ({
    user,
    id: await submitRequest(stack, user, { ...github, duration: 'PT15S' }),
    journey: 'auto' as Journey,
  }));
  const waiting = await mapLimit(users.slice(8, 20), 6, async (user, i) => ({
    user,
    id: await submitRequest(stack, user, { ...analytics, duration: 'PT10S' }),
    journey: (i % 4 === 3 ? 'deny' : 'approve') as Journey,
  }));
  outcomes.push(...early, ...waiting);
  for (const o of early) await waitForStatus(stack, o.id, ['active']);
  for (const o of waiting) await waitForStatus(stack, o.id, ['pending_approval']);

  // In flight as it stops: fresh submissions still provisioning — the webhook gateway is slow to answer, so their
  // transactions are open when the database goes — and half of bob's decisions.
  await stack.command('delayAnswers', { ms: 6000 });
  const fresh = await mapLimit(users.slice(20, 32), 12, async (user, i) => ({
    user,
    id: await submitRequest(
      stack,
      user,
      i % 2 ? { ...github, duration: 'PT10S' } : { ...analytics, duration: 'PT10S' },
    ),
    journey: (i % 2 ? 'auto' : 'approve') as Journey,
  }));
  outcomes.push(...fresh);
  const half = waiting.slice(0, 6);
  const decidedEarly = mapLimit(half, 6, (o) => decide(o.id, o.journey === 'deny' ? 'deny' : 'approve'));
  decidedEarly.catch(() => undefined); // awaited below

  const stoppedAt = Date.now();
  await stack.command('stopPostgres');
  await stack.command('delayAnswers', { ms: 0 });

  // ---- the outage: the API says "unavailable, retry later" ----
  const ready = await stack.api('GET', '/readyz');
  findings.check(
    ready.status === 503 && ready.body.checks?.postgres === 'failed',
    `/readyz during the outage: ${ready.status} ${JSON.stringify(ready.body)}`,
  );
  findings.check(!!ready.headers.get('retry-after'), '/readyz sent no Retry-After');
  const late = users[32] as string;
  const body = { ...github, duration: 'PT10S' };
  const refused = await stack.api('POST', '/v1/requests', {
    as: late,
    body,
    headers: { 'Idempotency-Key': `outage-${late}` },
  });
  findings.check(
    refused.status === 503 && refused.headers.get('content-type')?.startsWith('application/problem+json') === true,
    `POST /v1/requests during the outage: ${refused.status} ${JSON.stringify(refused.body)}`,
  );
  findings.check(!!refused.headers.get('retry-after'), 'the 503 to a submission sent no Retry-After');
  // The other half of bob's decisions is sent in the outage and retried as Retry-After says until it lands.
  const undecided = [...waiting.slice(6), ...fresh.filter((o) => o.journey !== 'auto')];
  const decidedLate = mapLimit(undecided, 6, async (o) => {
    await waitForStatus(stack, o.id, ['pending_approval'], 120_000);
    return decide(o.id, o.journey === 'deny' ? 'deny' : 'approve');
  });
  decidedLate.catch(() => undefined); // awaited below

  await sleep(Math.max(0, stoppedAt + OUTAGE_MS - Date.now()));
  await stack.command('startPostgres');
  const restartedAt = Date.now();

  // The refused submission, retried with its key, creates the request once.
  const retried = await persist<{ id: string }>(stack, 'POST', '/v1/requests', {
    as: late,
    body,
    key: `outage-${late}`,
  });
  findings.check(retried.status === 201, `the retried submission answered ${retried.status}`);
  outcomes.push({ user: late, id: retried.body.id, journey: 'auto' });

  for (const answer of [...(await decidedEarly), ...(await decidedLate)]) {
    findings.check(answer.status === 200, `a decision answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  await waitForFinal(
    stack,
    outcomes.map((o) => o.id),
    150_000,
  );
  const finalAt = Date.now();
  const traces = await crashTraces(
    stack,
    outcomes.map((o) => o.id),
  );
  process.stdout.write(
    `postgres-outage: down ${Math.round((restartedAt - stoppedAt) / 1000)} s; all final ` +
      `${Math.round((finalAt - restartedAt) / 1000)} s after the restart; most attempts per activity ` +
      `${JSON.stringify(traces.maxAttempts)}\n`,
  );

  await checkOutcomes(stack, outcomes, findings);
  const { rows } = await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM requests WHERE requester = $1', [
    late,
  ]);
  findings.check(rows[0]?.n === 1, `${late} has ${rows[0]?.n} request rows, not 1`);
  expect(findings.summary()).toBe('0 findings:\n  ');
});

test('no process dies while PostgreSQL is away: the worker and the API ride the outage out', async () => {
  // A worker that cannot reach PostgreSQL at start-up exits by design; one that was running must not die.
  const unexpected = (await stack.exits()).filter((e) => !e.expected && e.started);
  // The error and its code, from the dead process's log (its stack trace says no more).
  const tail = unexpected.length ? await stack.logTail(unexpected[0]?.name ?? '', 8000) : '';
  const crash = tail
    .split('\n')
    .filter((line) => /^\w*error\b|Unhandled|^\s+code: /i.test(line))
    .join(' | ');
  expect({ unexpected, crash }).toEqual({ unexpected: [], crash: '' });
});
