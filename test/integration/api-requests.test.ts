import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { workflowIdFor, type RequestView } from '../../workflows/messages';
import { auditActions, startEnv, uniqueId, type TestEnv } from '../helpers/harness';
import { createTestApp } from '../helpers/api';
import { ensureTemporalCli } from '../../scripts/temporal';

jest.setTimeout(90_000);

const SECRET = 'api-requests-test-secret-0123456789';
// Requesters of this file only: the claims on (beneficiary, entitlement) are shared with every suite in the run.
const tag = uniqueId('t').replace(/[^a-z0-9-]/g, '');
const amy = `amy-${tag}`;
const svc = `svc-${tag}`;
const ann = `ann-${tag}`;

let env: TestEnv;
let app: Express;

beforeAll(async () => {
  env = await startEnv({
    title: 'api-requests',
    configure: (raw) => {
      raw.directory.users.push(
        { id: amy, name: 'Amy Archer', department: 'engineering', manager: 'bob', groups: ['engineering'] },
        { id: svc, name: 'Amy’s CI account', kind: 'service', owner: amy, department: 'engineering' },
        { id: ann, name: 'Ann Operator-View', department: 'engineering', manager: 'bob', groups: ['engineering'] },
      );
      return raw;
    },
  });
  app = createTestApp(env, SECRET);
});
afterAll(async () => {
  await env?.stop();
});

const tokens = new Map<string, string>();
async function as(userId: string): Promise<string> {
  const token = tokens.get(userId) ?? (await signDevToken({ userId, secret: SECRET }));
  tokens.set(userId, token);
  return `Bearer ${token}`;
}

const get = async (userId: string, path: string) =>
  request(app)
    .get(path)
    .set('Authorization', await as(userId));
const post = async (userId: string, path: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  request(app)
    .post(path)
    .set({ Authorization: await as(userId), ...headers })
    .send(body as object);

const justification = 'Quarterly revenue analysis for the board pack';

async function submit(userId: string, body: Record<string, unknown>): Promise<RequestView> {
  const res = await post(userId, '/v1/requests', { justification, ...body });
  expect(res.status).toBe(201);
  return res.body as RequestView;
}

/** Polls GET /v1/requests/:id until the view satisfies `done`. */
async function until(userId: string, id: string, done: (v: RequestView) => boolean, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await get(userId, `/v1/requests/${id}`);
    if (res.status === 200 && done(res.body)) return res.body as RequestView;
    if (Date.now() > deadline) throw new Error(`timed out on ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Polls the projection until `sql` over the request's row is true (the workflow writes it after answering). */
async function projected(id: string, predicate: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { rows } = await env.pool.query(`SELECT (${predicate}) AS ok FROM requests WHERE id = $1`, [id]);
    if (rows[0]?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`request ${id} never satisfied ${predicate}`);
}

describe('the approval happy path', () => {
  let id: string;

  test('amy submits analytics-db:read: 201, Location, the view after validation', async () => {
    const res = await post(amy, '/v1/requests', { entitlement: 'analytics-db:read', justification, duration: 'P3D' });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/v1/requests/${res.body.id}`);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    id = res.body.id;
    expect(res.body).toMatchObject({
      requester: amy,
      beneficiary: amy,
      entitlement: 'analytics-db:read',
      status: 'pending_approval',
      pendingApprovers: ['bob'],
      plan: { kind: 'stages', rule: 'medium' },
    });
  });

  test('bob finds it in his inbox; amy does not', async () => {
    await projected(id, `'bob' = ANY(pending_approvers)`);
    const inbox = await get('bob', '/v1/approvals');
    expect(inbox.status).toBe(200);
    expect(inbox.body.items.map((r: { id: string }) => r.id)).toContain(id);
    const mine = await get(amy, '/v1/approvals');
    expect(mine.body.items.map((r: { id: string }) => r.id)).not.toContain(id);
  });

  test("amy may not approve her own request: 403, the workflow's sentence, and an audit event", async () => {
    const res = await post(amy, `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: 'urn:grantflow:problem:self-approval',
      status: 403,
      detail: 'You cannot decide on a request that you made or that would give you access.',
      refusal: 'SelfApproval',
    });
    const { rows } = await env.pool.query(
      `SELECT actor, data FROM audit_events WHERE request_id = $1 AND action = 'refused' ORDER BY seq`,
      [id],
    );
    expect(rows).toEqual([
      {
        actor: amy,
        data: expect.objectContaining({ message: 'decide', refusal: 'SelfApproval', via: 'update' }),
      },
    ]);
  });

  test('dave (security, sees everything) is not an eligible approver of the manager stage: 403', async () => {
    const res = await post('dave', `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(res.status).toBe(403);
    expect(res.body.type).toBe('urn:grantflow:problem:not-eligible');
  });

  test('carol, who has nothing to do with it, gets the same 404 as for an id that does not exist', async () => {
    const hidden = await get('carol', `/v1/requests/${id}`);
    const unknown = await get('carol', `/v1/requests/${uniqueId('nope')}`);
    expect(hidden.status).toBe(404);
    expect(unknown.status).toBe(404);
    const strip = (b: Record<string, unknown>) => ({ ...b, instance: undefined, requestId: undefined });
    expect(strip(hidden.body)).toEqual(strip(unknown.body));
    // A refused message must not reveal it either, though the attempt is still recorded.
    const decide = await post('carol', `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(decide.status).toBe(404);
    expect(await auditActions(env.pool, id)).toContain('refused');
  });

  test("bob approves: 200 with the workflow's answer, and the grant goes live", async () => {
    const res = await post('bob', `/v1/requests/${id}/decisions`, { decision: 'approve', comment: 'ok for Q3' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'recorded', stage: 'manager', stageStatus: 'approved' });
    const active = await until(amy, id, (v) => v.status === 'active');
    expect(active.grant).toMatchObject({ connector: 'postgres-role', extensions: 0 });
  });

  test('a second decision on the closed stage: 409', async () => {
    const res = await post('bob', `/v1/requests/${id}/decisions`, { decision: 'deny' });
    expect(res.status).toBe(409);
    expect(res.body.type).toBe('urn:grantflow:problem:stage-closed');
  });

  test('extend within the no-approval allowance, then beyond the entitlement maximum: 422', async () => {
    const ok = await post(amy, `/v1/requests/${id}/extend`, {
      duration: 'P1D',
      justification: 'The report slipped a day',
    });
    expect(ok.status).toBe(200);
    expect(ok.body.outcome).toBe('extended');
    const tooLong = await post(amy, `/v1/requests/${id}/extend`, {
      duration: 'P100D',
      justification: 'Forever and ever',
    });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.type).toBe('urn:grantflow:problem:extension-too-long');
  });

  test('bob is no revoker (403); amy revokes her own grant; the closed request refuses further messages (409)', async () => {
    const bob = await post('bob', `/v1/requests/${id}/revoke`, { reason: 'tidy up' });
    expect(bob.body).toMatchObject({ status: 403 });
    expect(bob.body.type).toBe('urn:grantflow:problem:not-allowed');
    const res = await post(amy, `/v1/requests/${id}/revoke`, { reason: 'done with it' });
    expect(res.status).toBe(200);
    await until(amy, id, (v) => v.status === 'revoked');
    await projected(id, `status = 'revoked'`);
    // Once the workflow has completed, Temporal reads an update as "not found"; the API answers that it is closed.
    await env.client.workflow.getHandle(workflowIdFor(id)).result();
    const late = await post('bob', `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({
      type: 'urn:grantflow:problem:request-closed',
      detail: `Request ${id} is closed (status: revoked); it accepts no more messages.`,
    });
    expect((await get(amy, `/v1/requests/${id}`)).body.status).toBe('revoked');
  });
});

describe('other paths', () => {
  test('github:member auto-approves and goes live without anyone deciding', async () => {
    const view = await submit(amy, { entitlement: 'github:member' });
    expect(view.plan).toMatchObject({ kind: 'auto-approve', rule: 'low-risk-auto-approve' });
    await until(amy, view.id, (v) => v.status === 'active');
  });

  test('preview shows validation, risk and the plan with named approvers, and starts nothing', async () => {
    const before = await env.pool.query('SELECT count(*)::int AS n FROM requests WHERE requester = $1', [amy]);
    const res = await post(amy, '/v1/requests/preview', {
      entitlement: 'analytics-db:write',
      justification,
      fields: { ticket: 'CHG-42' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      valid: true,
      risk: { level: expect.any(String) },
      plan: {
        kind: 'stages',
        rule: 'high',
        stages: [
          { name: 'manager', approvers: [{ id: 'bob', name: 'Bob Brown' }], deadline: 'P3D' },
          {
            name: 'resource-owner',
            approvers: [
              { id: 'frank', name: 'Frank Fischer' },
              { id: 'grace', name: 'Grace Green' },
            ],
          },
        ],
      },
      grant: { beneficiary: amy, duration: 'P7D', maxDuration: 'P30D', connector: 'postgres-role' },
    });
    const invalid = await post(amy, '/v1/requests/preview', {
      entitlement: 'payroll:viewer',
      justification,
      beneficiary: 'bob',
    });
    expect(invalid.status).toBe(200);
    expect(invalid.body.valid).toBe(false);
    expect(invalid.body.reasons.map((r: { code: string }) => r.code)).toContain('beneficiary_not_allowed');
    const after = await env.pool.query('SELECT count(*)::int AS n FROM requests WHERE requester = $1', [amy]);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  test("a request for amy's service account is hers to see and cancel; grace, involved later, sees it too", async () => {
    const view = await submit(amy, {
      entitlement: 'analytics-db:write',
      beneficiary: svc,
      fields: { ticket: 'CHG-7' },
    });
    expect(view.beneficiary).toBe(svc);
    expect(view.status).toBe('pending_approval');
    // Grace is the second stage's approver (Frank's delegate): involved, so she sees it, but may not decide yet.
    expect((await get('grace', `/v1/requests/${view.id}`)).status).toBe(200);
    const early = await post('grace', `/v1/requests/${view.id}/decisions`, { decision: 'approve' });
    expect(early.status).toBe(403);
    expect(early.body.type).toBe('urn:grantflow:problem:not-eligible');
    expect((await post('bob', `/v1/requests/${view.id}/cancel`, {})).status).toBe(403);
    const cancelled = await post(amy, `/v1/requests/${view.id}/cancel`, { reason: 'wrong account' });
    expect(cancelled.status).toBe(200);
    await until(amy, view.id, (v) => v.status === 'cancelled');
  });

  test('a policy rejection (SoD, duplicates) is a request with status rejected and its reasons', async () => {
    const first = await submit(amy, { entitlement: 'payroll:viewer' });
    expect(first.status).toBe('pending_approval');
    const second = await submit(amy, { entitlement: 'payroll:approver' });
    expect(second.status).toBe('rejected');
    expect(second.reasons.map((r) => r.code)).toContain('sod_conflict');
    await post(amy, `/v1/requests/${first.id}/cancel`, {});
  });

  test('Idempotency-Key: the same body answers 200 with the same request and one workflow; another body 422', async () => {
    const key = `key-${uniqueId()}`;
    const body = { entitlement: 'analytics-db:read', justification, beneficiary: svc };
    const first = await post(amy, '/v1/requests', body, { 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    const run = await env.client.workflow.getHandle(workflowIdFor(first.body.id)).describe();

    const again = await post(amy, '/v1/requests', { ...body }, { 'Idempotency-Key': key });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.location).toBe(`/v1/requests/${first.body.id}`);
    const after = await env.client.workflow.getHandle(workflowIdFor(first.body.id)).describe();
    expect(after.runId).toBe(run.runId);
    const rows = await env.pool.query('SELECT id FROM requests WHERE requester = $1 AND idempotency_key = $2', [
      amy,
      key,
    ]);
    expect(rows.rows).toEqual([{ id: first.body.id }]);

    const different = await post(amy, '/v1/requests', { ...body, duration: 'P2D' }, { 'Idempotency-Key': key });
    expect(different.status).toBe(422);
    expect(different.body).toMatchObject({
      type: 'urn:grantflow:problem:idempotency-key-reused',
      existingRequestId: first.body.id,
    });
    await post(amy, `/v1/requests/${first.body.id}/cancel`, {});
  });
});

describe('lists, catalog, audit and KPIs', () => {
  test('GET /v1/requests filters and pages newest first with a cursor', async () => {
    const all = await get(amy, `/v1/requests?mine=true&limit=100`);
    expect(all.status).toBe(200);
    expect(all.body.items.length).toBeGreaterThanOrEqual(5);
    expect(all.body.items.every((r: { requester: string }) => r.requester === amy)).toBe(true);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await get(amy, `/v1/requests?mine=true&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((r: { id: string }) => r.id));
      cursor = page.body.next;
    } while (cursor);
    expect(seen).toEqual(all.body.items.map((r: { id: string }) => r.id));

    const cancelled = await get(amy, `/v1/requests?mine=true&status=cancelled,rejected&resource=payroll`);
    expect(cancelled.body.items.length).toBeGreaterThan(0);
    for (const r of cancelled.body.items) {
      expect(['cancelled', 'rejected']).toContain(r.status);
      expect(r.resource).toBe('payroll');
    }
    expect((await get(amy, '/v1/requests?status=nonsense')).status).toBe(400);
    expect((await get(amy, '/v1/requests?cursor=garbage')).status).toBe(400);
    expect((await get(amy, '/v1/requests?limit=101')).status).toBe(400);
  });

  test("carol sees none of amy's requests; dave (security) sees them all", async () => {
    // Carol owns payroll, so amy's payroll requests are hers to see; the analytics ones are not.
    const carol = await get('carol', `/v1/requests?limit=100&beneficiary=${amy}&resource=analytics-db`);
    expect(carol.body.items).toEqual([]);
    const dave = await get('dave', `/v1/requests?limit=100&beneficiary=${amy}&resource=analytics-db`);
    expect(dave.body.items.length).toBeGreaterThan(0);
  });

  test('GET /v1/catalog lists entitlements with their fields and limits, not connector settings', async () => {
    const res = await get(amy, '/v1/catalog');
    expect(res.status).toBe(200);
    const write = res.body.resources
      .flatMap((r: { entitlements: unknown[] }) => r.entitlements)
      .find((e: { id: string }) => e.id === 'analytics-db:write');
    expect(write).toMatchObject({ maxDuration: 'P30D', fields: [{ name: 'ticket', required: true }] });
    expect(JSON.stringify(res.body)).not.toMatch(/connectionEnv|secretEnv|http:\/\//);
  });

  test('the audit trail is for security and auditors: list, export, verify', async () => {
    expect((await get(amy, '/v1/audit')).status).toBe(403);
    const [ours] = (await get(amy, '/v1/requests?mine=true&limit=1')).body.items;
    const list = await get('dave', `/v1/audit?requestId=${ours.id}&limit=500`);
    expect(list.status).toBe(200);
    expect(list.body.events.map((e: { action: string }) => e.action)).toContain('submitted');

    const csv = await get('dave', `/v1/audit/export?format=csv&requestId=${ours.id}`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/^attachment; filename="?grantflow-audit-[\dTZ-]+\.csv"?$/);
    expect(csv.text.split('\r\n')[0]).toBe(
      'seq,event_id,request_id,at,actor,action,data,prev_hash,hash,key_id,mac,policy_version',
    );

    const json = await get('dave', `/v1/audit/export?requestId=${ours.id}`);
    expect(json.status).toBe(200);
    // The request may still be running: the export, taken later, holds at least what the list showed, in order.
    const doc = JSON.parse(json.text) as {
      complete: boolean;
      checkpoint: { seq: number };
      events: { eventId: string }[];
    };
    // A filtered export: its checkpoint was signed, but it cannot be chained offline without the events between.
    expect(doc).toMatchObject({
      format: 'grantflow-audit-export',
      complete: false,
      checkpoint: { seq: expect.any(Number) },
    });
    const exported = doc.events.map((e) => e.eventId);
    const listed = list.body.events.map((e: { eventId: string }) => e.eventId);
    expect(exported.slice(0, listed.length)).toEqual(listed);

    const verify = await get('dave', '/v1/audit/verify');
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ ok: true });
    const exports = await env.pool.query(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'audit_exported' AND actor = 'dave'`,
    );
    expect(exports.rows[0].n).toBeGreaterThanOrEqual(2);
  });

  test('KPIs for security; 403 for others', async () => {
    expect((await get(amy, '/v1/kpis')).status).toBe(403);
    const res = await get('dave', '/v1/kpis');
    expect(res.status).toBe(200);
    expect(res.body.counts.submitted).toBeGreaterThan(0);
    expect(res.body.counts.autoApproved).toBeGreaterThan(0);
    expect(res.body.timeToFirstDecision.p50).toEqual(expect.any(Number));
    expect(res.body.timeToApprove.p50).toEqual(expect.any(Number));
    expect(res.body.rates.autoApproval).toBeGreaterThan(0);
    expect(Array.isArray(res.body.backlog.byResource)).toBe(true);
    // A period [from, to) with `to` before `from` is empty (the document says so): nothing in it, not an error.
    const empty = await get('dave', '/v1/kpis?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(empty.status).toBe(200);
    expect(empty.body.counts.submitted).toBe(0);
  });
});

describe('the operator view in Temporal', () => {
  /** The README's operator queries, as its table lists them: question → query. */
  function readmeQueries(): Map<string, string> {
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.split('## Operating it from the Temporal UI')[1]?.split('\n## ')[0] ?? '';
    const rows = [...section.matchAll(/^\| ([^|]+?) +\| `([^`]+)` +\|$/gm)];
    return new Map(rows.map((m) => [m[1] as string, m[2] as string]));
  }

  test('the list reads requester → entitlement, risk; the README queries run in the Temporal CLI', async () => {
    const view = await submit(ann, { entitlement: 'analytics-db:read' });
    expect(view.status).toBe('pending_approval');
    const description = await env.client.workflow.getHandle(workflowIdFor(view.id)).describe();
    expect(await description.staticSummary()).toBe(`${ann} → analytics-db:read, risk ${view.risk?.level}`);
    expect(await description.staticDetails()).toContain(`Justification: ${justification}`);

    // Each query as the README writes it, narrowed to this request: does the CLI accept it, and find it exactly
    // when it should (pending on bob, on analytics-db, high risk only if it is; nothing live, failed or expiring)?
    const expected: Record<string, boolean> = {
      'everything waiting on bob': true,
      'every live break-glass grant': false,
      'high-risk requests still pending': ['high', 'critical'].includes(view.risk?.level ?? ''),
      'failed provisioning, to retry': false,
      'grants expiring in the next day': false,
      'everything on one resource': true,
    };
    const queries = readmeQueries();
    expect([...queries.keys()].sort()).toEqual(Object.keys(expected).sort());
    const cli = ensureTemporalCli();
    const found = (query: string): boolean => {
      const out = execFileSync(
        cli,
        ['workflow', 'list', '--address', process.env.TEMPORAL_ADDRESS as string, '--query', query, '-o', 'json'],
        { encoding: 'utf8', timeout: 20_000 },
      );
      return out.includes(workflowIdFor(view.id));
    };
    // Search attributes are written with the workflow's bookkeeping, and visibility follows a moment later.
    const narrowed = (q: string) => `(${q}) AND WorkflowId = '${workflowIdFor(view.id)}'`;
    await env.waitFor(view.id, () => found(narrowed(queries.get('everything waiting on bob') ?? '')), 15_000);
    const answers = Object.fromEntries([...queries].map(([question, q]) => [question, found(narrowed(q))]));
    expect(answers).toEqual(expected);
  });
});
