import http from 'node:http';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  cancelUpdate,
  decideSignal,
  decideUpdate,
  extendUpdate,
  fulfilUpdate,
  retrySignal,
  reviewUpdate,
  revokeUpdate,
  type RequestView,
} from '../../workflows/messages';
import { auditActions, hasRole, startEnv, testAuditLog, uniqueId, withSla, type TestEnv } from '../helpers/harness';

jest.setTimeout(90_000);

let env: TestEnv;
beforeAll(async () => {
  env = await startEnv({ title: 'lifecycle' });
});
afterAll(async () => {
  await env?.stop();
});

const isStatus =
  (...statuses: RequestView['status'][]) =>
  (v: RequestView) =>
    statuses.includes(v.status);

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

test('github:member is auto-approved, provisioned once through the webhook and expires', async () => {
  const id = uniqueId();
  await env.submit('alice', { entitlement: 'github:member', duration: 'PT3S' }, id);
  const active = await env.waitFor(id, isStatus('active'));
  expect(active.plan).toMatchObject({ kind: 'auto-approve', rule: 'low-risk-auto-approve' });
  expect(active.risk?.level).toBe('low');
  const ended = await env.waitFor(id, isStatus('expired'));
  expect(ended.grant?.endedAt).toBeDefined();
  // The grant lasts its duration from provisioning, not from submission.
  expect(Date.parse(ended.grant!.expiresAt) - Date.parse(ended.grant!.startedAt)).toBe(3000);
  const deliveries = (await env.deliveries()).filter((d) => d.key.startsWith(`${id}:`));
  expect(deliveries.map((d) => [d.key, d.count]).sort()).toEqual([
    [`${id}:grant`, 1],
    [`${id}:revoke`, 1],
  ]);
  const actions = await auditActions(env.pool, id);
  expect(actions).toEqual(
    expect.arrayContaining(['submitted', 'validated', 'auto_approved', 'provisioned', 'expired']),
  );
  await expect(testAuditLog(env.pool).verify()).resolves.toMatchObject({ ok: true });
});

test('analytics-db:write passes manager then resource owner (through the delegate), grants the role, and is revoked', async () => {
  const id = uniqueId();
  const handle = await env.submit('alice', { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-1234' } }, id);
  const pending = await env.waitFor(id, (v) => v.status === 'pending_approval' && v.pendingApprovers.length > 0);
  expect(pending.stages.map((s) => s.name)).toEqual(['manager', 'resource-owner']);
  expect(pending.pendingApprovers).toEqual(['bob']);

  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'bob', decision: 'approve', comment: 'ok' }] });
  const second = await env.waitFor(id, (v) => v.stages[1]?.status === 'open');
  // Frank is away: Grace, his delegate, may decide too.
  expect(second.pendingApprovers).toEqual(['frank', 'grace']);
  // Bob approved the first stage; he may not approve the second as well.
  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'grace', decision: 'approve' }] });
  const active = await env.waitFor(id, isStatus('active'));
  expect(active.stages.map((s) => s.status)).toEqual(['approved', 'approved']);
  expect(await hasRole('alice', 'analytics_write')).toBe(true);

  // Bob is not an owner, security or admin.
  expect((await refusal(handle.executeUpdate(revokeUpdate, { args: [{ by: 'bob' }] }))).type).toBe('NotAllowed');
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'dave', reason: 'project ended' }] });
  await env.waitFor(id, isStatus('revoked'));
  expect(await hasRole('alice', 'analytics_write')).toBe(false);
  expect(await auditActions(env.pool, id)).toEqual(
    expect.arrayContaining(['decision_recorded', 'provisioned', 'revoke_requested', 'revoked']),
  );
});

test('refused decisions each get their own answer: self-approval, ineligible, repeat, closed stage', async () => {
  const id = uniqueId();
  const handle = await env.submit('bob', { entitlement: 'analytics-db:read' }, id);
  await env.waitFor(id, (v) => v.status === 'pending_approval' && v.pendingApprovers.length > 0);
  // Bob's manager is Erin; Bob cannot approve his own request.
  expect(
    (await refusal(handle.executeUpdate(decideUpdate, { args: [{ approver: 'bob', decision: 'approve' }] }))).type,
  ).toBe('SelfApproval');
  expect(
    (await refusal(handle.executeUpdate(decideUpdate, { args: [{ approver: 'alice', decision: 'approve' }] }))).type,
  ).toBe('NotEligible');
  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'erin', decision: 'approve' }] });
  const repeat = await refusal(handle.executeUpdate(decideUpdate, { args: [{ approver: 'erin', decision: 'deny' }] }));
  expect(['AlreadyDecided', 'StageClosed']).toContain(repeat.type);
  await env.waitFor(id, isStatus('active'));
  const closed = await refusal(handle.executeUpdate(decideUpdate, { args: [{ approver: 'dave', decision: 'deny' }] }));
  expect(closed.type).toBe('StageClosed');
  expect(closed.message).toMatch(/No stage/);
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'bob', reason: 'done' }] });
  await env.waitFor(id, isStatus('revoked'));
});

test('an ineligible decision sent as a signal is recorded and ignored', async () => {
  const id = uniqueId();
  const handle = await env.submit('alice', { entitlement: 'analytics-db:read' }, id);
  await env.waitFor(id, (v) => v.pendingApprovers.includes('bob'));
  await handle.signal(decideSignal, { approver: 'alice', decision: 'approve' });
  await handle.signal(decideSignal, { approver: 'carol', decision: 'approve' });
  await handle.signal(decideSignal, { approver: 'bob', decision: 'deny', comment: 'not needed' });
  const denied = await env.waitFor(id, isStatus('denied'));
  expect(denied.stages[0]?.decisions.map((d) => [d.approver, d.decision, d.via])).toEqual([['bob', 'deny', 'signal']]);
  const { rows } = await env.pool.query(
    "SELECT actor, data->>'refusal' AS refusal FROM audit_events WHERE request_id = $1 AND action = 'refused' ORDER BY actor",
    [id],
  );
  expect(rows).toEqual([
    { actor: 'alice', refusal: 'SelfApproval' },
    { actor: 'carol', refusal: 'NotEligible' },
  ]);
  expect(await hasRole('alice', 'analytics_read')).toBe(false);
});

test('the requester cancels while pending; a second request for the same entitlement points at the first', async () => {
  const first = uniqueId();
  const handle = await env.submit('grace', { entitlement: 'analytics-db:read' }, first);
  await env.waitFor(first, isStatus('pending_approval'));
  const second = uniqueId();
  await env.submit('grace', { entitlement: 'analytics-db:read' }, second);
  const rejected = await env.waitFor(second, isStatus('rejected'));
  expect(rejected.existingRequestId).toBe(first);
  expect(rejected.reasons.map((r) => r.code)).toContain('already_requested');

  expect((await refusal(handle.executeUpdate(cancelUpdate, { args: [{ by: 'alice' }] }))).type).toBe('NotAllowed');
  await handle.executeUpdate(cancelUpdate, { args: [{ by: 'grace', reason: 'no longer needed' }] });
  await env.waitFor(first, isStatus('cancelled'));
  // The claim is released: a new request may start.
  const third = uniqueId();
  const h3 = await env.submit('grace', { entitlement: 'analytics-db:read' }, third);
  await env.waitFor(third, isStatus('pending_approval'));
  await h3.executeUpdate(cancelUpdate, { args: [{ by: 'grace' }] });
  await env.waitFor(third, isStatus('cancelled'));
});

test('payroll:viewer needs manager, owner and security, then a finance fulfiller; SoD blocks payroll:approver', async () => {
  const id = uniqueId();
  const handle = await env.submit('alice', { entitlement: 'payroll:viewer' }, id);
  for (const approver of ['bob', 'carol', 'dave']) {
    await env.waitFor(id, (v) => v.pendingApprovers.includes(approver));
    await handle.executeUpdate(decideUpdate, { args: [{ approver, decision: 'approve' }] });
  }
  const task = await env.waitFor(id, (v) => v.fulfilment?.task === 'grant');
  expect(task.status).toBe('provisioning');
  expect(task.fulfilment?.fulfillers).toEqual(['carol']);
  const sod = uniqueId();
  await env.submit('alice', { entitlement: 'payroll:approver' }, sod);
  expect((await env.waitFor(sod, isStatus('rejected'))).reasons.map((r) => r.code)).toContain('sod_conflict');

  expect((await refusal(handle.executeUpdate(fulfilUpdate, { args: [{ by: 'dave' }] }))).type).toBe('NotEligible');
  await handle.executeUpdate(fulfilUpdate, { args: [{ by: 'carol', comment: 'added in payroll' }] });
  await env.waitFor(id, isStatus('active'));
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'carol' }] });
  await env.waitFor(id, (v) => v.fulfilment?.task === 'revoke');
  await handle.executeUpdate(fulfilUpdate, { args: [{ by: 'carol', comment: 'removed' }] });
  await env.waitFor(id, isStatus('revoked'));
});

test('extension within the free allowance is applied at once; beyond the maximum it is refused', async () => {
  const id = uniqueId();
  const handle = await env.submit('alice', { entitlement: 'github:member', duration: 'P1D' }, id);
  const active = await env.waitFor(id, isStatus('active'));
  const result = await handle.executeUpdate(extendUpdate, {
    args: [{ by: 'alice', durationMs: 86_400_000, justification: 'still onboarding' }],
  });
  expect(result.outcome).toBe('extended');
  expect(Date.parse(result.expiresAt) - Date.parse(active.grant!.expiresAt)).toBe(86_400_000);
  const tooLong = await refusal(
    handle.executeUpdate(extendUpdate, {
      args: [{ by: 'alice', durationMs: 400 * 86_400_000, justification: 'forever' }],
    }),
  );
  expect(tooLong.type).toBe('ExtensionTooLong');
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'alice' }] });
  await env.waitFor(id, isStatus('revoked'));
});

describe('with short SLAs', () => {
  let fast: TestEnv;
  beforeAll(async () => {
    fast = await startEnv({
      title: 'fast-sla',
      configure: (raw) => {
        withSla(raw, { reminders: ['PT1S'], escalateAfter: 'PT2S', deadline: 'PT5S' });
        const aws = raw.catalog.resources.find((r: { id: string }) => r.id === 'aws-prod');
        aws.entitlements[0].breakGlass.ttl = 'PT4S';
        return raw;
      },
    });
  });
  afterAll(async () => {
    await fast?.stop();
  });

  test('a stage with no decision reminds, escalates to the fallback and times out', async () => {
    const id = uniqueId();
    await fast.submit('alice', { entitlement: 'analytics-db:read' }, id);
    const escalated = await fast.waitFor(id, (v) => v.stages[0]?.escalated === true);
    // Bob's fallback is his manager Erin, then security; never Alice herself.
    expect(escalated.pendingApprovers).toEqual(expect.arrayContaining(['bob', 'erin', 'dave']));
    expect(escalated.pendingApprovers).not.toContain('alice');
    const timedOut = await fast.waitFor(id, isStatus('timed_out'));
    expect(timedOut.stages[0]?.status).toBe('timed_out');
    expect(await auditActions(fast.pool, id)).toEqual(
      expect.arrayContaining(['stage_opened', 'reminded', 'escalated', 'stage_timed_out', 'timed_out']),
    );
    const { rows } = await fast.pool.query('SELECT count(*)::int AS n FROM notifications WHERE key LIKE $1', [
      `${id}:%`,
    ]);
    expect(rows[0].n).toBeGreaterThanOrEqual(4);
  });

  test('break-glass is granted at once, expires by its hard TTL, and security reviews it', async () => {
    const id = uniqueId();
    const handle = await fast.submit(
      'alice',
      {
        entitlement: 'aws-prod:admin',
        breakGlass: true,
        fields: { ticket: 'INC-42' },
        justification: 'Production is down, need to restore.',
      },
      id,
    );
    const active = await fast.waitFor(id, isStatus('active'));
    expect(active.reviewState).toBe('pending');
    expect(active.review?.approvers).toEqual(['dave']);
    expect(Date.parse(active.grant!.expiresAt) - Date.parse(active.grant!.startedAt)).toBe(4000);
    expect(
      (await refusal(handle.executeUpdate(reviewUpdate, { args: [{ by: 'alice', outcome: 'cleared' }] }))).type,
    ).toBe('SelfApproval');
    await fast.waitFor(id, isStatus('expired'));
    await handle.executeUpdate(reviewUpdate, { args: [{ by: 'dave', outcome: 'cleared', comment: 'matches INC-42' }] });
    const done = await handle.result();
    expect(done.reviewState).toBe('cleared');
    const keys = (await fast.deliveries()).filter((d) => d.key.startsWith(`${id}:`)).map((d) => [d.key, d.count]);
    expect(keys.sort()).toEqual([
      [`${id}:grant`, 1],
      [`${id}:revoke`, 1],
    ]);
  });

  test('an ignored break-glass review is flagged at its deadline', async () => {
    const id = uniqueId();
    const handle = await fast.submit(
      'bob',
      {
        entitlement: 'aws-prod:admin',
        breakGlass: true,
        fields: { ticket: 'INC-7' },
        justification: 'Database failover needed now.',
      },
      id,
    );
    const done = await handle.result();
    expect(done.status).toBe('expired');
    expect(done.reviewState).toBe('flagged');
    expect(await auditActions(fast.pool, id)).toEqual(expect.arrayContaining(['escalated', 'review_overdue']));
  });
});

test('an extension beyond the free allowance goes back to the approvers', async () => {
  const id = uniqueId();
  const handle = await env.submit('grace', { entitlement: 'analytics-db:read', duration: 'P7D' }, id);
  await env.waitFor(id, (v) => v.pendingApprovers.includes('erin'));
  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'erin', decision: 'approve' }] });
  const active = await env.waitFor(id, isStatus('active'));
  const result = await handle.executeUpdate(extendUpdate, {
    args: [{ by: 'grace', durationMs: 86_400_000, justification: 'the analysis runs one more day' }],
  });
  expect(result.outcome).toBe('pending_approval');
  await env.waitFor(id, (v) => v.pendingApprovers.includes('erin'));
  // Erin approved the request; she may approve its extension too (a new round of the same stages).
  await handle.executeUpdate(decideUpdate, { args: [{ approver: 'erin', decision: 'approve' }] });
  const extended = await env.waitFor(id, (v) => v.extension?.status === 'approved');
  expect(Date.parse(extended.grant!.expiresAt) - Date.parse(active.grant!.expiresAt)).toBe(86_400_000);
  expect(extended.grant?.extensions).toBe(1);
  await handle.executeUpdate(revokeUpdate, { args: [{ by: 'grace' }] });
  await env.waitFor(id, isStatus('revoked'));
});

test('a long-lived grant continues as new and keeps its state, audit sequence and timers', async () => {
  const id = uniqueId();
  const handle = await env.client.workflow.start('accessRequestV2', {
    workflowId: `access-request-${id}`,
    taskQueue: env.taskQueue,
    args: [
      {
        requestId: id,
        requester: 'frank',
        input: {
          entitlement: 'github:member',
          justification: 'Maintains the data pipelines.',
          fields: {},
          breakGlass: false,
          duration: 'P1D',
        },
        submittedAt: new Date().toISOString(),
        historyLimit: 150,
      },
    ],
  });
  const first = (await handle.describe()).runId;
  await env.waitFor(id, isStatus('active'));
  for (let i = 0; i < 30; i++) {
    await env.client.workflow
      .getHandle(`access-request-${id}`)
      .executeUpdate(extendUpdate, { args: [{ by: 'frank', durationMs: 60_000, justification: `extension ${i}` }] });
  }
  const view = await env.waitFor(id, (v) => v.grant?.extensions === 30);
  const latest = env.client.workflow.getHandle(`access-request-${id}`);
  expect((await latest.describe()).runId).not.toBe(first);
  const history = await latest.fetchHistory();
  expect(history.events?.length ?? 0).toBeLessThan(400);
  expect(Date.parse(view.grant!.expiresAt) - Date.parse(view.grant!.startedAt)).toBe(86_400_000 + 30 * 60_000);
  await latest.executeUpdate(revokeUpdate, { args: [{ by: 'frank' }] });
  await env.waitFor(id, isStatus('revoked'));
  const { rows } = await env.pool.query(
    'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM audit_events WHERE request_id = $1',
    [id],
  );
  expect(rows[0].n).toBe(rows[0].d);
  expect(await auditActions(env.pool, id)).toEqual(expect.arrayContaining(['extended', 'revoke_requested', 'revoked']));
});

describe('a connector that refuses', () => {
  // A gateway that answers 400 until told otherwise, and keeps a list of what it was asked.
  let accept = false;
  const calls: string[] = [];
  const gateway = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const { action, requestId } = JSON.parse(body) as { action: string; requestId: string };
      calls.push(`${requestId}:${action}:${accept ? 'ok' : 'refused'}`);
      res.writeHead(accept ? 200 : 400, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  let failing: TestEnv;
  beforeAll(async () => {
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(gateway.address() as { port: number }).port}/scim`;
    failing = await startEnv({
      title: 'failing-connector',
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

  test('provisioning fails, an operator retries once the target is back, and the grant goes live', async () => {
    accept = false;
    const id = uniqueId();
    const handle = await failing.submit('carol', { entitlement: 'github:member' }, id);
    const failed = await failing.waitFor(id, isStatus('failed'));
    expect(failed.failure).toMatch(/400/);
    // Only security or an admin may retry; a refused signal changes nothing.
    await handle.signal(retrySignal, { by: 'carol' });
    accept = true;
    await handle.signal(retrySignal, { by: 'dave' });
    const active = await failing.waitFor(id, isStatus('active'));
    expect(active.failure).toBeUndefined();
    expect(await auditActions(failing.pool, id)).toEqual(
      expect.arrayContaining(['provisioning_failed', 'refused', 'retried', 'provisioned']),
    );
    await handle.executeUpdate(revokeUpdate, { args: [{ by: 'carol' }] });
    await failing.waitFor(id, isStatus('revoked'));
    expect(calls.filter((c) => c.startsWith(id))).toEqual([`${id}:grant:refused`, `${id}:grant:ok`, `${id}:revoke:ok`]);
  });

  test('cancelling a failed request takes back whatever the target may have applied', async () => {
    accept = false;
    const id = uniqueId();
    const handle = await failing.submit('erin', { entitlement: 'github:member' }, id);
    await failing.waitFor(id, isStatus('failed'));
    accept = true;
    await handle.executeUpdate(cancelUpdate, { args: [{ by: 'erin', reason: 'not needed after all' }] });
    await failing.waitFor(id, isStatus('cancelled'));
    expect(calls.filter((c) => c.startsWith(id))).toEqual([`${id}:grant:refused`, `${id}:revoke:ok`]);
  });
});
