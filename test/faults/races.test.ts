/**
 * Races at the edges: fifty identical submissions under one Idempotency-Key make one request; two eligible approvers
 * who approve and deny at the same instant produce exactly one outcome, and the audit trail tells the same story.
 */
import { decideSignal, getRequestQuery, workflowIdFor, type RequestView } from '../../workflows/messages';
import {
  committedRoleChanges,
  Findings,
  mapLimit,
  sleep,
  submitRequest,
  verifyAudit,
  waitForFinal,
  waitForStatus,
} from '../helpers/fault-checks';
import { startFaultStack, synthId, type ApiAnswer, type FaultStack } from '../helpers/fault-stack';

jest.setTimeout(120_000);

let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack({ title: 'races', users: 12 });
  await stack.startWorker();
  await stack.command('startApi');
});
afterAll(async () => {
  await stack?.stop();
});

test('50 concurrent submissions with one Idempotency-Key start one workflow and store one row', async () => {
  const user = synthId(1);
  const body = { entitlement: 'analytics-db:read', justification: 'Quarterly churn analysis.' };
  // Tokens are signed before the burst, so the fifty calls leave together.
  await stack.api('GET', '/healthz', { as: user });
  const answers = await Promise.all(
    Array.from({ length: 50 }, () =>
      stack.api<{ id: string }>('POST', '/v1/requests', { as: user, body, headers: { 'Idempotency-Key': 'burst-1' } }),
    ),
  );
  const statuses = answers.map((a) => a.status).sort();
  expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
  const ids = new Set(answers.map((a) => a.body.id));
  expect(ids.size).toBe(1);
  const [id] = [...ids] as [string];

  const rows = await stack.db.query<{ id: string }>('SELECT id FROM requests WHERE requester = $1', [user]);
  expect(rows.rows.map((r) => r.id)).toEqual([id]);
  const submitted = await stack.db.query<{ request_id: string }>(
    `SELECT request_id FROM audit_events WHERE action = 'submitted' AND actor = $1`,
    [user],
  );
  expect(submitted.rows.map((r) => r.request_id)).toEqual([id]);
  // Visibility is eventually consistent: let it settle, then count every workflow this user started.
  const query = `GrantflowRequester = '${user}' AND TaskQueue = '${stack.taskQueue}'`;
  const deadline = Date.now() + 15_000;
  while ((await stack.temporal.workflow.count(query)).count < 1 && Date.now() < deadline) await sleep(300);
  await sleep(1500);
  expect((await stack.temporal.workflow.count(query)).count).toBe(1);
  const pending = await waitForStatus(stack, id, ['pending_approval']);
  expect(pending.pending_approvers).toEqual(['bob']);
});

test('approve and deny at the same instant from two eligible approvers: exactly one outcome, as the audit says', async () => {
  const rounds = Array.from({ length: 10 }, (_, i) => ({
    user: synthId(i + 2),
    // Alternate who approves, and whether the denial comes through the API (an update) or an operator's signal.
    approver: i % 2 ? 'grace' : 'frank',
    denier: i % 2 ? 'frank' : 'grace',
    denyBy: i < 6 ? 'update' : 'signal',
  }));
  await Promise.all(['frank', 'grace', 'bob'].map((as) => stack.api('GET', '/healthz', { as })));
  const findings = new Findings();

  const results = await mapLimit(rounds, 5, async (r) => {
    const id = await submitRequest(stack, r.user, {
      entitlement: 'analytics-db:write',
      justification: 'Backfill of the events table.',
      duration: 'PT8S',
      fields: { ticket: 'CHG-1234' },
    });
    await waitForStatus(stack, id, ['pending_approval']);
    const first = await stack.api('POST', `/v1/requests/${id}/decisions`, { as: 'bob', body: { decision: 'approve' } });
    findings.check(first.status === 200, `bob's approval of ${id}: ${first.status}`);
    // The second stage is the resource owner's: frank, or grace as his delegate — either may decide alone.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await stack.db.query<{ pending_approvers: string[] }>(
        'SELECT pending_approvers FROM requests WHERE id = $1',
        [id],
      );
      if (JSON.stringify(rows[0]?.pending_approvers) === '["frank","grace"]') break;
      if (Date.now() > deadline) throw new Error(`${id}: the resource-owner stage did not open`);
      await sleep(200);
    }

    const url = `/v1/requests/${id}/decisions`;
    const approve = stack.api('POST', url, { as: r.approver, body: { decision: 'approve' } });
    const deny: Promise<ApiAnswer | 'signalled'> =
      r.denyBy === 'update'
        ? stack.api('POST', url, { as: r.denier, body: { decision: 'deny' } })
        : stack.temporal.workflow
            .getHandle(workflowIdFor(id))
            .signal(decideSignal, { approver: r.denier, decision: 'deny' })
            .then(() => 'signalled' as const);
    const [approved, denied] = await Promise.all([approve, deny]);
    // The contested stage, as soon as it has closed: one decision, whoever won.
    const closed = await waitForView(id, (v) => v.stages[1]?.status !== 'open');
    const decisions = closed.stages[1]?.decisions ?? [];
    findings.check(
      decisions.length === 1,
      `${id}: ${decisions.length} decisions on the contested stage: ${decisions.map((d) => `${d.approver}:${d.decision}`).join(', ')}`,
    );
    return { ...r, id, approved, denied, winner: decisions[0] };
  });

  const ids = results.map((r) => r.id);
  try {
    await waitForFinal(stack, ids, 60_000);
  } catch (err) {
    findings.check(false, (err as Error).message);
  }
  const roles = await committedRoleChanges(stack, 'analytics_write');
  const outcomes = { approved: 0, denied: 0 };
  for (const r of results) {
    const view = await stack.temporal.workflow.getHandle(workflowIdFor(r.id)).query(getRequestQuery);
    const winner = r.winner;
    const approvedWon = winner?.decision === 'approve';
    outcomes[approvedWon ? 'approved' : 'denied'] += 1;
    findings.check(
      view.status === (approvedWon ? 'expired' : 'denied'),
      `${r.id}: ${winner?.approver} ${winner?.decision} won but the request ended ${view.status}`,
    );

    // The callers' answers agree: the winner's "recorded", the loser's "stage closed".
    const deniedStatus = r.denied === 'signalled' ? undefined : r.denied.status;
    if (approvedWon) {
      findings.check(r.approved.status === 200, `${r.id}: the winning approval answered ${r.approved.status}`);
      if (deniedStatus !== undefined) {
        findings.check(deniedStatus === 409, `${r.id}: the losing denial answered ${deniedStatus}`);
        findings.check(
          (r.denied as ApiAnswer).body.refusal === 'StageClosed',
          `${r.id}: the losing denial's refusal was ${(r.denied as ApiAnswer).body.refusal}`,
        );
      }
    } else {
      findings.check(r.approved.status === 409, `${r.id}: the losing approval answered ${r.approved.status}`);
      findings.check(
        r.approved.body.refusal === 'StageClosed',
        `${r.id}: the losing approval's refusal was ${r.approved.body.refusal}`,
      );
      if (deniedStatus !== undefined)
        findings.check(deniedStatus === 200, `${r.id}: the winning denial answered ${deniedStatus}`);
    }

    // The audit trail: bob's decision and the winner's, and the loser's attempt recorded as refused.
    const { rows } = await stack.db.query<{ action: string; actor: string; data: Record<string, unknown> }>(
      'SELECT action, actor, data FROM audit_events WHERE request_id = $1 ORDER BY seq',
      [r.id],
    );
    const recorded = rows.filter((e) => e.action === 'decision_recorded').map((e) => `${e.actor}:${e.data.decision}`);
    findings.check(
      JSON.stringify(recorded) === JSON.stringify(['bob:approve', `${winner?.approver}:${winner?.decision}`]),
      `${r.id}: audit decisions ${recorded.join(', ')}`,
    );
    const loser = approvedWon ? r.denier : r.approver;
    const refused = rows.filter((e) => e.action === 'refused');
    findings.check(
      refused.length === 1 && refused[0]?.actor === loser && refused[0]?.data.refusal === 'StageClosed',
      `${r.id}: audit refusals ${JSON.stringify(refused)} (the loser was ${loser})`,
    );
    findings.check(
      rows.filter((e) => e.action === (approvedWon ? 'expired' : 'denied')).length === 1,
      `${r.id}: audit ${rows.map((e) => e.action).join(', ')}`,
    );
    // The target agrees too: a role granted and revoked once when approval won, never touched when denial did.
    const changes = roles.get(r.user) ?? { GRANT: 0, REVOKE: 0 };
    const want = approvedWon ? 1 : 0;
    findings.check(
      changes.GRANT === want && changes.REVOKE === want,
      `${r.user}: analytics_write ${JSON.stringify(changes)} after ${winner?.decision} won`,
    );
  }
  const verdict = await verifyAudit(stack);
  findings.check(verdict.ok, `the audit chain does not verify: ${JSON.stringify(verdict)}`);
  process.stdout.write(`races: approval won ${outcomes.approved} times, denial ${outcomes.denied} times\n`);
  expect(findings.summary()).toBe('0 findings:\n  ');
});

async function waitForView(id: string, done: (v: RequestView) => boolean, timeoutMs = 15_000): Promise<RequestView> {
  const handle = stack.temporal.workflow.getHandle(workflowIdFor(id));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await handle.query(getRequestQuery);
    if (done(view) || Date.now() > deadline) return view;
    await sleep(100);
  }
}
