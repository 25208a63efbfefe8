/**
 * The promise, checked on random histories (DESIGN.md, "The promise", 1–8). fast-check generates histories —
 * submissions of every catalog entry, decisions by random people (eligible or not, the requester included) by update
 * and by signal, cancels, revokes, extensions, reviews, fulfilments, retries, malformed signals, bursts of concurrent
 * messages, continue-as-new forced at random points (a random history limit), a gateway that goes down and a worker
 * restart — and runs them on the real Temporal dev server and PostgreSQL with short durations. After each history
 * the invariants are checked against the audit trail, the projection, the targets and the workflow's own history,
 * which is also replayed against the workflow code.
 *
 *   GRANTFLOW_MODEL_SEED=123 GRANTFLOW_MODEL_RUNS=400 npm run test:model    # reproduce a seed, or run long (nightly)
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import fc from 'fast-check';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { RequestInput } from '../../domain/model';
import {
  cancelSignal,
  cancelUpdate,
  decideSignal,
  decideUpdate,
  extendUpdate,
  fulfilUpdate,
  retrySignal,
  retryUpdate,
  reviewSignal,
  reviewUpdate,
  revokeSignal,
  revokeUpdate,
  workflowIdFor,
  type RequestView,
} from '../../workflows/messages';
import { historyToJson } from '../helpers/fault-history-json';
import { hasRole, startEnv, testAuditLog, uniqueId, withSla, workflowBundle, type TestEnv } from '../helpers/harness';

// `npm test` runs a fixed seed, so that CI is reproducible; `npm run test:model` draws a new one each night.
const SEED = Number(
  process.env.GRANTFLOW_MODEL_SEED ??
    (process.env.GRANTFLOW_MODEL_RUNS ? Math.floor(Math.random() * 2 ** 31) : 20261201),
);
const RUNS = Number(process.env.GRANTFLOW_MODEL_RUNS ?? 12);
const PARALLEL = Number(process.env.GRANTFLOW_MODEL_PARALLEL ?? 4);
/** How long past `expiresAt` a request may still read active: timer latency plus the connector's budget. */
const END_SLACK_MS = 15_000;

jest.setTimeout(Math.max(600_000, RUNS * 60_000));

const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'] as const;
const CONFLICTS: [string, string][] = [['payroll:viewer', 'payroll:approver']];

// ---------- the generated histories ----------

interface Submission {
  requester: string;
  input: Partial<RequestInput> & { entitlement: string };
}
type Action =
  | { kind: 'decide'; by: string; eligible: boolean; pick: number; decision: 'approve' | 'deny'; signal: boolean }
  | { kind: 'cancel' | 'revoke' | 'retry'; by: string; signal: boolean }
  | { kind: 'extend'; by: string; seconds: number }
  | { kind: 'review'; by: string; eligible: boolean; outcome: 'cleared' | 'flagged'; signal: boolean }
  | { kind: 'fulfil'; by: string; eligible: boolean; pick: number }
  | { kind: 'malformed'; name: string; payload: unknown }
  | { kind: 'gateway'; up: boolean }
  | { kind: 'restart' };
interface Step {
  target: number;
  action: Action;
  /** A burst: this step and the next go out together. */
  together: boolean;
  delayMs: number;
}
interface History {
  submissions: Submission[];
  steps: Step[];
  historyLimit: number;
  /** The target goes down for every request before the end: a grant reaching its end must give up, not read active. */
  endsDown: boolean;
}

const person = fc.constantFrom(...PEOPLE);
const entry = fc.constantFrom<Omit<Submission['input'], 'duration'>[]>(
  [{ entitlement: 'github:member' }],
  [{ entitlement: 'analytics-db:read' }],
  [{ entitlement: 'analytics-db:write', fields: { ticket: 'CHG-7' } }],
  [{ entitlement: 'payroll:viewer' }],
  [{ entitlement: 'payroll:approver' }],
  [{ entitlement: 'aws-prod:admin', fields: { ticket: 'INC-9' } }],
  [{ entitlement: 'aws-prod:admin', fields: { ticket: 'INC-9' }, breakGlass: true }],
);
const submission: fc.Arbitrary<Submission> = fc
  .record({ requester: person, entry, forService: fc.boolean(), seconds: fc.integer({ min: 3, max: 8 }) })
  .map(({ requester, entry: [input], forService, seconds }) => ({
    requester,
    input: {
      ...input!,
      ...(forService && requester === 'alice' && !input!.breakGlass && { beneficiary: 'svc-ci' }),
      ...(!input!.breakGlass && { duration: `PT${seconds}S` }),
    },
  }));
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      by: person,
      eligible: fc.boolean(),
      pick: fc.nat(),
      decision: fc.constantFrom<('approve' | 'deny')[]>('approve', 'approve', 'approve', 'deny'),
      signal: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom<('cancel' | 'revoke' | 'retry')[]>('cancel', 'revoke', 'retry'),
      by: person,
      signal: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('extend' as const),
      by: person,
      seconds: fc.constantFrom(1, 2, 3 * 86_400, 20 * 86_400, 400 * 86_400),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('review' as const),
      by: person,
      eligible: fc.boolean(),
      outcome: fc.constantFrom<('cleared' | 'flagged')[]>('cleared', 'flagged'),
      signal: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('fulfil' as const), by: person, eligible: fc.boolean(), pick: fc.nat() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('malformed' as const),
      name: fc.constantFrom('decide', 'cancel', 'revoke', 'review', 'retry'),
      payload: fc.oneof(fc.constant({}), fc.constant(null), fc.constant({ by: 42 }), fc.anything({ maxDepth: 1 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gateway' as const), up: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);
const history: fc.Arbitrary<History> = fc.record({
  submissions: fc.array(submission, { minLength: 1, maxLength: 2 }),
  steps: fc.array(
    fc.record({
      target: fc.nat(1),
      action,
      together: fc.boolean(),
      delayMs: fc.integer({ min: 0, max: 1200 }),
    }),
    { minLength: 3, maxLength: 10 },
  ),
  historyLimit: fc.integer({ min: 40, max: 400 }),
  endsDown: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
});

// ---------- the world: a gateway that can go down per request, the stack ----------

const down = new Set<string>();
const gatewayCalls: { requestId: string; action: string; ok: boolean; at: number }[] = [];
const gateway = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const { action: what, requestId } = JSON.parse(body) as { action: string; requestId: string };
    const ok = !down.has(requestId);
    gatewayCalls.push({ requestId, action: what, ok, at: Date.now() });
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ granted: ok }));
  });
});

let env: TestEnv;
beforeAll(async () => {
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;
  env = await startEnv({
    title: 'model',
    configure: (raw) => {
      withSla(raw, { reminders: ['PT1S'], escalateAfter: 'PT2S', deadline: 'PT8S' });
      for (const r of raw.catalog.resources) {
        if (r.connector.type === 'webhook') r.connector.url = `${url}/${r.id}`;
        if (r.connector.type === 'manual') r.connector.sla = 'PT4S';
      }
      raw.catalog.resources.find((r: { id: string }) => r.id === 'aws-prod').entitlements[0].breakGlass.ttl = 'PT4S';
      return raw;
    },
  });
});
afterAll(async () => {
  await env?.stop();
  await new Promise((r) => gateway.close(r));
});

// ---------- running a history ----------

interface Sample {
  at: number;
  view: RequestView;
}
interface Run {
  ids: string[];
  submissions: Submission[];
  samples: Map<string, Sample[]>;
  problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function viewOf(id: string): Promise<RequestView | undefined> {
  // GRANTFLOW_MODEL_QUERIES=1 samples through the workflow's query, as the API did before: it shows the SDK defect
  // that api/routes/requests.ts readView describes (replays fail as nondeterministic after legacy queries).
  return (process.env.GRANTFLOW_MODEL_QUERIES ? env.query(id) : env.view(id)).catch(() => undefined);
}

function pickFrom(list: readonly string[], pick: number, fallback: string): string {
  return list.length ? (list[pick % list.length] as string) : fallback;
}

async function send(run: Run, id: string, a: Action): Promise<void> {
  const handle = env.client.workflow.getHandle(workflowIdFor(id));
  const view = await viewOf(id);
  const tryUpdate = async (p: Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 30_000)));
    try {
      const answer = await Promise.race([p, hung]);
      if (answer === 'hung') {
        run.problems.push(`8: ${id}: ${a.kind} got no answer within 30 s (${JSON.stringify(a)})`);
      } else {
        await checkReadYourWrites(run, id, a.kind, answer as { status?: string });
      }
    } catch (err) {
      // Refused, or sent as the request closed (an update not yet accepted is aborted by the close: the workflow
      // finishes every accepted one before it closes).
      const closed = err instanceof WorkflowNotFoundError || /not found|completed/i.test(String(err));
      if (!(err instanceof WorkflowUpdateFailedError) && !closed) throw err;
    } finally {
      clearTimeout(timer);
    }
  };
  const quiet = async (p: Promise<unknown>): Promise<void> => {
    await p.catch(() => undefined);
  };
  switch (a.kind) {
    case 'decide': {
      const by = a.eligible ? pickFrom(view?.pendingApprovers ?? [], a.pick, a.by) : a.by;
      const input = { approver: by, decision: a.decision, comment: 'model' };
      return a.signal
        ? quiet(handle.signal(decideSignal, input))
        : tryUpdate(handle.executeUpdate(decideUpdate, { args: [input] }));
    }
    case 'cancel':
    case 'revoke':
    case 'retry': {
      const input = { by: a.by, reason: 'model' };
      const [signal, update] =
        a.kind === 'cancel'
          ? [cancelSignal, cancelUpdate]
          : a.kind === 'revoke'
            ? [revokeSignal, revokeUpdate]
            : [retrySignal, retryUpdate];
      return a.signal
        ? quiet(handle.signal(signal, input))
        : tryUpdate(handle.executeUpdate(update, { args: [input] }));
    }
    case 'extend':
      return tryUpdate(
        handle.executeUpdate(extendUpdate, {
          args: [{ by: a.by, durationMs: a.seconds * 1000, justification: 'the model extends' }],
        }),
      );
    case 'review': {
      const by = a.eligible ? pickFrom(view?.review?.approvers ?? [], 0, a.by) : a.by;
      const input = { by, outcome: a.outcome, comment: 'model' };
      return a.signal
        ? quiet(handle.signal(reviewSignal, input))
        : tryUpdate(handle.executeUpdate(reviewUpdate, { args: [input] }));
    }
    case 'fulfil': {
      const by = a.eligible ? pickFrom(view?.fulfilment?.fulfillers ?? [], a.pick, a.by) : a.by;
      return tryUpdate(handle.executeUpdate(fulfilUpdate, { args: [{ by, comment: 'model' }] }));
    }
    case 'malformed':
      return quiet(handle.signal(a.name, a.payload as never));
    case 'gateway':
      if (a.up) down.delete(id);
      else down.add(id);
      return;
    case 'restart':
      return env.restartWorker();
  }
}

// The lifecycle's order: a written view may be ahead of an update's answer (a timer fired since), never behind it.
const LIFECYCLE_RANK: Record<string, number> = {
  validating: 0,
  pending_approval: 1,
  provisioning: 2,
  active: 3,
  failed: 4,
};
const rankOf = (status: string) => LIFECYCLE_RANK[status] ?? 5; // the final statuses

/** One truth: once an update is answered, the view written to PostgreSQL already shows what the answer says. */
async function checkReadYourWrites(run: Run, id: string, kind: string, answer: { status?: string }): Promise<void> {
  if (!answer?.status || answer.status === 'failed') return;
  const { rows } = await env.pool.query<{ status: string }>('SELECT status FROM requests WHERE id = $1', [id]);
  const written = rows[0]?.status;
  if (!written || (written !== 'failed' && rankOf(written) < rankOf(answer.status))) {
    run.problems.push(`7: ${id}: ${kind} answered ${answer.status}, but the written view says ${written ?? 'nothing'}`);
  }
}

/** Brings every request of the history to its end, the way operators would. */
async function drive(run: Run): Promise<void> {
  // A target still down: first watch what the request does about it (it must not stay active past its end).
  // Held down until the request has given up (failed) or ended, and at least until its end plus the budget has
  // passed, so that a request still reading active then is seen (invariant 2).
  const held = run.ids.filter((id) => down.has(id));
  let watchUntil = Date.now() + 5_000;
  const hardStop = Date.now() + 45_000;
  while (held.length && Date.now() < Math.min(watchUntil, hardStop)) {
    const views = await Promise.all(held.map(viewOf));
    views.forEach((v, i) => {
      if (!v) return;
      sample(run, held[i]!, v);
      if (v.status === 'active' && v.grant) {
        watchUntil = Math.max(watchUntil, Date.parse(v.grant.expiresAt) + END_SLACK_MS + 3_000);
      }
    });
    if (views.every((v) => !v || (v.status !== 'active' && v.status !== 'provisioning'))) break;
    await sleep(500);
  }
  const until = Date.now() + 90_000;
  for (const id of run.ids) down.delete(id);
  for (;;) {
    let open = 0;
    for (const id of run.ids) {
      const handle = env.client.workflow.getHandle(workflowIdFor(id));
      const described = await handle.describe().catch(() => undefined);
      if (!described || described.status.name !== 'RUNNING') continue;
      open++;
      const view = await viewOf(id);
      if (!view) continue;
      sample(run, id, view);
      const self = [view.requester, view.beneficiary];
      const operator = self.includes('dave') ? 'erin' : 'dave';
      const ask = (p: Promise<unknown>) => p.catch(() => undefined);
      if (view.fulfilment && (view.fulfilment.status === 'open' || view.fulfilment.status === 'overdue')) {
        const by = view.fulfilment.fulfillers[0];
        if (by) await ask(handle.executeUpdate(fulfilUpdate, { args: [{ by }] }));
      }
      if (view.status === 'pending_approval' || view.status === 'provisioning') {
        await ask(handle.executeUpdate(cancelUpdate, { args: [{ by: operator, reason: 'model end' }] }));
      }
      if (view.status === 'active') {
        await ask(handle.executeUpdate(revokeUpdate, { args: [{ by: operator, reason: 'model end' }] }));
      }
      if (view.status === 'failed') await ask(handle.executeUpdate(retryUpdate, { args: [{ by: operator }] }));
      if (view.review?.status === 'open') {
        const by = view.review.approvers.find((p) => !self.includes(p));
        if (by) await ask(handle.executeUpdate(reviewUpdate, { args: [{ by, outcome: 'cleared' }] }));
      }
    }
    if (open === 0) return;
    if (Date.now() > until) {
      run.problems.push(`5: stuck: ${run.ids.join(', ')} did not end within 90 s of the last message`);
      return;
    }
    await sleep(500);
  }
}

function sample(run: Run, id: string, view: RequestView): void {
  run.samples.get(id)?.push({ at: Date.now(), view });
}

async function runHistory(h: History): Promise<Run> {
  const run: Run = { ids: [], submissions: h.submissions, samples: new Map(), problems: [] };
  for (const sub of h.submissions) {
    const id = uniqueId('m');
    run.ids.push(id);
    run.samples.set(id, []);
    await env.client.workflow.start('accessRequestV2', {
      workflowId: workflowIdFor(id),
      taskQueue: env.taskQueue,
      args: [
        {
          requestId: id,
          requester: sub.requester,
          input: { justification: 'Generated by the model test.', fields: {}, breakGlass: false, ...sub.input },
          submittedAt: new Date().toISOString(),
          historyLimit: h.historyLimit,
          connectorAttempts: 2,
        },
      ],
    });
  }
  const sampler = setInterval(() => {
    for (const id of run.ids) void viewOf(id).then((v) => v && sample(run, id, v));
  }, 400);
  try {
    for (let i = 0; i < h.steps.length; i++) {
      const step = h.steps[i]!;
      await sleep(step.delayMs);
      const id = run.ids[step.target % run.ids.length]!;
      const next = h.steps[i + 1];
      if (step.together && next) {
        i++;
        await Promise.all([send(run, id, step.action), send(run, run.ids[next.target % run.ids.length]!, next.action)]);
      } else {
        await send(run, id, step.action);
      }
    }
    if (h.endsDown) for (const id of run.ids) down.add(id);
    await drive(run);
  } finally {
    clearInterval(sampler);
  }
  for (const id of run.ids) await checkRequest(run, id);
  checkSeparationOfDuties(run);
  return run;
}

// ---------- the invariants ----------

interface Event {
  event_id: string;
  actor: string;
  action: string;
  at: Date;
  data: Record<string, unknown>;
}

async function checkRequest(run: Run, id: string): Promise<void> {
  const p = (n: number, text: string): void => {
    run.problems.push(`${n}: ${id}: ${text}`);
  };
  const handle: WorkflowHandle = env.client.workflow.getHandle(workflowIdFor(id));
  const view = (await Promise.race([handle.result().catch(() => undefined), sleep(10_000)])) as RequestView | undefined;
  if (!view) {
    const open = await viewOf(id);
    return p(5, `the workflow did not complete; it reads ${JSON.stringify(open)?.slice(0, 1500)}`);
  }
  const { rows: events } = await env.pool.query<Event>(
    'SELECT event_id, actor, action, at, data FROM audit_events WHERE request_id = $1 ORDER BY seq',
    [id],
  );
  const own = events.filter((e) => e.event_id.startsWith(`${id}:`));
  const actions = own.map((e) => e.action);

  // 5. Nothing lost, nothing doubled, in order: the workflow's events are numbered 1..n without a gap.
  const seqs = own.map((e) => Number(e.event_id.slice(id.length + 1).split(':')[0]));
  if (seqs.some((n, i) => n !== i + 1)) p(5, `audit sequence ${seqs.join(',')}`);
  if (!['rejected', 'denied', 'timed_out', 'cancelled', 'expired', 'revoked'].includes(view.status)) {
    p(5, `ended as ${view.status}`);
  }

  // 3. Nobody approves their own access, by any path.
  const self = [view.requester, view.beneficiary];
  for (const e of own) {
    if (['decision_recorded', 'reviewed', 'fulfilled'].includes(e.action) && self.includes(e.actor)) {
      p(3, `${e.action} by ${e.actor}, who is the requester or beneficiary`);
    }
  }

  // 1. No access without approval: each period is covered by decisions satisfying the plan for that period.
  const granted = actions.includes('provisioned');
  const approvedBy = actions.find((a) => ['auto_approved', 'break_glass_invoked', 'approved'].includes(a));
  if (granted && (!approvedBy || actions.indexOf(approvedBy) > actions.indexOf('provisioned'))) {
    p(1, 'provisioned without an approval before it');
  }
  if (approvedBy === 'approved') {
    const deciders = new Set<string>();
    for (const stage of view.stages) {
      const yes = stage.decisions.filter((d) => d.decision === 'approve');
      if (stage.status !== 'approved' || yes.length < stage.required) p(1, `stage ${stage.name} not satisfied`);
      for (const d of yes) {
        if (!stage.approvers.includes(d.approver)) p(1, `${d.approver} not an approver of ${stage.name}`);
        if (deciders.has(d.approver)) p(1, `${d.approver} decided two stages`);
        deciders.add(d.approver);
      }
    }
  }
  // The oracle for an extension, independent of what the workflow says about it: in the demo policy every
  // entitlement but the auto-approved github:member needs approval for a total past the free allowance.
  const provisioned = own.find((x) => x.action === 'provisioned');
  const allowanceMs = 7 * 86_400_000;
  for (const e of own.filter((x) => x.action === 'extended')) {
    const round = e.data.round as number;
    const total = Date.parse(e.data.expiresAt as string) - Date.parse((provisioned?.data.startedAt as string) ?? '');
    if (!own.some((x) => x.action === 'extension_evaluated' && x.data.round === round)) {
      p(1, `extension ${round} applied without the policy asked again`);
    }
    if (view.entitlement !== 'github:member' && total > allowanceMs) {
      const decisions = own.filter((x) => x.action === 'decision_recorded' && x.data.round === `ext${round}`);
      if (!decisions.some((d) => d.data.decision === 'approve') || decisions.some((d) => d.data.decision === 'deny')) {
        p(1, `extension ${round} to ${Math.round(total / 86_400_000)} days in all was applied without approval`);
      }
    }
  }

  // 1, 2, 4 at the targets.
  const entitlement = view.entitlement;
  if (entitlement.startsWith('github:') || entitlement.startsWith('aws-prod:')) {
    const calls = gatewayCalls.filter((c) => c.requestId === id && c.ok);
    const grants = calls.filter((c) => c.action === 'grant');
    const revokes = calls.filter((c) => c.action === 'revoke');
    if (grants.length > 1 || revokes.length > 1)
      p(4, `granted ${grants.length}×, revoked ${revokes.length}× at the target`);
    if (grants.length > 0 && !approvedBy) p(1, 'granted at the target without approval');
    if (grants.length > 0 && revokes.length === 0) p(2, 'granted at the target and never revoked');
  }
  if (entitlement.startsWith('analytics-db:')) {
    const role = entitlement.endsWith(':read') ? 'analytics_read' : 'analytics_write';
    const { rows } = await env.pool.query(
      'SELECT 1 FROM grants WHERE beneficiary = $1 AND entitlement = $2 AND ended_at IS NULL',
      [view.beneficiary, entitlement],
    );
    if (rows.length === 0 && (await hasRole(view.beneficiary, role))) p(2, `${view.beneficiary} still has ${role}`);
  }
  if (view.grant && !view.grant.endedAt) p(2, 'the grant never ended');
  if (view.grant && view.fulfilment === undefined && view.grant.connector === 'manual')
    p(2, 'manual grant without revoke task');

  // 2. Never active past its end plus the connector's budget.
  for (const s of run.samples.get(id) ?? []) {
    const g = s.view.grant;
    if (s.view.status === 'active' && g && s.at > Date.parse(g.expiresAt) + END_SLACK_MS) {
      p(2, `read active ${s.at - Date.parse(g.expiresAt)} ms after expiresAt`);
    }
  }

  // 5. The claim is released once the request ended.
  const claims = await env.pool.query('SELECT 1 FROM open_claims WHERE request_id = $1', [id]);
  if (claims.rows.length > 0) p(5, 'claim not released');

  // 7. The projection agrees with the end.
  const row = await env.pool.query<{ status: string }>('SELECT status FROM requests WHERE id = $1', [id]);
  if (row.rows[0] && row.rows[0].status !== view.status)
    p(7, `projection says ${row.rows[0].status}, workflow ${view.status}`);

  // Determinism: the last run's history replays against the workflow code.
  const recorded = await handle.fetchHistory();
  try {
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: 'model' }, recorded, id);
  } catch (err) {
    p(8, `replay failed: ${String(err).slice(0, 300)}`);
    keepHistory(`${id}-final`, recorded);
  }
}

/** 6. Conflicting entitlements of one person's circle were never both accepted while both open. */
function checkSeparationOfDuties(run: Run): void {
  const circle = (s: Submission) => (s.input.beneficiary === 'svc-ci' ? 'alice' : s.requester);
  for (const [a, b] of CONFLICTS) {
    const ia = run.submissions.findIndex((s) => s.input.entitlement === a);
    const ib = run.submissions.findIndex((s) => s.input.entitlement === b);
    if (ia < 0 || ib < 0 || circle(run.submissions[ia]!) !== circle(run.submissions[ib]!)) continue;
    const accepted = [ia, ib].filter((i) => {
      const samples = run.samples.get(run.ids[i]!) ?? [];
      return samples.some((s) => s.view.status !== 'validating' && s.view.status !== 'rejected');
    });
    if (accepted.length === 2) {
      const [first, second] = accepted.map((i) => run.samples.get(run.ids[i]!) ?? []);
      const firstEnd = first!.find(
        (s) => !['validating', 'pending_approval', 'provisioning', 'active', 'failed'].includes(s.view.status),
      );
      const secondStart = second!.find((s) => s.view.status !== 'validating');
      if (!firstEnd || !secondStart || firstEnd.at > secondStart.at + 2000) {
        run.problems.push(`6: ${run.ids.join(' and ')} both accepted (${a} with ${b})`);
      }
    }
  }
}

test(`the promise holds on ${RUNS} random histories (seed ${SEED})`, async () => {
  process.stdout.write(`model: seed ${SEED}, ${RUNS} histories, ${PARALLEL} at a time\n`);
  const histories = fc.sample(history, { seed: SEED, numRuns: RUNS });
  const failures: string[] = [];
  try {
    await runAll(histories, failures);
  } finally {
    await keepNondeterministicHistories();
  }
  const chain = await testAuditLog(env.pool).verify();
  expect(chain).toMatchObject({ ok: true });
  expect(failures).toEqual([]);
});

/**
 * Every history in which a workflow task failed as nondeterministic goes to test-output/model/, to replay by hand
 * (`Worker.runReplayHistory`) with the workflow code under a debugger.
 */
async function keepNondeterministicHistories(): Promise<void> {
  for await (const info of env.client.workflow.list()) {
    const events = await env.client.workflow.getHandle(info.workflowId, info.runId).fetchHistory();
    const nondeterministic = events.events?.some(
      (e) =>
        e.workflowTaskFailedEventAttributes?.cause ===
        temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
    );
    if (!nondeterministic) continue;
    keepHistory(`${info.workflowId}-${info.runId}`, events);
  }
}

function keepHistory(name: string, events: Parameters<typeof historyToJson>[0]): void {
  const dir = path.join(__dirname, '..', '..', 'test-output', 'model');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, historyToJson(events));
  process.stdout.write(`model: nondeterministic history kept in ${file}\n`);
}

async function runAll(histories: History[], failures: string[]): Promise<void> {
  for (let i = 0; i < histories.length; i += PARALLEL) {
    const batch = histories.slice(i, i + PARALLEL);
    const started = Date.now();
    const runs = await Promise.all(batch.map((h) => runHistory(h)));
    process.stdout.write(`model: histories ${i}–${i + batch.length - 1} in ${Date.now() - started} ms\n`);
    runs.forEach((run, j) => {
      if (run.problems.length) {
        failures.push(`history ${i + j} (seed ${SEED}): ${JSON.stringify(batch[j])}\n  ${run.problems.join('\n  ')}`);
      }
    });
  }
}
