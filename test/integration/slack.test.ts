import type { Express } from 'express';
import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { createSlack, type Slack } from '../../api/slack/client';
import { createSlackMessenger } from '../../api/slack/messenger';
import { createLogger } from '../../platform/logger';
import type { RequestView } from '../../workflows/messages';
import { createTestApp } from '../helpers/api';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';
import { startSlackStandIn, type ApiCall, type SlackStandIn } from '../helpers/slack-stand-in';

jest.setTimeout(90_000);

const JWT_SECRET = 'slack-test-jwt-secret-0123456789';
const SIGNING_SECRET = 'slack-test-signing-secret-0123456789';
const tag = uniqueId('s').replace(/[^a-z0-9-]/g, '');
const sam = `sam-${tag}`;

let env: TestEnv;
let app: Express;
let standIn: SlackStandIn;
let slack: Slack;
let messenger: ReturnType<typeof createSlackMessenger>;
const opened: string[] = [];

beforeAll(async () => {
  env = await startEnv({
    title: 'slack',
    configure: (raw) => {
      raw.directory.users.push({
        id: sam,
        name: 'Sam Slack',
        email: `${sam}@example.com`,
        department: 'engineering',
        manager: 'bob',
        groups: ['engineering'],
      });
      return raw;
    },
  });
  standIn = await startSlackStandIn();
  standIn.users.set('bob@example.com', 'UBOB');
  standIn.users.set('carol@example.com', 'UCAROL');
  slack = createSlack(
    { botToken: 'xoxb-test', signingSecret: SIGNING_SECRET, portalUrl: 'http://portal.test', apiUrl: standIn.apiUrl },
    env.config,
  );
  app = createTestApp(env, JWT_SECRET, { slack });
  messenger = createSlackMessenger({ pool: env.pool, slack, log: createLogger('slack-test', 'silent') });
});

afterAll(async () => {
  const token = await signDevToken({ userId: sam, secret: JWT_SECRET });
  for (const id of opened) {
    for (const message of ['revoke', 'cancel']) {
      await request(app).post(`/v1/requests/${id}/${message}`).set('Authorization', `Bearer ${token}`).send({});
    }
  }
  await standIn?.close();
  await env?.stop();
});

async function submit(body: Record<string, unknown>): Promise<RequestView> {
  const token = await signDevToken({ userId: sam, secret: JWT_SECRET });
  const res = await request(app)
    .post('/v1/requests')
    .set('Authorization', `Bearer ${token}`)
    .send({ justification: 'Churn numbers for the quarterly review', ...body });
  expect(res.status).toBe(201);
  opened.push(res.body.id);
  return res.body as RequestView;
}

const mentions = (call: ApiCall, id: string) => JSON.stringify(call.args.blocks ?? '').includes(id);
const actionsOf = (call: ApiCall) =>
  ((call.args.blocks ?? []) as { type: string; elements?: { action_id: string; url?: string; value?: string }[] }[])
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? []);

/** Runs sync rounds until a Web API call satisfies `found` (other suites' requests share the database). */
async function syncUntil(found: (call: ApiCall) => boolean): Promise<ApiCall> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await messenger.syncOnce();
    const call = standIn.calls.find(found);
    if (call) return call;
    if (Date.now() > deadline) throw new Error(`no such Slack call; saw ${standIn.calls.map((c) => c.method)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function view(id: string): Promise<RequestView> {
  return env.view(id);
}

async function audit(id: string): Promise<{ actor: string; action: string; data: Record<string, unknown> }[]> {
  const { rows } = await env.pool.query(
    'SELECT actor, action, data FROM audit_events WHERE request_id = $1 ORDER BY seq',
    [id],
  );
  return rows;
}

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition never held; last: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const click = (
  slackUser: string,
  actionId: string,
  value: string,
  opts: { secret?: string; timestamp?: number } = {},
) => standIn.click({ slackUser, actionId, value, secret: opts.secret ?? SIGNING_SECRET, timestamp: opts.timestamp });

const send = (signed: { body: string; headers: Record<string, string> }) =>
  request(app).post('/slack/interactions').set(signed.headers).send(signed.body);

describe('Slack approvals', () => {
  let read: RequestView;

  test('a stage opening DMs the approver once, with Approve and Deny for medium risk', async () => {
    read = await submit({ entitlement: 'analytics-db:read', duration: 'PT1H' });
    expect(read.status).toBe('pending_approval');
    const posted = await syncUntil(
      (c) => c.method === 'chat.postMessage' && c.args.channel === 'DUBOB' && mentions(c, read.id),
    );
    expect(actionsOf(posted).map((a) => a.action_id)).toEqual(['approve', 'deny', 'open-portal']);
    expect(actionsOf(posted)[0]?.value).toBe(read.id);
  });

  test('forged, tampered, stale and future-dated requests are refused and change nothing', async () => {
    const forged = await send(click('UBOB', 'approve', read.id, { secret: 'not-the-signing-secret-000000' }));
    expect(forged.status).toBe(401);
    expect(forged.body.detail).toBe('The Slack signature does not match.');

    const genuine = click('UBOB', 'approve', read.id);
    const tampered = await send({ ...genuine, body: genuine.body.replace('UBOB', 'UCAROL') });
    expect(tampered.status).toBe(401);

    const now = Math.floor(Date.now() / 1000);
    for (const timestamp of [now - 360, now + 360]) {
      const stale = await send(click('UBOB', 'approve', read.id, { timestamp }));
      expect(stale.status).toBe(401);
      expect(stale.body.detail).toMatch(/stale/);
    }
    expect((await view(read.id)).status).toBe('pending_approval');
    expect((await audit(read.id)).filter((e) => e.actor === 'bob' && e.action !== 'stage_opened')).toEqual([]);
  });

  test('an ineligible Slack user is refused by the workflow and audited; a replay of that click is refused', async () => {
    const signed = click('UCAROL', 'approve', read.id);
    expect((await send(signed)).status).toBe(200);
    const refused = await until(
      () => audit(read.id),
      (events) => events.some((e) => e.actor === 'carol' && e.action === 'refused'),
    );
    expect(refused.filter((e) => e.actor === 'carol')).toEqual([
      expect.objectContaining({
        action: 'refused',
        data: expect.objectContaining({ via: 'slack', refusal: 'NotEligible' }),
      }),
    ]);
    await until(
      async () => standIn.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === 'UCAROL'),
      (told) => told.length === 1,
    );

    const replay = await send(signed);
    expect(replay.status).toBe(401);
    expect(replay.body.detail).toBe('This Slack request was already handled.');
    await new Promise((r) => setTimeout(r, 500));
    expect((await audit(read.id)).filter((e) => e.actor === 'carol')).toHaveLength(1);
    expect((await view(read.id)).status).toBe('pending_approval');
  });

  test('a Slack user nobody in the directory matches is refused and audited', async () => {
    expect((await send(click('UNOBODY', 'approve', read.id))).status).toBe(200);
    const events = await until(
      () => audit(read.id),
      (all) => all.some((e) => e.actor === 'slack:UNOBODY'),
    );
    expect(events.find((e) => e.actor === 'slack:UNOBODY')?.data).toMatchObject({
      via: 'slack',
      refusal: 'UnknownSlackUser',
    });
  });

  test('bob approves in Slack: the workflow records it, the trail says Slack, his message loses its buttons in place', async () => {
    const first = standIn.calls.find(
      (c) => c.method === 'chat.postMessage' && c.args.channel === 'DUBOB' && mentions(c, read.id),
    );
    expect((await send(click('UBOB', 'approve', read.id))).status).toBe(200);
    const active = await env.waitFor(read.id, (v) => v.status === 'active');
    expect(active.stages[0]?.decisions.map((d) => [d.approver, d.channel])).toEqual([['bob', 'slack']]);
    const events = await until(
      () => audit(read.id),
      (all) => all.some((e) => e.action === 'decided_in_chat'),
    );
    expect(events.find((e) => e.action === 'decided_in_chat')).toMatchObject({
      actor: 'bob',
      data: { via: 'slack', slackUser: 'UBOB', decision: 'approve' },
    });
    expect(events.find((e) => e.action === 'decision_recorded')).toMatchObject({
      actor: 'bob',
      data: expect.objectContaining({ via: 'update', channel: 'slack' }),
    });

    const updated = await syncUntil(
      (c) =>
        c.method === 'chat.update' &&
        c.args.channel === 'DUBOB' &&
        mentions(c, read.id) &&
        String(c.args.text).includes('active'),
    );
    expect(updated.args.ts).toBe(first?.result.ts);
    expect(updated.args.ts).toMatch(/^\d+\.\d+$/);
    expect(actionsOf(updated)).toEqual([]);
    const posts = standIn.calls.filter(
      (c) => c.method === 'chat.postMessage' && c.args.channel === 'DUBOB' && mentions(c, read.id),
    );
    expect(posts).toHaveLength(1);
  });

  test('high risk has no Approve button in Slack, only the portal; a click anyway is refused', async () => {
    const write = await submit({ entitlement: 'aws-prod:admin', duration: 'PT1H', fields: { ticket: 'INC-42' } });
    expect(write.risk?.level).toMatch(/high|critical/);
    const posted = await syncUntil(
      (c) => c.method === 'chat.postMessage' && c.args.channel === 'DUBOB' && mentions(c, write.id),
    );
    const actions = actionsOf(posted);
    expect(actions.map((a) => a.action_id)).toEqual(['open-portal']);
    expect(actions[0]?.url).toBe(`http://portal.test/#/requests/${write.id}`);

    expect((await send(click('UBOB', 'approve', write.id))).status).toBe(200);
    const events = await until(
      () => audit(write.id),
      (all) => all.some((e) => e.actor === 'bob' && e.action === 'refused'),
    );
    expect(events.find((e) => e.actor === 'bob' && e.action === 'refused')?.data).toMatchObject({
      via: 'slack',
      refusal: 'DecideInPortal',
    });
    expect((await view(write.id)).status).toBe('pending_approval');
    expect((await view(write.id)).stages[0]?.decisions).toEqual([]);
  });
});
