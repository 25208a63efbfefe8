import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { Express } from 'express';
import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { syncCampaignSchedules } from '../../api/campaign-schedules';
import type { EvidenceBody } from '../../api/campaign-schemas';
import { parseCampaigns, type CampaignDefinitions } from '../../domain/campaign';
import { accessReviewCampaign } from '../../workflows';
import { getCampaignQuery, type CampaignArgs } from '../../workflows/campaign/messages';
import { revokeUpdate, workflowIdFor } from '../../workflows/messages';
import { createTestApp } from '../helpers/api';
import { historyToJson } from '../helpers/fault-history-json';
import { hasRole, startEnv, uniqueId, workflowBundle, type TestEnv } from '../helpers/harness';

jest.setTimeout(90_000);

const SECRET = 'campaigns-test-secret-0123456789';
// People of this file only: the test database's grants are shared with every suite in the run, so each campaign's
// scope is the groups below and no other suite's grant is ever reviewed (or revoked) here.
const tag = uniqueId('c').replace(/[^a-z0-9-]/g, '');
const group = `rv-${tag}`;
const guardGroup = `rvg-${tag}`;
const carryGroup = `rvc-${tag}`;
const eve = `eve-${tag}`;
const [ann, ben, cat, dan] = ['ann', 'ben', 'cat', 'dan'].map((n) => `${n}-${tag}`) as [string, string, string, string];
const [gus, gwen, owner] = ['gus', 'gwen', 'own'].map((n) => `${n}-${tag}`) as [string, string, string];
const role = (user: string) => hasRole(user, 'analytics_read');

let env: TestEnv;
let app: Express;
let definitions: CampaignDefinitions;

beforeAll(async () => {
  env = await startEnv({
    title: 'campaigns',
    configure: (raw) => {
      const person = (id: string, groups: string[], extra: Record<string, unknown> = {}) => ({
        id,
        name: id,
        department: 'engineering',
        manager: 'bob',
        groups: ['engineering', ...groups],
        ...extra,
      });
      raw.directory.users.push(
        ...[ann, ben, cat, dan].map((id) => person(id, [group])),
        person(gus, [guardGroup]),
        person(gwen, [guardGroup]),
        person(eve, [carryGroup]),
        // The guard campaign's reviewer, away: their reviews go to gwen, who holds one of the items herself.
        person(owner, [], { delegation: { to: gwen, until: '2099-01-01T00:00:00Z' } }),
      );
      // Privileged here, so that keeping it needs a comment; granted at once, so the test has grants to review.
      const analytics = raw.catalog.resources.find((r: { id: string }) => r.id === 'analytics-db');
      analytics.entitlements.find((e: { role: string }) => e.role === 'read').privileged = true;
      raw.policy.rules.unshift({
        name: 'test-grants',
        when: { entitlements: ['analytics-db:read'] },
        plan: 'auto-approve',
      });
      return raw;
    },
  });
  definitions = parseCampaigns(
    {
      version: 'test',
      campaigns: [
        {
          id: `quarterly-${tag}`,
          name: 'Analytics database, quarterly',
          scope: { resources: ['analytics-db'], groups: [group] },
          reviewers: { rule: 'resource-owner', fallback: 'group:security' },
          duration: 'PT10S',
          reminders: ['PT3S'],
          escalateAfter: 'PT6S',
          default: 'recommendation',
          maxDefaultRevokeShare: 0.5,
          // Every grant here is "old" and never extended: two weak reasons, so grantflow recommends revoking.
          recommendations: { olderThan: 'PT1S' },
          schedule: { cron: ['0 9 1 1,4,7,10 *'] },
        },
        {
          id: `guard-${tag}`,
          name: 'Revoke everything unless vouched for',
          scope: { entitlements: ['analytics-db:read'], groups: [guardGroup] },
          reviewers: { rule: `user:${owner}`, fallback: 'group:security' },
          duration: 'PT4S',
          default: 'revoke',
        },
      ],
    },
    env.config,
  );
  app = createTestApp(env, SECRET, { campaigns: definitions });
  await Promise.all([ann, ben, cat, dan, gus, gwen, eve].map(grant));
});
afterAll(async () => {
  await env?.client.schedule
    .getHandle(`campaign-schedule-quarterly-${tag}`)
    .delete()
    .catch(() => undefined);
  await env?.stop();
});

const requestOf = new Map<string, string>();
async function grant(user: string): Promise<void> {
  const id = uniqueId();
  requestOf.set(user, id);
  await env.submit(user, { entitlement: 'analytics-db:read', duration: 'PT1H' }, id);
  await env.waitFor(id, (v) => v.status === 'active');
  await until(async () => {
    const { rows } = await env.pool.query("SELECT 1 FROM requests WHERE id = $1 AND status = 'active'", [id]);
    return rows.length === 1;
  });
}

async function as(userId: string): Promise<string> {
  return `Bearer ${await signDevToken({ userId, secret: SECRET })}`;
}
const get = async (userId: string, path: string) =>
  request(app)
    .get(path)
    .set('Authorization', await as(userId));
const post = async (userId: string, path: string, body: unknown = {}) =>
  request(app)
    .post(path)
    .set('Authorization', await as(userId))
    .send(body as object);

async function until<T>(probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
const status = (id: string, wanted: string) =>
  until(async () => {
    const res = await get('dave', `/v1/campaigns/${id}`);
    return res.status === 200 && res.body.status === wanted && res.body;
  });

type Item = { id: string; holder: string; recommendation: string; reasons: { code: string }[] };

test('a scheduled quarterly campaign: the delegate reviews, keeps and revokes reach the request, the rest follow the default', async () => {
  const [scheduleId] = await syncCampaignSchedules(env.client, definitions, env.taskQueue);
  // A second sync (the next start-up) updates rather than fails.
  await syncCampaignSchedules(env.client, definitions, env.taskQueue);
  const schedule = env.client.schedule.getHandle(scheduleId as string);
  // Every grant under review must be older than the definition's `olderThan` (PT1S) when the campaign starts, or
  // its recommendation depends on how fast the grants above went through.
  const { rows } = await env.pool.query<{ newest: Date }>(
    'SELECT max(started_at) AS newest FROM requests WHERE id = ANY($1)',
    [[ann, ben, cat, dan].map((u) => requestOf.get(u))],
  );
  const wait = (rows[0]?.newest?.getTime() ?? Date.now()) + 1_500 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  await schedule.trigger();
  const id = await until(async () => {
    const action = (await schedule.describe()).info.recentActions[0]?.action;
    return action?.type === 'startWorkflow' && action.workflow.workflowId;
  });
  await status(id, 'open');

  // frank owns analytics-db and is away: grace, his delegate, has every item, and one digest for all of them.
  const inbox = await get('grace', `/v1/reviews/inbox?campaign=${id}`);
  expect(inbox.status).toBe(200);
  const items = new Map((inbox.body.items as Item[]).map((i) => [i.holder, i]));
  expect([...items.keys()].sort()).toEqual([ann, ben, cat, dan].sort());
  expect(items.get(cat)).toMatchObject({ recommendation: 'revoke' });
  expect(items.get(cat)?.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['grant_older_than']));
  const digests = await env.pool.query('SELECT key, recipients FROM notifications WHERE key LIKE $1 ORDER BY key', [
    `campaign:${id}:digest:%`,
  ]);
  expect(digests.rows.map((r: { recipients: string[] }) => r.recipients)).toEqual([['frank'], ['grace']]);
  const itemOf = (holder: string) => items.get(holder)?.id as string;

  // The holder cannot decide their own access; someone who is not a reviewer sees no such item.
  const own = await post(ann, `/v1/reviews/items/${itemOf(ann)}/decision`, { decision: 'keep', comment: 'mine' });
  expect(own.status).toBe(403);
  expect(own.body.type).toBe('urn:grantflow:problem:self-approval');
  expect((await post('bob', `/v1/reviews/items/${itemOf(ann)}/decision`, { decision: 'revoke' })).status).toBe(404);
  expect((await get(ann, `/v1/reviews/inbox?campaign=${id}`)).body.items).toEqual([]);
  // Keeping privileged access needs a comment.
  const bare = await post('grace', `/v1/reviews/items/${itemOf(ann)}/decision`, { decision: 'keep' });
  expect(bare.status).toBe(400);
  expect(bare.body.errors).toEqual([{ field: 'comment', message: expect.stringContaining('required') }]);

  const kept = await post('grace', `/v1/reviews/items/${itemOf(ann)}/decision`, {
    decision: 'keep',
    comment: 'Ann runs the monthly revenue report.',
  });
  expect(kept.status).toBe(200);
  const revoked = await post('grace', '/v1/reviews/decisions', { items: [itemOf(ben)], decision: 'revoke' });
  expect(revoked.status).toBe(200);
  // dan's grant ends on its own meanwhile: his item closes itself.
  await env.client.workflow
    .getHandle(workflowIdFor(requestOf.get(dan) as string))
    .executeUpdate(revokeUpdate, { args: [{ by: dan, reason: 'no longer needed' }] });

  const closed = await status(id, 'closed');
  expect(closed).toMatchObject({ items: 4, decided: 2, startedBy: 'system' });
  expect(await role(ann)).toBe(true);
  expect(await role(ben)).toBe(false);
  expect(await role(cat)).toBe(false);

  // Each revoke reached the request's own workflow once, as the system, naming the campaign.
  for (const holder of [ben, cat]) {
    const { rows } = await env.pool.query(
      "SELECT actor, data->>'reason' AS reason FROM audit_events WHERE request_id = $1 AND action = 'revoked'",
      [requestOf.get(holder)],
    );
    expect(rows).toEqual([{ actor: 'system', reason: expect.stringContaining(`access review ${id}`) }]);
  }

  const evidence = await get('dave', `/v1/campaigns/${id}/evidence`);
  expect(evidence.status).toBe(200);
  const body = evidence.body as EvidenceBody;
  const row = (holder: string) => body.items.find((i) => i.holder === holder);
  expect(row(ann)).toMatchObject({
    decision: 'keep',
    decisionSource: 'reviewer',
    decidedBy: 'grace',
    comment: 'Ann runs the monthly revenue report.',
    outcome: 'kept',
    assigned: ['frank'],
  });
  expect(row(ben)).toMatchObject({ decision: 'revoke', decidedBy: 'grace', outcome: 'revoked' });
  expect(row(cat)).toMatchObject({ decision: 'revoke', decisionSource: 'default', outcome: 'revoked' });
  expect(row(dan)).toMatchObject({ outcome: 'grant_ended' });
  expect(row(ben)?.revokedAtTarget).toEqual(expect.any(String));
  // The sequence numbers point at the audit chain's own events.
  const seqs = [row(ann)?.decisionSeq, row(ben)?.appliedSeq, row(ben)?.requestRevokedSeq];
  const { rows: chain } = await env.pool.query(
    'SELECT seq::int AS seq, action FROM audit_events WHERE seq = ANY($1::bigint[]) ORDER BY seq',
    [seqs],
  );
  expect(chain.map((r: { action: string }) => r.action).sort()).toEqual(
    ['campaign.item.decided', 'campaign.item.revoked', 'revoked'].sort(),
  );
  expect(body.events.map((e) => e.action)).toEqual(
    expect.arrayContaining(['campaign.started', 'campaign.opened', 'campaign.defaults_applied', 'campaign.closed']),
  );
  const csv = await get('dave', `/v1/campaigns/${id}/evidence?format=csv`);
  expect(csv.headers['content-type']).toMatch(/^text\/csv/);
  expect(csv.text.trim().split('\r\n')).toHaveLength(5);
  // Reviewers do not take evidence out; KPIs count what reviewers did themselves.
  expect((await get('grace', `/v1/campaigns/${id}/evidence`)).status).toBe(403);
  const kpis = await get('dave', `/v1/campaigns/${id}/kpis`);
  expect(kpis.body).toMatchObject({ items: 4, decidedByReviewers: 2, completion: 0.5 });
  const reminders = await env.pool.query('SELECT count(*)::int AS n FROM notifications WHERE key LIKE $1', [
    `campaign:${id}:reminder-1:%`,
  ]);
  expect(reminders.rows[0].n).toBeGreaterThan(0);
});

test('the guard holds a default that would revoke everything until security answers; a delegate never reviews their own access', async () => {
  const denied = await post('alice', '/v1/campaigns', { definition: `guard-${tag}` });
  expect(denied.status).toBe(403);
  const started = await post('dave', '/v1/campaigns', { definition: `guard-${tag}` });
  expect(started.status).toBe(202);
  const id = started.body.id as string;
  await status(id, 'open');

  // gwen stands in for the reviewer, but one of the items is her own access: never hers to decide.
  const inbox = await get(gwen, `/v1/reviews/inbox?campaign=${id}`);
  expect((inbox.body.items as Item[]).map((i) => i.holder)).toEqual([gus]);
  const { rows } = await env.pool.query('SELECT id FROM campaign_items WHERE campaign_id = $1 AND holder = $2', [
    id,
    gwen,
  ]);
  const attack = await post(gwen, '/v1/reviews/decisions', { items: [rows[0].id], decision: 'keep', comment: 'fine' });
  expect(attack.status).toBe(403);
  expect(attack.body.type).toBe('urn:grantflow:problem:self-approval');

  const held = await status(id, 'awaiting_confirmation');
  expect(held.guard).toMatchObject({ share: 1, defaultRevokes: 2, max: 0.25 });
  expect(await role(gus)).toBe(true);
  expect((await post('alice', `/v1/campaigns/${id}/confirm`, { apply: true })).status).toBe(403);
  expect((await post('dave', `/v1/campaigns/${id}/confirm`, { apply: false })).status).toBe(202);
  await status(id, 'closed');
  expect(await role(gus)).toBe(true);
  expect(await role(gwen)).toBe(true);
  const evidence = (await get('dave', `/v1/campaigns/${id}/evidence`)).body as EvidenceBody;
  expect(evidence.items.map((i) => [i.decision, i.outcome])).toEqual([
    ['keep', 'kept'],
    ['keep', 'kept'],
  ]);
  expect(evidence.campaign.guard).toMatchObject({ confirmedBy: 'dave', apply: false });
});

test('the campaign continues as new on timers and pages, carrying its state whole', async () => {
  const base = definitions.byId.get(`quarterly-${tag}`) as CampaignArgs['definition'];
  // Reminders every second force continue-as-new past a history of 12 events.
  const definition = {
    ...base,
    scope: { ...base.scope, groups: [carryGroup] },
    id: `can-${tag}`,
    // Long enough that the reminders a restart delays still come before the due date.
    duration: 'PT20S',
    reminders: ['PT1S', 'PT2S', 'PT3S'],
    default: 'keep' as const,
  };
  delete (definition as Partial<typeof definition>).escalateAfter;
  const id = `campaign-can-${tag}-${uniqueId('x')}`;
  const handle = await env.client.workflow.start(accessReviewCampaign, {
    workflowId: id,
    taskQueue: env.taskQueue,
    args: [{ definition, startedBy: 'dave', historyLimit: 12 }],
  });
  // A worker that loses its cache mid-campaign (here: restarted after the first reminder) must carry on exactly as
  // a replay of the history would: every decision of the campaign reads its own clock, never the task's time.
  await until(async () => (await handle.query(getCampaignQuery)).remindersSent >= 1);
  await env.restartWorker();
  const state = await handle.result();
  expect(state).toMatchObject({ status: 'closed', remindersSent: 3, items: 1 });
  // The last run is not the first: the history was cut and the state carried.
  expect((await env.client.workflow.getHandle(id).describe()).runId).not.toBe(handle.firstExecutionRunId);
  // Every run's history replays against the current code (the recorded ones in test/faults/histories/campaign/
  // came from here: GRANTFLOW_RECORD_CAMPAIGN_HISTORIES=<dir> writes them).
  const runs: string[] = [];
  for await (const run of env.client.workflow.list({ query: `WorkflowId = '${id}'` })) runs.push(run.runId);
  expect(runs.length).toBeGreaterThan(1);
  const histories = await Promise.all(
    runs.map(async (runId) => ({
      workflowId: id,
      runId,
      history: await env.client.workflow.getHandle(id, runId).fetchHistory(),
    })),
  );
  for (const { history } of histories) {
    await Worker.runReplayHistory(
      { workflowBundle: await workflowBundle(), replayName: 'campaign-replay' },
      history,
      id,
    );
  }
  const record = process.env.GRANTFLOW_RECORD_CAMPAIGN_HISTORIES;
  if (record) {
    fs.mkdirSync(record, { recursive: true });
    const ordered = histories.sort(
      (a, b) =>
        Number(a.history.events?.[0]?.eventTime?.seconds ?? 0) - Number(b.history.events?.[0]?.eventTime?.seconds ?? 0),
    );
    ordered.forEach(({ history }, n) =>
      fs.writeFileSync(path.join(record, `continued-run-${n + 1}.json`), historyToJson(history)),
    );
  }
  const evidence = (await get('dave', `/v1/campaigns/${id}/evidence`)).body as EvidenceBody;
  expect(evidence.items.map((i) => [i.holder, i.outcome])).toEqual([[eve, 'kept']]);
});
