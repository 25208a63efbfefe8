/**
 * A person's own delegation through the API (PUT and DELETE /v1/me/delegation) over the directory in PostgreSQL: who
 * may be named, that the policy routes new stages to the delegate, that a directory sync does not undo the person's
 * choice, that each change is in the audit trail, and that nobody can change someone else's delegation.
 */
import { Client, Connection } from '@temporalio/client';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../api/app';
import { devAuthenticator, signDevToken } from '../../api/auth';
import type { Directory } from '../../domain/model';
import { createDirectoryView } from '../../directory/view';
import { syncYamlDirectory } from '../../directory/yaml';
import { loadConfig } from '../../platform/config-files';
import { createLogger } from '../../platform/logger';
import { DEMO_CONFIG_DIR, directoryDb, type DirectoryDb } from '../helpers/directory';

const SECRET = 'delegation-test-secret-0123456789';
const config = loadConfig(DEMO_CONFIG_DIR, {});
const DAY = 86_400_000;
let db: DirectoryDb;
let connection: Connection;
let app: Express;

/** The demo directory with erin gone inactive (a leaver to try naming). */
const directory: Directory = {
  users: config.directory.users.map((u) => (u.id === 'erin' ? { ...u, active: false } : u)),
};

beforeAll(async () => {
  db = await directoryDb();
  await syncYamlDirectory(db.pool, directory);
  connection = Connection.lazy({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  app = createApp({
    client: new Client({ connection }),
    pool: db.pool,
    config,
    directory: createDirectoryView(db.pool, config, 'yaml'),
    auth: devAuthenticator({ secret: SECRET, audience: 'grantflow' }),
    log: createLogger('delegation-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
    taskQueue: 'delegation-test',
    rateLimitPerMinute: 1000,
  });
});
afterAll(async () => {
  await db?.drop();
  await connection?.close();
});

const bearer = async (userId: string) => `Bearer ${await signDevToken({ userId, secret: SECRET })}`;
const me = async (userId: string) =>
  (
    await request(app)
      .get('/v1/me')
      .set('Authorization', await bearer(userId))
  ).body;
const put = async (userId: string, body: unknown) =>
  request(app)
    .put('/v1/me/delegation')
    .set('Authorization', await bearer(userId))
    .send(body as object);
const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();

/** Who the policy would ask first for alice's analytics-db:read (her manager bob, and his delegate if any). */
async function firstApprovers(): Promise<string[]> {
  const res = await request(app)
    .post('/v1/requests/preview')
    .set('Authorization', await bearer('alice'))
    .send({ entitlement: 'analytics-db:read', justification: 'Quarterly churn analysis' });
  expect(res.status).toBe(200);
  return (res.body.plan.stages[0].approvers as { id: string }[]).map((a) => a.id);
}

test('bob hands his approvals to carol: new stages list her, the trail records it, and he takes them back', async () => {
  expect(await firstApprovers()).toEqual(['bob']);
  const until = inDays(3);
  const set = await put('bob', { to: 'carol', until });
  expect(set.status).toBe(200);
  expect(set.body.delegation).toEqual({ to: 'carol', until });
  expect((await me('bob')).delegation).toEqual({ to: 'carol', until });
  expect(await firstApprovers()).toEqual(['bob', 'carol']);

  const { rows } = await db.pool.query<{ actor: string; data: { source: string; identity: string } }>(
    `SELECT actor, data FROM audit_events WHERE action = 'directory.identity.updated' ORDER BY seq DESC LIMIT 1`,
  );
  expect(rows[0]).toMatchObject({ actor: 'bob', data: { source: 'self-service', identity: 'bob' } });

  const cleared = await request(app)
    .delete('/v1/me/delegation')
    .set('Authorization', await bearer('bob'));
  expect(cleared.status).toBe(200);
  expect(cleared.body.delegation).toBeNull();
  expect(await firstApprovers()).toEqual(['bob']);
});

test('a delegation the directory source set can be cleared by its person, and a sync does not bring it back', async () => {
  expect((await me('frank')).delegation).toMatchObject({ to: 'grace' });
  const res = await request(app)
    .delete('/v1/me/delegation')
    .set('Authorization', await bearer('frank'));
  expect(res.status).toBe(200);
  // The sync changes frank's name and still reports the delegation: the API shows the one and not the other.
  await syncYamlDirectory(db.pool, {
    users: directory.users.map((u) => (u.id === 'frank' ? { ...u, name: 'F.' } : u)),
  });
  expect(await me('frank')).toMatchObject({ name: 'F.', delegation: null });
});

test.each([
  ['yourself', { to: 'dave' }, 'to', 'is you', 422],
  ['a reserved id', { to: 'system' }, 'to', 'reserved', 422],
  ['nobody', { to: 'nobody-at-all' }, 'to', 'names nobody in the directory', 422],
  ['an inactive person', { to: 'erin' }, 'to', 'no longer active', 422],
  ['a service account', { to: 'svc-ci' }, 'to', 'service account', 422],
  ['an end in the past', { until: new Date(Date.now() - DAY).toISOString() }, 'until', 'is not in the future', 422],
  ['an end beyond 90 days', { until: inDays(91) }, 'until', 'more than 90 days', 422],
  ['an end that is no instant', { until: 'next week' }, 'until', '', 400],
  ['no end', { until: undefined }, 'until', 'is required', 400],
])('refused and nothing changes: %s', async (_name, change, field, message, status) => {
  const before = await me('dave');
  const res = await put('dave', { to: 'grace', until: inDays(2), ...change });
  // 400 for a body that does not fit the schema, 422 for one that does but not the directory or the clock.
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.errors).toEqual([expect.objectContaining({ field, message: expect.stringContaining(message) })]);
  expect(await me('dave')).toEqual(before);
});

test("attack: alice tries to set bob's delegation, and only ever reaches her own", async () => {
  const bobBefore = await me('bob');
  // Naming bob in the body is an unknown field, refused whole.
  const named = await put('alice', { user: 'bob', to: 'alice', until: inDays(2) });
  expect(named.status).toBe(400);
  expect(named.body.errors).toEqual([expect.objectContaining({ field: 'user' })]);
  // There is no path with a user in it.
  const path = await request(app)
    .put('/v1/users/bob/delegation')
    .set('Authorization', await bearer('alice'))
    .send({ to: 'alice', until: inDays(2) });
  expect(path.status).toBe(404);
  // A query string or header naming bob is ignored: the token says alice, so alice's delegation is the one set.
  const sneaky = await request(app)
    .put('/v1/me/delegation?user=bob')
    .set('Authorization', await bearer('alice'))
    .set('X-User', 'bob')
    .send({ to: 'dave', until: inDays(2) });
  expect(sneaky.status).toBe(200);
  expect(sneaky.body.id).toBe('alice');
  expect((await me('alice')).delegation).toMatchObject({ to: 'dave' });
  expect(await me('bob')).toEqual(bobBefore);
  // Without a token nothing changes at all.
  const anonymous = await request(app).delete('/v1/me/delegation');
  expect(anonymous.status).toBe(401);
  expect((await me('alice')).delegation).toMatchObject({ to: 'dave' });
});
