import { Context } from '@temporalio/activity';
import type { GrantSpec } from '../../domain/model';
import { revokeUpdate, type RequestView } from '../../workflows/messages';
import { connectorTaskQueue } from '../../workflows/request/connector-queue';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';

/**
 * Connector calls are bounded per worker by the slots of a task queue of their own (issue 14, an expiry storm): the
 * calls beyond the bound wait in Temporal's queue before their attempt starts, so none spends its start-to-close
 * timeout or a retry waiting, and the bookkeeping on the workflow's own queue goes on meanwhile.
 */
jest.setTimeout(90_000);

const BOUND = 2;
const REQUESTS = 5;
// People of this test's own: every suite of a run shares the test database, and a live claim of a demo person would
// make another suite's request a duplicate.
const people = Array.from({ length: REQUESTS }, () => uniqueId('cq').replace(/[^a-z0-9-]/g, ''));

let inFlight = 0;
let most = 0;
const attempts: number[] = [];
let release: () => void = () => undefined;
const held = new Promise<void>((resolve) => (release = resolve));

/** A target that holds every call until released, counting the calls at once and each call's attempt. */
async function grantAccess({ grant }: { grant: GrantSpec }): Promise<{ startedAt: string; expiresAt: string }> {
  attempts.push(Context.current().info.attempt);
  inFlight++;
  most = Math.max(most, inFlight);
  try {
    await held;
  } finally {
    inFlight--;
  }
  const startedAt = new Date();
  return {
    startedAt: startedAt.toISOString(),
    expiresAt: new Date(startedAt.getTime() + grant.durationMs).toISOString(),
  };
}

let env: TestEnv;
beforeAll(async () => {
  env = await startEnv({
    title: 'connector-queue',
    connectorConcurrency: BOUND,
    activities: { grantAccess },
    configure: (raw) => {
      for (const id of people) {
        raw.directory.users.push({ id, name: id, department: 'engineering', manager: 'bob', groups: ['engineering'] });
      }
      return raw;
    },
  });
});
afterAll(async () => {
  release();
  await env?.stop();
});

const is = (status: RequestView['status']) => (v: RequestView) => v.status === status;

test('with two slots, five grants reach the target two at a time, on the connector queue, each in one attempt', async () => {
  const ids = people.map(() => uniqueId('cq'));
  const handles = await Promise.all(
    people.map((person, i) => env.submit(person, { entitlement: 'github:member', duration: 'P1D' }, ids[i])),
  );
  try {
    // Every request's transition to provisioning is written while the target holds two calls: the bookkeeping is
    // not held up by the connector's bound.
    await Promise.all(ids.map((id) => env.waitFor(id, is('provisioning'))));
    for (let i = 0; i < 50 && inFlight < BOUND; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000)); // time for more calls to arrive, were they not held back
    expect({ inFlight, most }).toEqual({ inFlight: BOUND, most: BOUND });

    release();
    await Promise.all(ids.map((id) => env.waitFor(id, is('active'))));
    expect(most).toBe(BOUND);
    // No call waited inside an attempt: none timed out and was tried again.
    expect(attempts).toEqual(Array.from({ length: REQUESTS }, () => 1));
    const history = await handles[0]!.fetchHistory();
    const queues = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a?.activityType?.name === 'grantAccess')
      .map((a) => a?.taskQueue?.name);
    expect(queues).toEqual([connectorTaskQueue(env.taskQueue)]);
  } finally {
    release();
    // End every request this test started, so no claim outlives it.
    for (const handle of handles) {
      await handle
        .executeUpdate(revokeUpdate, { args: [{ by: 'system', reason: 'test clean-up' }] })
        .catch(() => undefined);
    }
    await Promise.all(ids.map((id) => env.waitFor(id, is('revoked'))));
  }
});
