/**
 * The defects of the first workflow (issue "The promise, by construction"), each replayed against the redesigned
 * one on the real Temporal server and PostgreSQL. Each test failed against workflows/legacy/access-request-v1.ts.
 */
import http from 'node:http';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { accessRequestV2 } from '../../workflows';
import {
  cancelUpdate,
  decideSignal,
  decideUpdate,
  extendUpdate,
  fulfilUpdate,
  retryUpdate,
  revokeUpdate,
  workflowIdFor,
  type RequestView,
} from '../../workflows/messages';
import { auditActions, startEnv, uniqueId, withSla, type TestEnv } from '../helpers/harness';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function refusal(promise: Promise<unknown>): Promise<{ type?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause as { type?: string; message: string };
    return { type: cause.type, message: cause.message };
  }
  throw new Error('expected the update to be refused');
}

const extend = (handle: WorkflowHandle, by: string, durationMs: number) =>
  handle.executeUpdate(extendUpdate, { args: [{ by, durationMs, justification: 'the work takes longer' }] });

/** alice asks analytics-db:read for svc-ci (the service account she owns); bob is the approver. */
async function serviceAccountRequest(env: TestEnv, id: string, historyLimit?: number) {
  started.push(id);
  const handle = await env.client.workflow.start<typeof accessRequestV2>('accessRequestV2', {
    workflowId: workflowIdFor(id),
    taskQueue: env.taskQueue,
    args: [
      {
        requestId: id,
        requester: 'alice',
        input: {
          entitlement: 'analytics-db:read',
          beneficiary: 'svc-ci',
          justification: 'CI reads fixtures from the analytics database.',
          duration: 'PT8H',
          fields: {},
          breakGlass: false,
        },
        submittedAt: new Date().toISOString(),
        ...(historyLimit !== undefined && { historyLimit }),
      },
    ],
  });
  await env.waitFor(id, (v) => v.pendingApprovers.includes('bob'));
  return handle;
}

async function approvedServiceAccountGrant(env: TestEnv, id: string, historyLimit?: number) {
  const handle = await serviceAccountRequest(env, id, historyLimit);
  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'bob', decision: 'approve' }] });
  await env.waitFor(id, (v) => v.status === 'active');
  return handle;
}

let env: TestEnv;
beforeAll(async () => {
  env = await startEnv({
    title: 'promise',
    configure: (raw) => {
      // Long read access also needs security: a rule that only an extension's new total duration can trigger.
      const medium = raw.policy.rules.findIndex((r: { name: string }) => r.name === 'medium');
      raw.policy.rules.splice(medium, 0, {
        name: 'long-read',
        when: { entitlements: ['analytics-db:read'], durationOver: 'P14D' },
        plan: [
          { name: 'manager', approvers: ['manager'], sla: { deadline: 'PT72H' } },
          { name: 'security', approvers: ['group:security'], sla: { deadline: 'PT72H' } },
        ],
      });
      return raw;
    },
  });
});
afterAll(async () => {
  await env?.stop();
});

// A failed test must not leave svc-ci holding the grant that the next test asks for.
const started: string[] = [];
afterEach(async () => {
  for (const id of started.splice(0)) {
    const handle = env.client.workflow.getHandle(workflowIdFor(id));
    for (const update of [revokeUpdate, cancelUpdate]) {
      await handle.executeUpdate(update, { args: [{ by: 'dave', reason: 'test clean-up' }] }).catch(() => undefined);
    }
    await handle.result().catch(() => undefined);
  }
});

test('defect 1: after continue-as-new an extension past the allowance still needs approval', async () => {
  const id = uniqueId();
  const handle = await approvedServiceAccountGrant(env, id, 60);
  const firstRun = (await handle.describe()).runId;
  let latest = env.client.workflow.getHandle(workflowIdFor(id));
  for (let i = 0; i < 40 && (await latest.describe()).runId === firstRun; i++) {
    expect((await extend(latest, 'alice', 1000)).outcome).toBe('extended');
    latest = env.client.workflow.getHandle(workflowIdFor(id));
  }
  expect((await latest.describe()).runId).not.toBe(firstRun);
  const result = await extend(latest, 'alice', 20 * DAY);
  expect(result.outcome).toBe('pending_approval');
  const view = await env.view(id);
  expect(view.extension?.status).toBe('pending_approval');
  expect(Date.parse(view.grant!.expiresAt) - Date.parse(view.grant!.startedAt)).toBeLessThan(9 * HOUR);
  await latest.executeUpdate(revokeUpdate, { args: [{ by: 'alice' }] });
  await env.waitFor(id, (v) => v.status === 'revoked');
});

test('defect 2: an extension is evaluated again for its new total duration', async () => {
  const id = uniqueId();
  const handle = await approvedServiceAccountGrant(env, id);
  const before = await env.view(id);
  expect(before.plan?.rule).toBe('medium');
  // 40 days in all: the policy now wants security too.
  expect((await extend(handle, 'alice', 40 * DAY)).outcome).toBe('pending_approval');
  const view = await env.view(id);
  expect(view.extension).toMatchObject({ status: 'pending_approval', rule: 'long-read', round: 1 });
  expect(view.extension?.stages.map((s) => s.name)).toEqual(['manager', 'security']);
  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'bob', decision: 'approve' }] });
  // The next stage is open the moment the approval returns (defect 10).
  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'dave', decision: 'approve' }] });
  const extended = await env.view(id);
  expect(extended.extension?.status).toBe('approved');
  expect(extended.grant?.extensions).toBe(1);
  // Defect 9: the extension's round notified its approvers under keys of its own.
  const { rows } = await env.pool.query<{ key: string }>('SELECT key FROM notifications WHERE request_id = $1', [id]);
  expect(rows.map((r) => r.key)).toEqual(
    expect.arrayContaining([`${id}:ext1:manager:open`, `${id}:ext1:security:open`]),
  );
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'dave' }] });
  await env.waitFor(id, (v) => v.status === 'revoked');
});

test('defect 3: concurrent extensions cannot add up past the free allowance', async () => {
  const id = uniqueId();
  const handle = await approvedServiceAccountGrant(env, id);
  const results = await Promise.allSettled([1, 2, 3].map(() => extend(handle, 'alice', 3 * DAY)));
  const accepted = results.filter((r) => r.status === 'fulfilled');
  expect(accepted).toHaveLength(1);
  for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
    expect(((r.reason as WorkflowUpdateFailedError).cause as { type?: string }).type).toBe('InvalidState');
  }
  const view = await env.view(id);
  const total = Date.parse(view.grant!.expiresAt) - Date.parse(view.grant!.startedAt);
  expect(total).toBeLessThanOrEqual(7 * DAY);
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'alice' }] });
  await env.waitFor(id, (v) => v.status === 'revoked');
});

test('defect 6: separation of duties spans the person and the service accounts they own, failed included', async () => {
  const first = uniqueId();
  await env.submit('alice', { entitlement: 'payroll:approver' }, first);
  await env.waitFor(first, (v) => v.status === 'pending_approval');
  const second = uniqueId();
  await env.submit('alice', { entitlement: 'payroll:viewer', beneficiary: 'svc-ci' }, second);
  const rejected = await env.waitFor(second, (v) => v.status === 'rejected');
  expect(rejected.reasons.map((r) => r.code)).toContain('sod_conflict');
  await env.client.workflow
    .getHandle(workflowIdFor(first))
    .executeUpdate(cancelUpdate, { args: [{ by: 'alice', reason: 'done' }] });
  await env.waitFor(first, (v) => v.status === 'cancelled');
});

test('defect 8: a malformed signal is recorded and refused, and the request still ends', async () => {
  const id = uniqueId();
  const handle = await env.submit('alice', { entitlement: 'analytics-db:read', duration: 'PT1H' }, id);
  await env.waitFor(id, (v) => v.pendingApprovers.includes('bob'));
  await handle.signal(decideSignal, {} as never);
  await handle.signal(decideSignal, { approver: 'bob', decision: 'deny', comment: 'not now' });
  const done = await handle.result();
  expect(done.status).toBe('denied');
  const { rows } = await env.pool.query(
    `SELECT actor, data->>'refusal' AS refusal FROM audit_events WHERE request_id = $1 AND action = 'refused'`,
    [id],
  );
  expect(rows).toEqual([{ actor: 'unknown', refusal: 'Malformed' }]);
});

test('defect 10: the inbox shows a stage the moment the view does', async () => {
  const id = uniqueId();
  await env.submit('alice', { entitlement: 'analytics-db:read', duration: 'PT1H' }, id);
  const view = await env.waitFor(id, (v) => v.status !== 'validating');
  expect(view.pendingApprovers).toEqual(['bob']);
  const { rows } = await env.pool.query('SELECT status, pending_approvers FROM requests WHERE id = $1', [id]);
  expect(rows[0]).toEqual({ status: 'pending_approval', pending_approvers: ['bob'] });
  await env.client.workflow
    .getHandle(workflowIdFor(id))
    .executeUpdate(cancelUpdate, { args: [{ by: 'dave', reason: 'security may cancel too' }] });
  expect((await env.view(id)).status).toBe('cancelled');
});

test("grantflow's automation ends a request in any phase: pending as cancelled, active as revoked", async () => {
  // Waiting for bob: the system's revoke (a leaver's offboarding, an access review) cancels it.
  const pendingId = uniqueId();
  const pending = await serviceAccountRequest(env, pendingId);
  await pending.executeUpdate(revokeUpdate, { args: [{ by: 'system', reason: 'offboarding: alice left' }] });
  expect(((await pending.result()) as RequestView).status).toBe('cancelled');

  // Active: revoked, with the reason in the audit trail; nobody else gets the system's reach.
  const id = uniqueId();
  const handle = await approvedServiceAccountGrant(env, id);
  const stranger = await refusal(handle.executeUpdate(revokeUpdate, { args: [{ by: 'carol' }] }));
  expect(stranger.type).toBe('NotAllowed');
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'system', reason: 'access review: not vouched for' }] });
  const done = (await handle.result()) as RequestView;
  expect(done.status).toBe('revoked');
  const { rows } = await env.pool.query<{ actor: string; reason: string }>(
    "SELECT actor, data->>'reason' AS reason FROM audit_events WHERE request_id = $1 AND action = 'revoked'",
    [id],
  );
  expect(rows).toEqual([{ actor: 'system', reason: 'access review: not vouched for' }]);
});

describe('manual fulfilment (defects 5 and 7)', () => {
  let fast: TestEnv;
  beforeAll(async () => {
    fast = await startEnv({
      title: 'promise-manual',
      configure: (raw) => {
        const payroll = raw.catalog.resources.find((r: { id: string }) => r.id === 'payroll');
        payroll.connector.sla = 'PT2S';
        return withSla(raw, { deadline: 'PT60S' });
      },
    });
  });
  afterAll(async () => {
    await fast?.stop();
  });

  async function approvedPayroll(id: string): Promise<WorkflowHandle> {
    const handle = await fast.submit('alice', { entitlement: 'payroll:viewer' }, id);
    for (const approver of ['bob', 'carol', 'dave']) {
      await fast.waitFor(id, (v) => v.pendingApprovers.includes(approver));
      await handle.executeUpdate(decideUpdate, { args: [{ approver, decision: 'approve' }] });
    }
    return handle;
  }

  test('a late fulfilment is refused while failed; a retry opens a new task; a cancel after it revokes', async () => {
    const id = uniqueId();
    const handle = await approvedPayroll(id);
    const failed = await fast.waitFor(id, (v) => v.status === 'failed');
    expect(failed.failedAction).toBe('provisioning');
    const fulfiller = failed.fulfilment!.fulfillers[0]!;
    expect((await refusal(handle.executeUpdate(fulfilUpdate, { args: [{ by: fulfiller }] }))).type).toBe(
      'InvalidState',
    );
    await handle.executeUpdate(retryUpdate, { args: [{ by: 'dave' }] });
    const reopened = await fast.waitFor(id, (v) => v.fulfilment?.round === 2 && v.fulfilment.status === 'open');
    expect(reopened.pendingApprovers).toContain(fulfiller);
    await handle.executeUpdate(fulfilUpdate, { args: [{ by: fulfiller, comment: 'added by hand' }] });
    const active = await fast.waitFor(id, (v) => v.status === 'active');
    expect(active.grant).toBeDefined();
    await handle.executeUpdate(revokeUpdate, { args: [{ by: 'alice' }] });
    const revoking = await fast.waitFor(id, (v) => v.fulfilment?.task === 'revoke');
    expect(revoking.status).toBe('active');
    await handle.executeUpdate(fulfilUpdate, { args: [{ by: fulfiller }] });
    const done = await handle.result();
    expect(done.status).toBe('revoked');
    const { rows } = await fast.pool.query<{ key: string }>('SELECT key FROM notifications WHERE request_id = $1', [
      id,
    ]);
    expect(rows.map((r) => r.key)).toEqual(
      expect.arrayContaining([`${id}:fulfil:grant:1`, `${id}:fulfil:grant:2`, `${id}:fulfil:revoke:3`]),
    );
  });

  test('a cancel while validating ends the request instead of wedging it', async () => {
    const id = uniqueId();
    const handle = await fast.submit('alice', { entitlement: 'payroll:approver' }, id);
    await handle.executeUpdate(cancelUpdate, { args: [{ by: 'alice' }] });
    const done = (await handle.result()) as RequestView;
    expect(done.status).toBe('cancelled');
    expect(await auditActions(fast.pool, id)).toEqual(expect.arrayContaining(['cancel_requested', 'cancelled']));
  });
});

describe('a target that cannot revoke (defect 4)', () => {
  let up = true;
  const calls: string[] = [];
  const gateway = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const { action, requestId } = JSON.parse(body) as { action: string; requestId: string };
      calls.push(`${requestId}:${action}:${up ? 'ok' : 'down'}`);
      res.writeHead(up ? 200 : 503, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  let failing: TestEnv;
  beforeAll(async () => {
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(gateway.address() as { port: number }).port}/scim`;
    failing = await startEnv({
      title: 'promise-revoke',
      configure: (raw) => {
        raw.catalog.resources.find((r: { id: string }) => r.id === 'github').connector.url = url;
        return raw;
      },
    });
  });
  afterAll(async () => {
    await failing?.stop();
    await new Promise((r) => gateway.close(r));
  });

  test('the request shows failed (revocation) after its budget, alerts operators, and an operator retries', async () => {
    up = true;
    const id = uniqueId();
    const handle = await failing.client.workflow.start<typeof accessRequestV2>('accessRequestV2', {
      workflowId: workflowIdFor(id),
      taskQueue: failing.taskQueue,
      args: [
        {
          requestId: id,
          requester: 'alice',
          input: {
            entitlement: 'github:member',
            justification: 'Code review',
            duration: 'PT2S',
            fields: {},
            breakGlass: false,
          },
          submittedAt: new Date().toISOString(),
          connectorAttempts: 2,
        },
      ],
    });
    await failing.waitFor(id, (v) => v.status === 'active');
    up = false;
    const failed = await failing.waitFor(id, (v) => v.status === 'failed', 60_000);
    expect(failed.failedAction).toBe('revocation');
    // The search attribute follows the written view by one workflow task (the upsert after the bookkeeping).
    let status: unknown;
    for (let i = 0; i < 50 && JSON.stringify(status) !== '["failed"]'; i++) {
      status = (await handle.describe()).searchAttributes.GrantflowStatus;
      if (JSON.stringify(status) !== '["failed"]') await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toEqual(['failed']);
    const { rows } = await failing.pool.query<{ key: string; recipients: string[] }>(
      'SELECT key, recipients FROM notifications WHERE request_id = $1',
      [id],
    );
    expect(rows.find((r) => r.key === `${id}:revocation_failed:1`)?.recipients).toEqual(
      expect.arrayContaining(['dave']),
    );
    up = true;
    await handle.executeUpdate(retryUpdate, { args: [{ by: 'dave' }] });
    const done = (await handle.result()) as RequestView;
    expect(done.status).toBe('expired');
    expect(calls.filter((c) => c.startsWith(id)).slice(-1)).toEqual([`${id}:revoke:ok`]);
  });
});
