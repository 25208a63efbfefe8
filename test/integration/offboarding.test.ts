import request from 'supertest';
import type { Express } from 'express';
import { setOwnDelegation } from '../../directory/delegations';
import { signDevToken } from '../../api/auth';
import { createScimTokens } from '../../api/scim/tokens';
import { inTransaction } from '../../activities/transaction';
import { dispatchLifecycle } from '../../directory/lifecycle';
import { applyDiff } from '../../directory/store';
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
import { cancelUpdate, rerouteSignal, rerouteUpdate, revokeUpdate, workflowIdFor } from '../../workflows/messages';
import { SYSTEM_ACTOR } from '../../domain/model';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  auditActions,
  hasRole,
  startEnv,
  testAuditLog,
  uniqueId,
  type RawConfig,
  type TestEnv,
} from '../helpers/harness';

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
  // The leaver's report hands their approvals to the leaver while away.
  await setOwnDelegation(db.pool, report.id, { to: leaver.id, until: '2099-01-01T00:00:00.000Z' });

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
  // The approval that waited on the leaver alone went to the stage's fallback (the leaver's manager, then security).
  expect(done.reroute).toEqual([
    { requestId: waiting, stage: 'manager', pendingApprovers: [leaver.id], outcome: 'rerouted', to: expect.any(Array) },
  ]);
  const to = done.reroute[0]?.to ?? [];
  expect(to).toContain(manager.id);
  expect(to).not.toContain(leaver.id);
  expect(to).not.toContain(report.id);
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
  // Rerouted by the request itself, so nothing is left for a person.
  expect(trail.filter((r) => r.action === 'offboarding.reroute_needed')).toEqual([]);
  expect(trail.filter((r) => r.action === 'offboarding.rerouted').map((r) => r.request_id)).toEqual([waiting]);
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
  // Nobody's approvals go to the leaver any more: the delegation ended, by system, on the chain.
  const { rows: delegation } = await db.pool.query(
    'SELECT delegate_id FROM directory_delegations WHERE identity_id = $1',
    [report.id],
  );
  expect(delegation).toEqual([{ delegate_id: null }]);
  const { rows: ended } = await db.pool.query(
    `SELECT actor FROM audit_events WHERE action = 'directory.identity.updated' AND data->>'identity' = $1
        AND actor = 'system'`,
    [report.id],
  );
  expect(ended).toHaveLength(1);

  // The request recorded the reroute on its own trail, and the fallback's approval grants it.
  const rerouted = await env.waitFor(waiting, (v) => v.pendingApprovers.includes(manager.id));
  expect(rerouted.pendingApprovers).not.toContain(leaver.id);
  expect(rerouted.stages[0]).toMatchObject({ status: 'open', required: 1, escalated: true });
  const { rows: own } = await db.pool.query<{ actor: string; leaver: string }>(
    `SELECT actor, data->>'leaver' AS leaver FROM audit_events WHERE request_id = $1 AND action = 'rerouted'`,
    [waiting],
  );
  expect(own).toEqual([{ actor: 'system', leaver: leaver.id }]);
  await asManager.approve(waiting);
  await env.waitFor(waiting, (v) => v.status === 'active');
  await endGrants([waiting]);
});

/** The test database is shared by every suite of the run: a live grant left here would make others' requests duplicates. */
async function endGrants(ids: string[]): Promise<void> {
  for (const id of ids) {
    await env.client.workflow
      .getHandle(workflowIdFor(id))
      .executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason: 'test done' }] });
    await env.waitFor(id, (v) => v.status === 'revoked');
  }
}

test('only system reroutes, and only an approval that waits on the leaver: anything else is refused and changes nothing', async () => {
  const tag = uniqueId('r')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  const manager = await pushUser(`mgr${tag}`);
  const report = await pushUser(`wrk${tag}`, manager.scimId);
  const waiting = await (await api(report.id)).submit('analytics-db:read');
  const before = await env.waitFor(waiting, (v) => v.pendingApprovers.includes(manager.id));
  const handle = env.client.workflow.getHandle(workflowIdFor(waiting));
  const refusal = (input: { by: string; leaver: string }) =>
    handle.executeUpdate(rerouteUpdate, { args: [{ ...input, reason: 'test' }] }).then(
      () => 'accepted',
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError ? (err.cause as { type?: string }).type : String(err),
    );

  // A person (even one who could take the stage), the requester, or a malformed actor: refused by the validator.
  expect(await refusal({ by: manager.id, leaver: manager.id })).toBe('NotAllowed');
  expect(await refusal({ by: report.id, leaver: manager.id })).toBe('NotAllowed');
  expect(await refusal({ by: 'system ', leaver: manager.id })).toBe('Malformed');
  // System, but nobody left: no open stage waits on the requester.
  expect(await refusal({ by: SYSTEM_ACTOR, leaver: report.id })).toBe('StageClosed');
  // A signal (no validator) is recorded as refused.
  await handle.signal(rerouteSignal, { by: report.id, leaver: manager.id, reason: 'sneaky' });
  const { rows } = await waitForRows(
    `SELECT actor, data->>'refusal' AS refusal FROM audit_events WHERE request_id = $1 AND action = 'refused'`,
    [waiting],
  );
  expect(rows).toEqual([{ actor: report.id, refusal: 'NotAllowed' }]);

  const after = await env.query(waiting);
  expect(after.pendingApprovers).toEqual(before.pendingApprovers);
  expect(after.stages).toEqual(before.stages);
  expect(await auditActions(db.pool, waiting)).not.toContain('rerouted');
  await handle.executeUpdate(cancelUpdate, { args: [{ by: report.id, reason: 'test done' }] });
});

test('an approval waiting on a leaver in a run from before rerouting is left for a person, as reroute_needed', async () => {
  const tag = uniqueId('o')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  const leaver = await pushUser(`lvr${tag}`);
  const report = await pushUser(`wrk${tag}`, leaver.scimId);
  // A run of the first request workflow: it has no `reroute` handler, as no run started before the patch has.
  const old = uniqueId('o');
  await env.client.workflow.start('accessRequest', {
    workflowId: workflowIdFor(old),
    taskQueue: env.taskQueue,
    args: [
      {
        requestId: old,
        requester: report.id,
        input: {
          entitlement: 'analytics-db:read',
          justification: 'Needed for the analysis.',
          fields: {},
          breakGlass: false,
        },
        submittedAt: new Date().toISOString(),
      },
    ],
  });
  await env.waitFor(old, (v) => v.pendingApprovers.includes(leaver.id));

  expect((await scim('patch', `/Users/${leaver.scimId}`, scimActive(false))).status).toBe(200);
  const workflowId = await offboardingOf(leaver.id);
  const done = (await env.client.workflow.getHandle(workflowId).result()) as OffboardingState;
  expect(done.reroute).toEqual([
    expect.objectContaining({ requestId: old, outcome: 'unsupported', pendingApprovers: [leaver.id] }),
  ]);
  const { rows } = await db.pool.query<{ action: string }>(
    `SELECT action FROM audit_events WHERE request_id = $1 AND action LIKE 'offboarding.%' ORDER BY seq`,
    [old],
  );
  expect(rows.map((r) => r.action)).toEqual(['offboarding.reroute_needed']);
  // The request still waits on the leaver: a person must hand the stage on.
  expect((await env.view(old)).pendingApprovers).toEqual([leaver.id]);
  await env.client.workflow
    .getHandle(workflowIdFor(old))
    .executeUpdate(cancelUpdate, { args: [{ by: report.id, reason: 'test done' }] });
});

async function waitForRows(sql: string, params: unknown[]) {
  for (let i = 0; ; i++) {
    const result = await db.pool.query(sql, params);
    if (result.rows.length > 0 || i > 50) return result;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SCIM carries people only: a service account reaches a SCIM-sourced directory as a record of the store. */
async function serviceAccount(id: string, ownerScimId: string): Promise<void> {
  const after = {
    id,
    sourceRef: `sa-${id}`,
    userName: id,
    name: `Service account ${id}`,
    kind: 'service' as const,
    ownerRef: ownerScimId,
    department: 'engineering',
    active: true,
    attributes: {},
  };
  await inTransaction(db.pool, (client) =>
    applyDiff(client, 'scim', 'test', {
      identities: [{ change: 'created', id, after, fields: [] }],
      groups: [],
      deactivations: [],
    }),
  );
}

const scimActive = (active: boolean) => ({
  schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
  Operations: [{ op: 'replace', value: { active } }],
});

async function offboardingOf(identityId: string): Promise<string> {
  const { rows } = await db.pool.query<{ workflow_id: string }>(
    "SELECT workflow_id FROM lifecycle_runs WHERE identity_id = $1 AND kind = 'leaver'",
    [identityId],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.workflow_id;
}

test("a leaver's service account goes to their manager with an open review of its grants, all on the audit chain", async () => {
  const tag = uniqueId('h')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  const top = await pushUser(`top${tag}`);
  const manager = await pushUser(`mgr${tag}`, top.scimId);
  const leaver = await pushUser(`lvr${tag}`, manager.scimId);
  const account = `svc${tag}`;
  await serviceAccount(account, leaver.scimId);
  // The account holds a live role at the PostgreSQL target (its owner's manager approved it); the leaver one of theirs.
  const forAccount = uniqueId();
  await env.submit(leaver.id, { entitlement: 'analytics-db:read', beneficiary: account }, forAccount);
  await env.waitFor(forAccount, (v) => v.pendingApprovers.includes(manager.id));
  await (await api(manager.id)).approve(forAccount);
  const own = await (await api(leaver.id)).submit('github:member');
  await env.waitFor(forAccount, (v) => v.status === 'active');
  await env.waitFor(own, (v) => v.status === 'active');
  expect(await hasRole(account, 'analytics_read')).toBe(true);

  expect((await scim('patch', `/Users/${leaver.scimId}`, scimFixture('entra-patch-deactivate'))).status).toBe(200);
  const workflowId = await offboardingOf(leaver.id);
  const done = (await env.client.workflow.getHandle(workflowId).result()) as OffboardingState;
  const review = `campaign-ownership-review-${account}-v${done.version}`;
  expect(done).toMatchObject({
    phase: 'completed',
    serviceAccounts: [account],
    successor: manager.id,
    handovers: [{ account, owner: manager.id, previousOwner: leaver.id, grants: 1, review }],
  });
  // The leaver's own access is revoked; the account's stays, under review, with its new owner of record.
  expect(done.requests.map((r) => [r.requestId, r.finalStatus])).toEqual([[own, 'revoked']]);
  expect(await hasRole(account, 'analytics_read')).toBe(true);
  expect((await env.view(forAccount)).status).toBe('active');
  const directory = await createDirectoryView(db.pool, env.config, 'scim').current();
  expect(directory.users.get(account)?.owner).toBe(manager.id);

  // The review is an access-review campaign of the account's grants: open, reviewed by the new owner's manager
  // (never by the owner of record), and so decidable in the review inbox like any other.
  const campaign = await env.client.workflow.getHandle(review);
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.pool.query('SELECT status FROM campaigns WHERE id = $1', [review]);
    if (rows[0]?.status === 'open') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows: items } = await db.pool.query<{ request_id: string; reviewers: string[]; status: string }>(
    `SELECT i.request_id, i.reviewers, c.status FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id
      WHERE c.id = $1`,
    [review],
  );
  expect(items).toEqual([{ request_id: forAccount, reviewers: [top.id], status: 'open' }]);
  expect((await campaign.describe()).status.name).toBe('RUNNING');
  await campaign.terminate('test over');

  // On the chain, which verifies: the leave, each offboarding step, the handover, the review's start and opening.
  const { rows: trail } = await db.pool.query<{ action: string; data: Record<string, unknown> }>(
    `SELECT action, data FROM audit_events
      WHERE data->>'offboarding' = $1 OR request_id = $2
         OR (action = 'directory.identity.deactivated' AND data->>'identity' = $3)
      ORDER BY seq`,
    [workflowId, review, leaver.id],
  );
  const actions = trail.map((r) => r.action);
  // The campaign's own events come from its workflow, so only the offboarding's order is fixed.
  expect(actions.filter((a) => !a.startsWith('campaign.'))).toEqual([
    'directory.identity.deactivated',
    'offboarding.started',
    'offboarding.planned',
    'offboarding.request_ended',
    'offboarding.owner_assigned',
    'offboarding.completed',
  ]);
  expect(actions.filter((a) => a.startsWith('campaign.'))).toEqual(['campaign.started', 'campaign.opened']);
  expect(trail.find((r) => r.action === 'offboarding.owner_assigned')?.data).toMatchObject({
    account,
    owner: manager.id,
    previousOwner: leaver.id,
    review,
  });
  await expect(testAuditLog(db.pool).verify()).resolves.toMatchObject({ ok: true });
  const { rows: told } = await db.pool.query('SELECT recipients, subject FROM notifications WHERE key = $1', [
    `${workflowId}:handover:${account}`,
  ]);
  expect(told).toEqual([{ recipients: [manager.id], subject: `You now own the service account ${account}` }]);
});

test('a reactivation while an offboarding waits stops it at its next step and says what was already revoked', async () => {
  const tag = uniqueId('b')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  const manager = await pushUser(`mgr${tag}`);
  const leaver = await pushUser(`lvr${tag}`, manager.scimId);
  const as = await api(leaver.id);
  const github = await as.submit('github:member');
  const read = await as.submit('analytics-db:read');
  await env.waitFor(read, (v) => v.pendingApprovers.includes(manager.id));
  await (await api(manager.id)).approve(read);
  await env.waitFor(github, (v) => v.status === 'active');
  await env.waitFor(read, (v) => v.status === 'active');
  // Another request's change of the leaver's analytics role in progress: that revoke waits at the target.
  const holder = `held-${tag}`;
  await db.pool.query(
    `INSERT INTO connector_leases (beneficiary, entitlement, request_id, operation, lease_until)
     VALUES ($1, 'analytics-db:read', $2, 'grant', now() + interval '5 minutes')`,
    [leaver.id, holder],
  );
  try {
    expect((await scim('patch', `/Users/${leaver.scimId}`, scimFixture('entra-patch-deactivate'))).status).toBe(200);
    const workflowId = await offboardingOf(leaver.id);
    const handle = env.client.workflow.getHandle(workflowId);
    for (let i = 0; ; i++) {
      const s = await handle.query(getOffboardingQuery);
      if (s.phase === 'waiting' && s.requests.some((r) => r.requestId === github && r.settled === 'ended')) break;
      if (i > 200) throw new Error(`the offboarding did not get to wait: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(await hasRole(leaver.id, 'analytics_read')).toBe(true);

    expect((await scim('patch', `/Users/${leaver.scimId}`, scimActive(true))).status).toBe(200);
    const done = (await handle.result()) as OffboardingState;
    expect(done).toMatchObject({
      phase: 'stopped',
      stoppedBecause: `${leaver.id} is active again`,
      stop: { alreadyEnded: [{ requestId: github, status: 'revoked' }], stillEnding: [read], notSent: [] },
      handovers: [],
    });
    const { rows } = await db.pool.query<{ data: Record<string, unknown> }>(
      "SELECT data FROM audit_events WHERE action = 'offboarding.stopped' AND data->>'offboarding' = $1",
      [workflowId],
    );
    expect(rows.map((r) => r.data)).toEqual([
      expect.objectContaining({
        stoppedBecause: `${leaver.id} is active again`,
        alreadyEnded: [{ requestId: github, status: 'revoked' }],
        stillEnding: [read],
        notSent: [],
      }),
    ]);
    const { rows: run } = await db.pool.query('SELECT status FROM lifecycle_runs WHERE workflow_id = $1', [workflowId]);
    expect(run).toEqual([{ status: 'stopped' }]);
    // The reactivation starts nothing of its own; the person's token works again.
    expect(
      await dispatchLifecycle({ pool: db.pool, client: env.client, taskQueue: env.taskQueue, source: 'scim', log }),
    ).toEqual([]);
  } finally {
    await db.pool.query('DELETE FROM connector_leases WHERE request_id = $1', [holder]);
  }
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

  test('a leaver in the edited file loses their access; the service account they alone own goes to their manager', async () => {
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
    // The account goes to alice's manager (bob); what she asked for it and was not granted yet is cancelled. It
    // held no live grant, so there is nothing to review.
    expect(done).toMatchObject({
      phase: 'completed',
      serviceAccounts: [account],
      reroute: [],
      handovers: [{ account, owner: 'bob', previousOwner: person, grants: 0 }],
    });
    expect(done.handovers[0]?.review).toBeUndefined();
    expect(done.requests.map((r) => [r.requestId, r.role, r.finalStatus]).sort()).toEqual(
      [
        [own, 'beneficiary', 'revoked'],
        [forAccount, 'requester', 'cancelled'],
      ].sort(),
    );
    // Security (dave) is told where the account went.
    const { rows } = await yaml.pool.query<{ recipients: string[]; subject: string }>(
      'SELECT recipients, subject FROM notifications WHERE key = $1',
      [`${workflowId}:planned:1`],
    );
    expect(rows).toEqual([{ recipients: ['dave'], subject: `${person} left: 1 item needs security` }]);
  });
});
