import request from 'supertest';
import type { Express } from 'express';
import { signDevToken } from '../../api/auth';
import { createScimTokens } from '../../api/scim/tokens';
import { dispatchLifecycle } from '../../directory/lifecycle';
import { createDirectoryView } from '../../directory/view';
import { syncYamlDirectory } from '../../directory/yaml';
import { createLogger } from '../../platform/logger';
import {
  getOffboardingQuery,
  offboardingWorkflowId,
  type MoverState,
  type OffboardingState,
} from '../../workflows/identity/messages';
import { createTestApp } from '../helpers/api';
import { directoryDb, scimFixture, type DirectoryDb } from '../helpers/directory';
import { hasRole, startEnv, uniqueId, type RawConfig, type TestEnv } from '../helpers/harness';

jest.setTimeout(120_000);

const SECRET = 'offboarding-test-secret-0123456789';
const SCIM = 'application/scim+json';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const log = createLogger('offboarding-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let db: DirectoryDb;
let env: TestEnv;
let app: Express;
let scimToken: string;

beforeAll(async () => {
  db = await directoryDb();
  env = await startEnv({
    title: 'offboarding',
    pool: db.pool,
    directory: (config) => createDirectoryView(db.pool, config, 'scim'),
    lifecycle: true,
  });
  const tokens = createScimTokens(db.pool);
  scimToken = await tokens.issue('entra');
  app = createTestApp(env, SECRET, {
    directory: createDirectoryView(db.pool, env.config, 'scim'),
    scim: {
      enabled: true,
      tokens,
      afterChange: async () => {
        await dispatchLifecycle({ pool: db.pool, client: env.client, taskQueue: env.taskQueue, source: 'scim', log });
      },
    },
  });
  // The catalog's owner of analytics-db, so its write stage has an approver (in this suite's own directory schema).
  await pushUser('frank');
});

afterAll(async () => {
  await env?.stop();
  await db?.drop();
});

const scim = (method: 'post' | 'patch' | 'delete', path: string, body?: unknown) => {
  const r = request(app)[method](`/scim/v2${path}`).set('Authorization', `Bearer ${scimToken}`);
  return body === undefined ? r : r.set('Content-Type', SCIM).send(JSON.stringify(body));
};

/** A SCIM user pushed by the identity provider; answers its SCIM id and grantflow id. */
async function pushUser(userName: string, managerScimId?: string): Promise<{ scimId: string; id: string }> {
  const res = await scim('post', '/Users', {
    schemas: [USER, ENTERPRISE],
    userName,
    name: { givenName: userName, familyName: 'Tester' },
    emails: [{ value: `${userName}@corp.example`, type: 'work', primary: true }],
    active: true,
    [ENTERPRISE]: { department: 'engineering', ...(managerScimId && { manager: { value: managerScimId } }) },
  });
  expect(res.status).toBe(201);
  return { scimId: res.body.id as string, id: userName };
}

async function api(user: string) {
  const token = await signDevToken({ userId: user, secret: SECRET, ttl: '10m' });
  return {
    submit: async (entitlement: string, fields: Record<string, string> = {}) => {
      const res = await request(app)
        .post('/v1/requests')
        .set('Authorization', `Bearer ${token}`)
        .send({ entitlement, justification: 'Needed for the migration project this quarter.', fields });
      expect([res.status, res.body.detail]).toEqual([201, undefined]);
      return res.body.id as string;
    },
    approve: async (id: string) => {
      const res = await request(app)
        .post(`/v1/requests/${id}/decisions`)
        .set('Authorization', `Bearer ${token}`)
        .send({ decision: 'approve', comment: 'ok' });
      expect(res.status).toBe(200);
    },
  };
}

test('a SCIM deactivation offboards the leaver end to end, once, however often the provider repeats it', async () => {
  const tag = uniqueId('x')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  const manager = await pushUser(`mgr${tag}`);
  const leaver = await pushUser(`lvr${tag}`, manager.scimId);
  const report = await pushUser(`wrk${tag}`, leaver.scimId);

  const asLeaver = await api(leaver.id);
  const asManager = await api(manager.id);
  // Live at two targets (webhook and PostgreSQL role), one pending, and one approval waiting on the leaver.
  const github = await asLeaver.submit('github:member');
  const read = await asLeaver.submit('analytics-db:read');
  await env.waitFor(read, (v) => v.pendingApprovers.includes(manager.id));
  await asManager.approve(read);
  const write = await asLeaver.submit('analytics-db:write', { ticket: 'CHG-1234' });
  const waiting = await (await api(report.id)).submit('analytics-db:read');
  await env.waitFor(github, (v) => v.status === 'active');
  await env.waitFor(read, (v) => v.status === 'active');
  await env.waitFor(write, (v) => v.pendingApprovers.includes(manager.id));
  await env.waitFor(waiting, (v) => v.pendingApprovers.includes(leaver.id));
  expect(await hasRole(leaver.id, 'analytics_read')).toBe(true);

  // Entra sends `"active": "False"`; and sends it again.
  const deactivate = scimFixture('entra-patch-deactivate');
  const token = await signDevToken({ userId: leaver.id, secret: SECRET, ttl: '10m' });
  const listMine = () => request(app).get('/v1/requests').set('Authorization', `Bearer ${token}`);
  expect((await listMine()).status).toBe(200);
  expect((await scim('patch', `/Users/${leaver.scimId}`, deactivate)).status).toBe(200);
  // The next call with the leaver's still-valid token is refused: the API reads the live directory.
  const refused = await listMine();
  expect([refused.status, refused.body.detail]).toEqual([403, `${leaver.id} is no longer active.`]);
  expect((await scim('patch', `/Users/${leaver.scimId}`, deactivate)).status).toBe(200);

  const { rows: offboardings } = await db.pool.query<{ workflow_id: string; directory_version: string }>(
    "SELECT workflow_id, directory_version FROM lifecycle_runs WHERE identity_id = $1 AND kind = 'leaver'",
    [leaver.id],
  );
  expect(offboardings).toHaveLength(1);
  const workflowId = offboardingWorkflowId(leaver.id, Number(offboardings[0]!.directory_version));
  expect(offboardings[0]!.workflow_id).toBe(workflowId);
  // A later sweep (the worker's) finds nothing left to start.
  expect(
    await dispatchLifecycle({ pool: db.pool, client: env.client, taskQueue: env.taskQueue, source: 'scim', log }),
  ).toEqual([]);

  const done = (await env.client.workflow.getHandle(workflowId).result()) as OffboardingState;
  expect(done.phase).toBe('completed');
  const byId = Object.fromEntries(done.requests.map((r) => [r.requestId, r]));
  expect(byId[github]).toMatchObject({ role: 'beneficiary', settled: 'ended', finalStatus: 'revoked' });
  expect(byId[read]).toMatchObject({ role: 'beneficiary', settled: 'ended', finalStatus: 'revoked' });
  expect(byId[write]).toMatchObject({ role: 'beneficiary', settled: 'ended', finalStatus: 'cancelled' });
  expect(done.requests).toHaveLength(3);
  expect(done.reroute).toEqual([{ requestId: waiting, stage: 'manager', pendingApprovers: [leaver.id] }]);
  expect(await env.client.workflow.getHandle(workflowId).query(getOffboardingQuery)).toEqual(done);

  // At the targets: the PostgreSQL role is gone, the webhook got one revoke.
  expect(await hasRole(leaver.id, 'analytics_read')).toBe(false);
  const revokes = (await env.deliveries()).filter((d) => d.body.requestId === github && d.body.action === 'revoke');
  expect(revokes).toHaveLength(1);

  // Audited: the directory change, each step of the offboarding, and each request's own end as system.
  const { rows: trail } = await db.pool.query<{ action: string; request_id: string | null; reason: string | null }>(
    `SELECT action, request_id, data->>'reason' AS reason FROM audit_events
      WHERE data->>'offboarding' = $1 OR (request_id = ANY($2::text[]) AND actor = 'system'
        AND action IN ('revoked', 'cancelled', 'revoke_requested', 'cancel_requested'))
      ORDER BY seq`,
    [workflowId, [github, read, write]],
  );
  const actions = trail.map((r) => r.action);
  expect(actions[0]).toBe('offboarding.started');
  expect(actions.at(-1)).toBe('offboarding.completed');
  expect(actions.filter((a) => a === 'offboarding.request_ended')).toHaveLength(3);
  expect(trail.filter((r) => r.action === 'offboarding.reroute_needed').map((r) => r.request_id)).toEqual([waiting]);
  const asked = trail.filter((r) => r.action === 'revoke_requested' || r.action === 'cancel_requested');
  expect(asked.map((r) => r.reason)).toEqual(Array(3).fill(`offboarding: ${leaver.id} left`));
  const ends = trail.filter((r) => r.action === 'revoked' || r.action === 'cancelled');
  expect(ends.map((r) => `${r.request_id}:${r.action}`).sort()).toEqual(
    [`${github}:revoked`, `${read}:revoked`, `${write}:cancelled`].sort(),
  );
  const { rows: leaves } = await db.pool.query(
    `SELECT 1 FROM audit_events WHERE action = 'directory.identity.deactivated' AND data->>'identity' = $1`,
    [leaver.id],
  );
  expect(leaves).toHaveLength(1);
});

test('a SCIM change of manager flags the grants the old manager approved and the approvals waiting on them', async () => {
  const tag = uniqueId('m')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  const before = await pushUser(`old${tag}`);
  const after = await pushUser(`new${tag}`);
  const person = await pushUser(`mov${tag}`, before.scimId);
  const asPerson = await api(person.id);
  const github = await asPerson.submit('github:member');
  const read = await asPerson.submit('analytics-db:read');
  await env.waitFor(read, (v) => v.pendingApprovers.includes(before.id));
  await (await api(before.id)).approve(read);
  const write = await asPerson.submit('analytics-db:write', { ticket: 'CHG-77' });
  await env.waitFor(github, (v) => v.status === 'active');
  await env.waitFor(read, (v) => v.status === 'active');
  await env.waitFor(write, (v) => v.pendingApprovers.includes(before.id));

  const patch = {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: { value: after.scimId } }],
  };
  const res = await scim('patch', `/Users/${person.scimId}`, patch);
  expect([res.status, res.body.detail]).toEqual([200, undefined]);
  const { rows: runs } = await db.pool.query<{ workflow_id: string }>(
    "SELECT workflow_id FROM lifecycle_runs WHERE identity_id = $1 AND kind = 'mover'",
    [person.id],
  );
  expect(runs).toHaveLength(1);
  const moved = (await env.client.workflow.getHandle(runs[0]!.workflow_id).result()) as MoverState;
  // Only the grant the old manager approved; the auto-approved one rested on neither manager nor department.
  expect(moved).toMatchObject({
    phase: 'completed',
    oldManager: before.id,
    newManager: after.id,
    recertify: [{ requestId: read, entitlement: 'analytics-db:read' }],
    reroute: [{ requestId: write, stage: 'manager' }],
    reviewers: [after.id],
  });
  // Nothing is revoked: the person still works here.
  expect((await env.view(read)).status).toBe('active');
  const { rows: trail } = await db.pool.query<{ action: string; request_id: string }>(
    `SELECT action, request_id FROM audit_events WHERE data->>'mover' = $1 ORDER BY seq`,
    [runs[0]!.workflow_id],
  );
  expect(trail.map((r) => [r.action, r.request_id])).toEqual([
    ['mover.planned', null],
    ['mover.recertification_needed', read],
    ['mover.reroute_needed', write],
  ]);
  const { rows: told } = await db.pool.query('SELECT recipients FROM notifications WHERE key = $1', [
    `${runs[0]!.workflow_id}:notify`,
  ]);
  expect(told).toEqual([{ recipients: [after.id] }]);
});

describe('the YAML source', () => {
  let yaml: DirectoryDb;
  let envY: TestEnv;
  const tag = uniqueId('y')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  // The demo's alice and her service account under names of this suite's own: the requests table is shared.
  const person = `alice${tag}`;
  const account = `svc${tag}`;
  const rename = (raw: RawConfig): RawConfig => {
    for (const u of raw.directory.users as { id: string; owner?: string }[]) {
      if (u.id === 'alice') u.id = person;
      if (u.id === 'svc-ci') u.id = account;
      if (u.owner === 'alice') u.owner = person;
    }
    return raw;
  };

  beforeAll(async () => {
    yaml = await directoryDb();
    envY = await startEnv({
      title: 'offboarding-yaml',
      pool: yaml.pool,
      directory: (config) => createDirectoryView(yaml.pool, config, 'yaml'),
      lifecycle: true,
      configure: rename,
    });
    await syncYamlDirectory(yaml.pool, envY.config.directory);
  });
  afterAll(async () => {
    await envY?.stop();
    await yaml?.drop();
  });

  test('a leaver in the edited file loses their access and that of the service account they alone own', async () => {
    const own = uniqueId();
    await envY.submit(person, { entitlement: 'github:member' }, own);
    const forAccount = uniqueId();
    await envY.submit(person, { entitlement: 'analytics-db:read', beneficiary: account }, forAccount);
    await envY.waitFor(own, (v) => v.status === 'active');
    await envY.waitFor(forAccount, (v) => v.pendingApprovers.includes('bob'));

    const users = envY.config.directory.users.map((u) => (u.id === person ? { ...u, active: false } : u));
    const diff = await syncYamlDirectory(yaml.pool, { users });
    expect(diff.deactivations).toEqual([person]);
    // Nothing started it yet: the worker's sweep does, once.
    const sweep = { pool: yaml.pool, client: envY.client, taskQueue: envY.taskQueue, source: 'yaml' as const, log };
    const [workflowId, ...more] = await dispatchLifecycle(sweep);
    expect(more).toEqual([]);
    expect(await dispatchLifecycle(sweep)).toEqual([]);

    const done = (await envY.client.workflow.getHandle(workflowId!).result()) as OffboardingState;
    expect(done).toMatchObject({ phase: 'completed', serviceAccounts: [account], reroute: [] });
    expect(done.requests.map((r) => [r.requestId, r.role, r.finalStatus]).sort()).toEqual(
      [
        [own, 'beneficiary', 'revoked'],
        [forAccount, 'service-account', 'cancelled'],
      ].sort(),
    );
    // Security (dave) is told the account has no owner now.
    const { rows } = await yaml.pool.query<{ recipients: string[]; subject: string }>(
      'SELECT recipients, subject FROM notifications WHERE key = $1',
      [`${workflowId}:planned:1`],
    );
    expect(rows).toEqual([{ recipients: ['dave'], subject: `${person} left: 1 item needs security` }]);
  });
});
