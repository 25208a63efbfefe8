/**
 * Scale-out: two API processes and two worker processes on one Temporal server and one PostgreSQL. Requests are
 * submitted on one API and decided on the other while one worker is SIGKILLed mid-way; every request still ends
 * as it should, with each grant, revoke and audit step exactly once. The write rate limit is one limit for both APIs.
 */
import {
  checkOutcomes,
  Findings,
  mapLimit,
  persist,
  waitForFinal,
  waitForStatus,
  type Journey,
} from '../helpers/fault-checks';
import { startFaultStack, synthId, type FaultStack } from '../helpers/fault-stack';

jest.setTimeout(240_000);

const LIMIT = 10;
const PLAN: Journey[] = ['approve', 'auto', 'deny', 'approve', 'auto', 'deny', 'approve', 'auto'];
const LIMITED_USER = synthId(PLAN.length + 1);

let stack: FaultStack;
let apiA: string;
let apiB: string;
let workers: string[];
beforeAll(async () => {
  stack = await startFaultStack({ title: 'scale-out', users: PLAN.length + 1 });
  workers = [await stack.startWorker(), await stack.startWorker()];
  // A is the stack's own API (its audit checks go there too), B another instance beside it.
  await stack.command('startApi', { rateLimitPerMinute: LIMIT });
  apiA = stack.state.apiUrl;
  apiB = (await stack.command<{ url: string }>('startAnotherApi', { rateLimitPerMinute: LIMIT })).url;
});
afterAll(async () => {
  await stack?.stop();
});

test('submitted on one API, decided on the other, a worker killed mid-way: same results, nothing doubled', async () => {
  const plan = PLAN.map((journey, i) => ({ user: synthId(i + 1), journey, id: '' }));
  const body = (journey: Journey) =>
    journey === 'auto'
      ? { entitlement: 'github:member', justification: 'Needed for code review duty.', duration: 'PT20S' }
      : { entitlement: 'analytics-db:read', justification: 'Quarterly churn analysis.', duration: 'PT15S' };

  // Submitted on A; half-way through the submissions, one of the two workers dies and the other carries on.
  await mapLimit(plan, 4, async (p, i) => {
    if (i === plan.length / 2) await stack.command('killWorker', { name: workers[0] });
    p.id = await submitRequestOn(apiA, p.user, body(p.journey));
  });

  // Decided by bob on B, each once the request waits on him.
  const decisions = await mapLimit(
    plan.filter((p) => p.journey !== 'auto'),
    4,
    async (p) => {
      await waitForStatus(stack, p.id, ['pending_approval'], 60_000);
      const answer = await persist(stack, 'POST', `/v1/requests/${p.id}/decisions`, {
        as: 'bob',
        body: { decision: p.journey === 'deny' ? 'deny' : 'approve', comment: 'scale-out test' },
        key: `decide-${p.id}`,
        base: apiB,
      });
      return `${p.id} ${answer.status}`;
    },
  );
  expect(decisions.filter((d) => !d.endsWith(' 200'))).toEqual([]);

  await waitForFinal(
    stack,
    plan.map((p) => p.id),
    120_000,
  );
  const findings = new Findings();
  await checkOutcomes(
    stack,
    plan.map((p) => ({ id: p.id, user: p.user, journey: p.journey })),
    findings,
  );
  const unexpected = (await stack.exits()).filter((e) => !e.expected);
  findings.check(unexpected.length === 0, `processes died on their own: ${JSON.stringify(unexpected)}`);
  expect(findings.summary()).toBe('0 findings:\n  ');
});

test('the write rate limit is one limit across both APIs', async () => {
  // Alternating between the two instances: each alone would take all of these, together they take LIMIT.
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT + 4; i++) {
    const answer = await stack.api('POST', '/v1/requests/preview', {
      as: LIMITED_USER,
      body: { entitlement: 'github:member', justification: 'Needed for code review duty.' },
      base: i % 2 === 0 ? apiA : apiB,
    });
    statuses.push(answer.status);
    if (answer.status === 429) expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
  }
  expect(statuses).toEqual([...Array<number>(LIMIT).fill(200), 429, 429, 429, 429]);
});

async function submitRequestOn(base: string, user: string, body: Record<string, unknown>): Promise<string> {
  const answer = await persist<{ id: string }>(stack, 'POST', '/v1/requests', {
    as: user,
    body,
    key: `submit-${user}`,
    base,
  });
  if (answer.status !== 201) throw new Error(`submit as ${user} answered ${answer.status}`);
  return answer.body.id;
}
