/**
 * What the fault tests do to a stack and what they check afterwards: resilient submissions and decisions through the
 * API (a 503 is retried, as its Retry-After asks), waiting for final states, and the evidence that nothing was lost
 * or done twice — the audit trail, the webhook receiver's ledger and the GRANTs the analytics database committed.
 */
import { randomUUID } from 'node:crypto';
import { workflowIdFor, type RequestView } from '../../workflows/messages';
import type { ApiAnswer, FaultStack } from './fault-stack';
import { isRoleMember } from './roles';

export const FINAL = ['rejected', 'denied', 'timed_out', 'cancelled', 'expired', 'revoked'] as const;

/** mulberry32: a small seeded PRNG, so a failing run's fault schedule can be replayed with FAULT_SEED. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return results;
}

/**
 * Sends an API call until it is answered with something other than 5xx or a dropped connection, within `budgetMs`.
 * The same Idempotency-Key goes with every attempt, so a retry never doubles what the first attempt did.
 */
export async function persist<T>(
  stack: FaultStack,
  method: string,
  url: string,
  opts: { as: string; body?: unknown; key?: string; budgetMs?: number; base?: string },
): Promise<ApiAnswer<T>> {
  const deadline = Date.now() + (opts.budgetMs ?? 120_000);
  const headers = { 'Idempotency-Key': opts.key ?? randomUUID() };
  for (let attempt = 1; ; attempt++) {
    if (stack.stopped) throw new Error(`${method} ${url}: the stack has stopped`);
    let answer: ApiAnswer<T> | undefined;
    let failure: unknown;
    try {
      answer = await stack.api<T>(method, url, {
        as: opts.as,
        body: opts.body,
        headers,
        timeoutMs: 30_000,
        base: opts.base,
      });
      if (answer.status < 500) return answer;
    } catch (err) {
      failure = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${method} ${url} as ${opts.as} still failing after ${attempt} attempts: ` +
          (answer ? `${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}` : String(failure)),
      );
    }
    const retryAfter = Number(answer?.headers.get('retry-after'));
    await sleep(retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : Math.min(500 * attempt, 3000));
  }
}

/** Polls the projection until every request is in a final state; returns the statuses. Throws on `failed`. */
export async function waitForFinal(stack: FaultStack, ids: readonly string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let rows: { id: string; status: string }[] = [];
    try {
      rows = (
        await stack.db.query<{ id: string; status: string }>('SELECT id, status FROM requests WHERE id = ANY($1)', [
          ids,
        ])
      ).rows;
    } catch {
      // PostgreSQL may be coming back
    }
    const statuses = new Map(rows.map((r) => [r.id, r.status]));
    const open = ids.filter((id) => !(FINAL as readonly string[]).includes(statuses.get(id) ?? ''));
    if (open.length === 0) return statuses;
    // `failed` waits for an operator: nothing more will happen by itself.
    const failed = open.filter((id) => statuses.get(id) === 'failed');
    if (failed.length > 0) throw new Error(`${failed.length} requests failed (e.g. ${failed.slice(0, 3).join(', ')})`);
    if (Date.now() > deadline || stack.stopped) {
      const sample = open.slice(0, 5).map((id) => `${id}: ${statuses.get(id) ?? 'no row'}`);
      throw new Error(
        `${open.length} of ${ids.length} requests are not final after ${timeoutMs} ms, e.g. ${sample.join('; ')}`,
      );
    }
    await sleep(1000);
  }
}

/** The workflows' own final answers (their results), which the projection only mirrors. */
export async function finalViews(stack: FaultStack, ids: readonly string[]): Promise<Map<string, RequestView>> {
  const views = await mapLimit(
    ids,
    16,
    (id) => stack.temporal.workflow.getHandle(workflowIdFor(id)).result() as Promise<RequestView>,
  );
  return new Map(ids.map((id, i) => [id, views[i] as RequestView]));
}

export interface AuditRow {
  eventId: string;
  requestId: string;
  action: string;
  actor: string;
}

export async function auditByRequest(stack: FaultStack, ids: readonly string[]): Promise<Map<string, AuditRow[]>> {
  const { rows } = await stack.db.query<{ event_id: string; request_id: string; action: string; actor: string }>(
    'SELECT event_id, request_id, action, actor FROM audit_events WHERE request_id = ANY($1) ORDER BY seq',
    [ids],
  );
  const byRequest = new Map<string, AuditRow[]>(ids.map((id) => [id, []]));
  for (const r of rows) {
    byRequest
      .get(r.request_id)
      ?.push({ eventId: r.event_id, requestId: r.request_id, action: r.action, actor: r.actor });
  }
  return byRequest;
}

/** The audit chain as an auditor sees it through the API (dave is security). */
export async function verifyAudit(stack: FaultStack): Promise<{ ok: boolean; count: number; brokenAt?: unknown }> {
  const answer = await persist<{ ok: boolean; count: number }>(stack, 'GET', '/v1/audit/verify', { as: 'dave' });
  expectStatus(answer, 200);
  return answer.body;
}

/** How many times each action appears; for actions a request passes once, anything but 1 is lost or doubled work. */
export function countActions(rows: readonly AuditRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.action] = (counts[r.action] ?? 0) + 1;
  return counts;
}

/**
 * Per member, the GRANTs and REVOKEs of `role` that committed at the analytics database: exactly-once at the target
 * means one of each per grant, whatever the worker went through.
 */
export async function committedRoleChanges(stack: FaultStack, role: string) {
  const changes = new Map<string, { GRANT: number; REVOKE: number }>();
  for (const s of await stack.roleStatements()) {
    if (s.role !== role || !s.committed) continue;
    const entry = changes.get(s.member) ?? { GRANT: 0, REVOKE: 0 };
    entry[s.action] += 1;
    changes.set(s.member, entry);
  }
  return changes;
}

export async function isMember(stack: FaultStack, member: string, role: string): Promise<boolean> {
  return isRoleMember(stack.analytics, member, role);
}

export function expectStatus(answer: ApiAnswer, status: number): void {
  if (answer.status !== status) {
    throw new Error(`expected HTTP ${status}, got ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
  }
}

/** Collects every mismatch instead of stopping at the first, so one run shows the whole damage. */
export class Findings {
  readonly items: string[] = [];
  check(ok: boolean, message: string): void {
    if (!ok) this.items.push(message);
  }
  summary(max = 40): string {
    const shown = this.items.slice(0, max);
    return `${this.items.length} findings:\n  ${shown.join('\n  ')}${this.items.length > max ? '\n  …' : ''}`;
  }
}

/**
 * Traces the faults left in the histories: activities that ran more than once, workflow tasks that timed out, and
 * the highest attempt each activity type needed.
 */
export async function crashTraces(stack: FaultStack, ids: readonly string[]) {
  let retriedActivities = 0;
  let timedOutWorkflowTasks = 0;
  const maxAttempts: Record<string, number> = {};
  await mapLimit(ids, 8, async (id) => {
    const history = await stack.temporal.workflow.getHandle(workflowIdFor(id)).fetchHistory();
    const types = new Map<string, string>();
    for (const event of history.events ?? []) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) types.set(String(event.eventId), scheduled.activityType?.name ?? '?');
      const started = event.activityTaskStartedEventAttributes;
      if (started) {
        const attempt = started.attempt ?? 1;
        if (attempt > 1) retriedActivities += 1;
        const type = types.get(String(started.scheduledEventId)) ?? '?';
        maxAttempts[type] = Math.max(maxAttempts[type] ?? 1, attempt);
      }
      if (event.workflowTaskTimedOutEventAttributes) timedOutWorkflowTasks += 1;
    }
  });
  return { retriedActivities, timedOutWorkflowTasks, maxAttempts };
}

/**
 * How many attempts a request's history shows of one activity type: per call, the attempt of its last start
 * (Temporal records the start of the attempt that ended it, numbered), summed over the calls of that type.
 */
export async function activityAttempts(stack: FaultStack, id: string, type: string): Promise<number> {
  const history = await stack.temporal.workflow.getHandle(workflowIdFor(id)).fetchHistory();
  const calls = new Set<string>();
  let attempts = 0;
  for (const event of history.events ?? []) {
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === type) calls.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    if (started && calls.has(String(started.scheduledEventId))) attempts += started.attempt ?? 1;
  }
  return attempts;
}

/** Submits a request as `user` (retrying through 503s under one Idempotency-Key); the new request's id. */
export async function submitRequest(stack: FaultStack, user: string, body: Record<string, unknown>, key?: string) {
  const answer = await persist<{ id: string }>(stack, 'POST', '/v1/requests', {
    as: user,
    body,
    key: key ?? `submit-${user}-${String(body.entitlement)}`,
  });
  if (answer.status !== 201 && answer.status !== 200) {
    throw new Error(`submit as ${user} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
  }
  return answer.body.id;
}

/** Polls a request's projected status until it is one of `statuses`. */
export async function waitForStatus(stack: FaultStack, id: string, statuses: readonly string[], timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await stack.db
      .query<{ status: string; pending_approvers: string[] }>(
        'SELECT status, pending_approvers FROM requests WHERE id = $1',
        [id],
      )
      .catch(() => ({ rows: [] as { status: string; pending_approvers: string[] }[] }));
    const row = rows[0];
    if (row && statuses.includes(row.status)) return row;
    if (Date.now() > deadline || stack.stopped)
      throw new Error(`${id} is ${row?.status ?? 'missing'}, not ${statuses.join('|')}`);
    await sleep(300);
  }
}

/**
 * The three journeys the fault tests drive (on accessRequestV2), and what each must leave behind: v2 also records
 * the approval of the last stage (`approved`) and the start of a revocation (`expiring`) as events of their own.
 */
export type Journey = 'auto' | 'approve' | 'deny';
export const JOURNEYS: Record<Journey, { status: string; actions: string[] }> = {
  // github:member, auto-approved through the webhook connector, then expired.
  auto: {
    status: 'expired',
    actions: ['submitted', 'validated', 'auto_approved', 'provisioned', 'expiring', 'expired'],
  },
  // analytics-db:read, approved by bob, granted as a PostgreSQL role, then expired.
  approve: {
    status: 'expired',
    actions: [
      'submitted',
      'validated',
      'stage_opened',
      'decision_recorded',
      'approved',
      'provisioned',
      'expiring',
      'expired',
    ],
  },
  deny: { status: 'denied', actions: ['submitted', 'validated', 'stage_opened', 'decision_recorded', 'denied'] },
};

export interface Outcome {
  id: string;
  user: string;
  journey: Journey;
}

/**
 * Checks that nothing was lost or doubled: each request's final state (its workflow's result), its audit actions
 * (each once), its webhook keys (the grant and the revoke, nothing else), its committed GRANT / REVOKE of
 * analytics_read, its grant row, and no membership left behind; then the whole audit chain. Returns the webhook
 * deliveries that arrived more than once (still applied once: the receiver dedupes by key).
 */
export async function checkOutcomes(stack: FaultStack, outcomes: readonly Outcome[], findings: Findings) {
  const ids = outcomes.map((o) => o.id);
  const views = await finalViews(stack, ids);
  const audit = await auditByRequest(stack, ids);
  const ledger = await stack.ledger();
  const roles = await committedRoleChanges(stack, 'analytics_read');
  const grants = await stack.db.query<{ request_id: string; ended_at: Date | null }>(
    'SELECT request_id, ended_at FROM grants WHERE request_id = ANY($1)',
    [ids],
  );
  const grantRows = new Map(grants.rows.map((g) => [g.request_id, g]));
  const ledgerByRequest = new Map<string, typeof ledger>();
  for (const entry of ledger) {
    const list = ledgerByRequest.get(entry.body.requestId) ?? [];
    list.push(entry);
    ledgerByRequest.set(entry.body.requestId, list);
  }

  for (const o of outcomes) {
    const expected = JOURNEYS[o.journey];
    const view = views.get(o.id);
    findings.check(
      view?.status === expected.status,
      `${o.id} (${o.journey}) ended ${view?.status}, not ${expected.status}`,
    );
    findings.check(view?.beneficiary === o.user, `${o.id} has beneficiary ${view?.beneficiary}, not ${o.user}`);

    const counts = countActions(audit.get(o.id) ?? []);
    findings.check(
      JSON.stringify(Object.keys(counts).sort()) === JSON.stringify([...expected.actions].sort()) &&
        Object.values(counts).every((n) => n === 1),
      `${o.id} (${o.journey}) audit actions ${JSON.stringify(counts)}; expected each of ${expected.actions.join(', ')} once`,
    );

    const keys = (ledgerByRequest.get(o.id) ?? []).map((e) => e.key).sort();
    const wantedKeys = o.journey === 'auto' ? [`${o.id}:grant`, `${o.id}:revoke`] : [];
    findings.check(
      JSON.stringify(keys) === JSON.stringify(wantedKeys),
      `${o.id} (${o.journey}) webhook keys [${keys.join(', ')}], expected [${wantedKeys.join(', ')}]`,
    );

    const changes = roles.get(o.user) ?? { GRANT: 0, REVOKE: 0 };
    const want = o.journey === 'approve' ? 1 : 0;
    findings.check(
      changes.GRANT === want && changes.REVOKE === want,
      `${o.user} (${o.journey}) analytics_read: ${changes.GRANT} GRANT and ${changes.REVOKE} REVOKE committed, expected ${want} each`,
    );

    const grant = grantRows.get(o.id);
    findings.check(
      o.journey === 'deny' ? !grant : !!grant?.ended_at,
      `${o.id} (${o.journey}) grant row ${JSON.stringify(grant ?? null)}`,
    );
  }

  const members = await mapLimit(outcomes, 8, async (o) => [o.user, await isMember(stack, o.user, 'analytics_read')]);
  for (const [user, member] of members) findings.check(!member, `${user} still holds analytics_read`);

  const eventIds = [...audit.values()].flat().map((e) => e.eventId);
  findings.check(new Set(eventIds).size === eventIds.length, 'an audit event id appears twice');
  const verdict = await verifyAudit(stack);
  findings.check(verdict.ok, `the audit chain does not verify: ${JSON.stringify(verdict)}`);

  return ledger.filter((e) => ids.includes(e.body.requestId) && e.count > 1);
}
