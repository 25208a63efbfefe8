import type { Express } from 'express';
import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { chainHash, type AuditRecord } from '../../activities/audit-chain';
import { readConfigDocuments } from '../../platform/config-files';
import type { RequestView } from '../../workflows/messages';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';
import { createTestApp } from '../helpers/api';

jest.setTimeout(90_000);

const SECRET = 'policy-test-secret-0123456789abcdef';
const tag = uniqueId('p').replace(/[^a-z0-9-]/g, '');
const pia = `pia-${tag}`;
const quinn = `quinn-${tag}`;
const justification = 'Needed for the quarterly analytics report';
const { source } = readConfigDocuments('config/demo', {});

let env: TestEnv;
let app: Express;

beforeAll(async () => {
  env = await startEnv({
    title: 'policy',
    // The version as deployed: the label and the digest of the files on disk.
    source,
    configure: (raw) => {
      raw.directory.users.push({
        id: pia,
        name: 'Pia "Quote" <b>Bold</b>',
        department: 'engineering',
        manager: 'bob',
        groups: ['engineering'],
      });
      raw.directory.users.push({ id: quinn, name: 'Quinn', department: 'finance', manager: 'bob', groups: [] });
      // The critical rule's first stage escalates at once, so that escalations can be counted within a test.
      const critical = raw.policy.rules.find((r: { name: string }) => r.name === 'critical');
      critical.plan[0].sla.escalateAfter = 'PT2S';
      return raw;
    },
  });
  app = createTestApp(env, SECRET);
});
afterAll(async () => {
  await env?.stop();
});

const as = async (userId: string) => `Bearer ${await signDevToken({ userId, secret: SECRET })}`;
const get = async (userId: string, path: string) =>
  request(app)
    .get(path)
    .set('Authorization', await as(userId));
const post = async (userId: string, path: string, body: unknown) =>
  request(app)
    .post(path)
    .set('Authorization', await as(userId))
    .send(body as object);

describe('GET /v1/policy', () => {
  test('answers the version (label and digest of the files) and the rules in order, to anyone signed in', async () => {
    expect((await request(app).get('/v1/policy')).status).toBe(401);
    const res = await get(pia, '/v1/policy');
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(`2026-11-23.1@${source.sha256.slice(0, 12)}`);
    expect(res.body).toMatchObject({ label: '2026-11-23.1', sha256: source.sha256, files: source.files });
    expect(res.body.rules.map((r: { name: string }) => r.name)).toEqual(env.config.policy.rules.map((r) => r.name));
    expect(res.body.rules[0]).toMatchObject({
      name: 'low-risk-auto-approve',
      plan: 'auto-approve',
      conditions: ['sensitivity is low', 'not privileged', 'risk at most medium'],
    });
    expect(res.body.exceptions).toMatchObject({ allow: ['duration_too_long', 'sod_conflict'] });
    expect(res.body.diagram).toMatch(/^flowchart TD\n/);
    // Connector settings stay private here as in the catalog.
    expect(JSON.stringify(res.body)).not.toMatch(/connectionEnv|secretEnv|http:\/\//);
  });
});

describe('plans as pictures', () => {
  test('the preview carries the plan as a Mermaid flowchart, with names escaped', async () => {
    const res = await post(pia, '/v1/requests/preview', { entitlement: 'payroll:viewer', justification });
    expect(res.status).toBe(200);
    const diagram: string = res.body.planDiagram;
    expect(diagram).toMatch(/^flowchart TD\n/);
    expect(diagram).toContain('request(["payroll:viewer for Pia #34;Quote#34; #60;b#62;Bold#60;/b#62; (');
    const order = ['1. manager', '2. resource-owner', '3. security'].map((s) => diagram.indexOf(s));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(diagram).toContain('any 1 of: Carol Chen (carol)');
    expect(diagram).toContain('rule: critical<br/>sensitivity is critical<br/>risk critical (80)<br/>');
    expect(diagram).toContain('escalate after P1D');
  });

  test('an SoD exception previews with its control and the extra stages; without a control it is refused', async () => {
    const body = { entitlement: 'payroll:viewer', justification };
    const refused = await post(pia, '/v1/requests/preview', { ...body, exception: {} });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([expect.objectContaining({ field: 'exception.compensatingControl' })]);
    // Within policy (pia holds nothing on payroll), so an exception is not needed.
    const control = { compensatingControl: 'Finance reviews each payroll run weekly.' };
    const notNeeded = await post(pia, '/v1/requests/preview', { ...body, exception: control });
    expect(notNeeded.body).toMatchObject({ valid: false, reasons: [{ code: 'exception_not_needed' }] });

    // Once pia has asked for the approver role, viewing conflicts with it: as an exception it goes to extra stages.
    const approver = await post(pia, '/v1/requests', { entitlement: 'payroll:approver', justification });
    expect(approver.status).toBe(201);
    await env.waitFor((approver.body as RequestView).id, (v) => v.status === 'pending_approval');
    expect((await post(pia, '/v1/requests/preview', body)).body.reasons).toEqual([
      expect.objectContaining({ code: 'sod_conflict' }),
    ]);
    const exception = await post(pia, '/v1/requests/preview', { ...body, exception: control });
    expect(exception.body).toMatchObject({
      valid: true,
      exception: { waived: [{ code: 'sod_conflict' }], compensatingControl: control.compensatingControl },
    });
    expect(exception.body.plan.stages.map((s: { name: string }) => s.name)).toEqual([
      'manager',
      'resource-owner',
      'security',
      'exception-security',
      'exception-owner-manager',
    ]);
    expect(exception.body.planDiagram).toContain('exception to: sod_conflict<br/>control: Finance reviews');
    expect(exception.body.planDiagram).toContain(
      '5. exception-owner-manager (exception)<br/>any 1 of: Erin Evans (erin)',
    );
  });

  test('the view shows the plan with its stage status', async () => {
    const submitted = await post(pia, '/v1/requests', { entitlement: 'analytics-db:read', justification });
    expect(submitted.status).toBe(201);
    const id = (submitted.body as RequestView).id;
    await env.waitFor(id, (v) => v.status === 'pending_approval');
    const view = await get(pia, `/v1/requests/${id}`);
    expect(view.status).toBe(200);
    expect(view.body.plan.policyVersion).toBe(`2026-11-23.1@${source.sha256.slice(0, 12)}`);
    expect(view.body.planDiagram).toContain('1. manager<br/>any 1 of: Bob Brown (bob)<br/>opened ');
    expect(view.body.planDiagram).toContain('class s1 open');

    const decided = await post('bob', `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(decided.status).toBe(200);
    const after = await get(pia, `/v1/requests/${id}`);
    expect(after.body.planDiagram).toContain('class s1 approved');
    expect(after.body.planDiagram).toMatch(/Bob Brown \(bob\) approved \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  });
});

describe('the policy version as evidence', () => {
  test('validated and rejected events carry it inside the hash, and both exports show it', async () => {
    const version = (await get(pia, '/v1/policy')).body.version as string;
    expect(version).toBe(`2026-11-23.1@${source.sha256.slice(0, 12)}`);

    // A second request for the same access is refused by the workflow's own evaluation (not by the API's pre-check).
    const first = uniqueId('pv');
    const second = uniqueId('pv');
    await env.submit(pia, { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-77' } }, first);
    await env.waitFor(first, (v) => v.status === 'pending_approval');
    await env.submit(pia, { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-78' } }, second);
    const rejected = await env.waitFor(second, (v) => v.status === 'rejected');
    expect(rejected.reasons).toEqual([expect.objectContaining({ code: 'already_requested' })]);

    const events: AuditRecord[] = [];
    for (const id of [first, second]) {
      const json = await get('dave', `/v1/audit/export?format=json&requestId=${id}`);
      expect(json.status).toBe(200);
      events.push(...(JSON.parse(json.text) as { events: AuditRecord[] }).events);
    }
    const decided = events.filter((e) => e.action === 'validated' || e.action === 'rejected');
    expect(decided.map((e) => [e.requestId, e.action, e.data.policyVersion])).toEqual([
      [first, 'validated', version],
      [second, 'rejected', version],
    ]);
    // Inside the hash: recomputing it from the event as exported gives the stored hash, and without the version not.
    for (const e of decided) {
      const content = { eventId: e.eventId, requestId: e.requestId, actor: e.actor, action: e.action, at: e.at };
      expect(chainHash(e.prevHash, e.seq, { ...content, data: e.data })).toBe(e.hash);
      const { policyVersion: _dropped, ...without } = e.data;
      expect(chainHash(e.prevHash, e.seq, { ...content, data: without })).not.toBe(e.hash);
    }
    expect((await get('dave', '/v1/audit/verify')).body.ok).toBe(true);

    const csv = await get('dave', `/v1/audit/export?format=csv&requestId=${second}`);
    expect(csv.status).toBe(200);
    const [header, ...rows] = csv.text.trim().split('\r\n');
    expect(header?.split(',').at(-1)).toBe('policy_version');
    const byAction = new Map(rows.map((line) => [line.split(',')[5], line.split(',').at(-1)]));
    expect(byAction.get('rejected')).toBe(version);
    // Events that decide nothing name no version.
    expect(byAction.get('submitted')).toBe('');
  });
});

describe('exceptions: tagged, listed and reported', () => {
  test('an SoD exception is refused without a control; with one it runs into the extra stages, and is counted', async () => {
    const from = new Date().toISOString();
    const approver = await post(quinn, '/v1/requests', { entitlement: 'payroll:approver', justification });
    expect(approver.status).toBe(201);
    const approverId = (approver.body as RequestView).id;
    await env.waitFor(approverId, (v) => v.status === 'pending_approval');

    const body = { entitlement: 'payroll:viewer', justification };
    const noControl = await post(quinn, '/v1/requests', { ...body, exception: { reviewEvery: 'P7D' } });
    expect(noControl.status).toBe(400);
    expect(noControl.body.errors).toEqual([expect.objectContaining({ field: 'exception.compensatingControl' })]);

    const compensatingControl = 'Finance reviews every payroll run with a second person.';
    const submitted = await post(quinn, '/v1/requests', { ...body, exception: { compensatingControl } });
    expect(submitted.status).toBe(201);
    const id = (submitted.body as RequestView).id;
    const view = await env.waitFor(id, (v) => v.status === 'pending_approval');
    expect(view.tags).toEqual({
      type: 'exception',
      application: 'payroll',
      sensitivity: 'critical',
      urgency: 'normal',
      owners: ['carol'],
    });
    expect(view.exception).toMatchObject({ waived: [{ code: 'sod_conflict' }], compensatingControl });
    expect(view.stages.map((s) => s.name)).toEqual([
      'manager',
      'resource-owner',
      'security',
      'exception-security',
      'exception-owner-manager',
    ]);
    // Through the rule's own stages into the first one the exception added.
    for (const who of ['bob', 'carol', 'dave']) {
      expect((await post(who, `/v1/requests/${id}/decisions`, { decision: 'approve' })).status).toBe(200);
    }
    const extra = await get(quinn, `/v1/requests/${id}`);
    expect(extra.body.stages[3]).toMatchObject({ name: 'exception-security', status: 'open' });
    expect(extra.body.stages[3].approvers).toContain('dave');

    // Tagged in the trail too, and listed by type.
    const trail = await get('dave', `/v1/audit?requestId=${id}&limit=100`);
    const validated = trail.body.events.find((e: { action: string }) => e.action === 'validated');
    expect(validated.data).toMatchObject({ type: 'exception', exception: { waived: ['sod_conflict'] } });
    const listed = await get('dave', `/v1/requests?type=exception&beneficiary=${quinn}`);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((i: { id: string; type: string }) => [i.id, i.type])).toEqual([[id, 'exception']]);
    const ordinary = await get(quinn, `/v1/requests?type=new&mine=true`);
    expect(ordinary.body.items.map((i: { id: string }) => i.id)).toEqual([approverId]);
    expect((await get(quinn, '/v1/requests?type=urgent')).status).toBe(400);

    // The ordinary request's manager stage escalated (2 s in this policy); the exception's did not (decided in time).
    await env.waitFor(approverId, (v) => v.stages[0]?.escalated === true);
    const kpis = await get('dave', `/v1/kpis?from=${encodeURIComponent(from)}`);
    expect(kpis.status).toBe(200);
    expect(kpis.body.exceptions.byResourceAndReason).toEqual([
      { resource: 'payroll', reason: 'sod_conflict', count: 1 },
    ]);
    // On a slow machine bob may also have decided the exception's stage only after it escalated: count from the views.
    const escalated = (await Promise.all([approverId, id].map((r) => env.view(r)))).filter(
      (v) => v.stages[0]?.escalated,
    ).length;
    expect(kpis.body.escalations.byResourceAndStage).toContainEqual({
      resource: 'payroll',
      rule: 'critical',
      stage: 'manager',
      count: escalated,
    });
    expect((await get(quinn, '/v1/kpis')).status).toBe(403);
  });
});
