import { Client, ServiceError } from '@temporalio/client';
import { attestSignals } from '../../activities/signal-attest';
import { createLogger } from '../../platform/logger';
import { SYSTEM_ACTOR } from '../../domain/model';
import { decideSignal, revokeUpdate, workflowIdFor } from '../../workflows/messages';
import { startEnv, testAuditLog, uniqueId, type TestEnv } from '../helpers/harness';

jest.setTimeout(60_000);

let env: TestEnv;
beforeAll(async () => {
  env = await startEnv({ title: 'signal-attest' });
});
afterAll(() => env?.stop());

const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');

async function attestedFor(requestId: string) {
  const { rows } = await env.pool.query<{ data: Record<string, unknown> }>(
    "SELECT data FROM audit_events WHERE request_id = $1 AND action = 'signal_attested' ORDER BY seq",
    [requestId],
  );
  return rows.map((r) => r.data);
}

test("an operator's signal in bob's name is attested with the operator's Temporal client identity, once", async () => {
  const id = uniqueId();
  await env.submit('alice', { entitlement: 'analytics-db:read' }, id);
  await env.waitFor(id, (v) => v.pendingApprovers.includes('bob'));
  // The attack: someone who can reach the Temporal frontend approves in bob's name. The workflow cannot tell.
  const operator = new Client({ connection: env.connection, identity: 'mallory@ops-laptop' });
  await operator.workflow.getHandle(workflowIdFor(id)).signal(decideSignal, { approver: 'bob', decision: 'approve' });
  const active = await env.waitFor(id, (v) => v.status === 'active');
  expect(active.stages[0]?.decisions.map((d) => [d.approver, d.via])).toEqual([['bob', 'signal']]);
  expect(await attestedFor(id)).toEqual([]);

  const audit = testAuditLog(env.pool);
  const deps = {
    pool: env.pool,
    client: env.client,
    log,
    recordAudit: (e: Parameters<typeof audit.append>[0][0]) => audit.append([e]),
  };
  // Other suites share the trail: pass until this request's turn has come.
  for (let pass = 0; pass < 20 && (await attestedFor(id)).length === 0; pass++) await attestSignals(deps);
  const attested = await attestedFor(id);
  expect(attested).toEqual([
    expect.objectContaining({ signal: 'decide', clientIdentity: 'mallory@ops-laptop', claimedBy: 'bob' }),
  ]);
  expect(attested[0]?.payloadSha256).toMatch(/^[0-9a-f]{64}$/);

  // A second pass (a restarted worker, an overlapping timer) adds nothing, and the chain still verifies.
  await attestSignals(deps);
  expect(await attestedFor(id)).toHaveLength(1);
  expect((await audit.verify()).ok).toBe(true);
  // The test database is shared by every suite of the run: end the grant, so alice's claim on it blocks no other.
  await env.client.workflow
    .getHandle(workflowIdFor(id))
    .executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason: 'test done' }] });
  await env.waitFor(id, (v) => v.status === 'revoked');
});

async function cursorNow(): Promise<number> {
  const { rows } = await env.pool.query<{ n: string | null }>(
    "SELECT max((data->>'sourceSeq')::bigint)::text AS n FROM audit_events WHERE action = 'signal_attested'",
  );
  return Number(rows[0]?.n ?? 0);
}

async function newestSignalSeq(requestId: string): Promise<number> {
  const { rows } = await env.pool.query<{ n: string }>(
    "SELECT max(seq)::text AS n FROM audit_events WHERE request_id = $1 AND data->>'via' = 'signal'",
    [requestId],
  );
  return Number(rows[0]?.n ?? 0);
}

test('a pass that cannot read one history stops there: the cursor does not pass it, and the next pass attests both', async () => {
  const first = uniqueId();
  const second = uniqueId();
  for (const [person, id] of [
    ['alice', first],
    ['frank', second],
  ] as const) {
    await env.submit(person, { entitlement: 'analytics-db:read' }, id);
    await env.waitFor(id, (v) => v.pendingApprovers.includes('bob'));
    await env.client.workflow
      .getHandle(workflowIdFor(id))
      .signal(decideSignal, { approver: 'bob', decision: 'approve' });
    await env.waitFor(id, (v) => v.status === 'active');
  }
  const firstSeq = await newestSignalSeq(first);
  expect(await newestSignalSeq(second)).toBeGreaterThan(firstSeq);

  const audit = testAuditLog(env.pool);
  const recordAudit = (e: Parameters<typeof audit.append>[0][0]) => audit.append([e]);
  // The fault: Temporal cannot be reached for the first request's history (the frontend dropped the connection).
  const cut = workflowIdFor(first);
  const unreachable = new ServiceError('14 UNAVAILABLE: Connection dropped');
  const flaky = {
    workflow: {
      list: (opts: { query: string }) => env.client.workflow.list(opts),
      getHandle: (workflowId: string, runId?: string) => {
        const handle = env.client.workflow.getHandle(workflowId, runId);
        if (workflowId !== cut) return handle;
        return {
          ...handle,
          fetchHistory: () => Promise.reject(unreachable),
          describe: () => Promise.reject(unreachable),
        };
      },
    },
  } as unknown as Client;
  let report = await attestSignals({ pool: env.pool, client: flaky, log, recordAudit });
  // Other suites share the trail: pass until this test's first request is reached.
  for (let pass = 0; pass < 20 && report.stoppedAt !== first; pass++) {
    report = await attestSignals({ pool: env.pool, client: flaky, log, recordAudit });
  }
  expect(report.stoppedAt).toBe(first);
  expect(report.through).toBeLessThan(firstSeq);
  expect(await cursorNow()).toBeLessThan(firstSeq);
  expect(await attestedFor(first)).toEqual([]);
  expect(await attestedFor(second)).toEqual([]);

  // Temporal is back: the next pass takes both, in order, and the cursor moves past them.
  report = await attestSignals({ pool: env.pool, client: env.client, log, recordAudit });
  expect(report.stoppedAt).toBeUndefined();
  expect((await attestedFor(first)).map((a) => a.claimedBy)).toEqual(['bob']);
  expect((await attestedFor(second)).map((a) => a.claimedBy)).toEqual(['bob']);
  expect(await cursorNow()).toBeGreaterThanOrEqual(await newestSignalSeq(second));
  expect((await audit.verify()).ok).toBe(true);

  for (const id of [first, second]) {
    await env.client.workflow
      .getHandle(workflowIdFor(id))
      .executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason: 'test done' }] });
    await env.waitFor(id, (v) => v.status === 'revoked');
  }
});
