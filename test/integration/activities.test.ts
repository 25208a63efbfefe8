import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createActivities, type Activities } from '../../activities';
import { reconcile } from '../../activities/reconcile';
import type { GrantInput, RequestProjection } from '../../activities/types';
import type { Config } from '../../domain/config';
import type { Evaluation, GrantSpec, RequestInput } from '../../domain/model';
import { loadConfig } from '../../platform/config-files';
import { createLogger } from '../../platform/logger';
import { isRoleMember } from '../helpers/roles';

/**
 * The activities against the real database. Every test works on beneficiaries of its own (added to a copy of the
 * demo directory), so suites running beside it never share a claim, a grant or a role.
 */
const run = randomBytes(4).toString('hex');
let counter = 0;
const uniqueId = (prefix: string) => `${prefix}-${run}-${++counter}`;
const USERS = Array.from({ length: 40 }, (_, i) => `u${run}-${i}`);
const freshUsers = [...USERS];
function newUser(): string {
  const user = freshUsers.shift();
  if (!user) throw new Error('Add more test users to USERS.');
  return user;
}

const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
let config: Config;
let pool: pg.Pool;
let pool2: pg.Pool;
let analytics: pg.Pool;
let activities: Activities;
let activities2: Activities;

beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-config-'));
  for (const name of ['catalog', 'policy'])
    fs.copyFileSync(path.join('config/demo', `${name}.yaml`), path.join(dir, `${name}.yaml`));
  const extra = USERS.map(
    (id) => `  - { id: ${id}, name: Test ${id}, department: engineering, manager: bob, groups: [engineering] }`,
  );
  fs.writeFileSync(
    path.join(dir, 'directory.yaml'),
    `${fs.readFileSync('config/demo/directory.yaml', 'utf8').trimEnd()}\n${extra.join('\n')}\n`,
  );
  config = loadConfig(dir);
  fs.rmSync(dir, { recursive: true });

  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 5 });
  pool2 = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 5 });
  analytics = new pg.Pool({ connectionString: process.env.GRANTFLOW_ANALYTICS_DATABASE_URL, max: 2 });
  activities = createActivities({ pool, config, log });
  activities2 = createActivities({ pool: pool2, config, log });
});

afterAll(async () => {
  for (const user of USERS) await analytics.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(user)}`);
  await Promise.all([pool.end(), pool2.end(), analytics.end()]);
});

const request = (over: Partial<RequestInput> & { beneficiary: string }): RequestInput => ({
  entitlement: 'analytics-db:read',
  justification: 'Needed for the quarterly analysis work.',
  fields: {},
  breakGlass: false,
  ...over,
});

function evaluateFor(acts: Activities, requestId: string, beneficiary: string, over: Partial<RequestInput> = {}) {
  return acts.evaluateRequest({
    requestId,
    requester: beneficiary,
    input: request({ beneficiary, ...over }),
    now: new Date().toISOString(),
  });
}

function validGrant(evaluation: Evaluation): GrantSpec {
  if (!evaluation.valid) throw new Error(`expected a valid evaluation: ${JSON.stringify(evaluation.reasons)}`);
  return evaluation.grant;
}

async function claimHolder(beneficiary: string, entitlement: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ request_id: string }>(
    'SELECT request_id FROM open_claims WHERE beneficiary = $1 AND entitlement = $2',
    [beneficiary, entitlement],
  );
  return rows[0]?.request_id;
}

describe('evaluateRequest claims the entitlement', () => {
  test('of two concurrent requests for the same entitlement, exactly one is valid', async () => {
    const beneficiary = newUser();
    const [a, b] = [uniqueId('req'), uniqueId('req')];
    const results = await Promise.all([
      evaluateFor(activities, a, beneficiary),
      evaluateFor(activities2, b, beneficiary),
    ]);

    const valid = results.filter((r) => r.valid);
    expect(valid).toHaveLength(1);
    const winner = results[0]?.valid ? a : b;
    const loser = results.find((r) => !r.valid);
    expect(loser).toMatchObject({
      valid: false,
      existingRequestId: winner,
      reasons: expect.arrayContaining([expect.objectContaining({ code: 'already_requested', field: 'entitlement' })]),
    });
    expect(await claimHolder(beneficiary, 'analytics-db:read')).toBe(winner);
  });

  test('a retry by the request that holds the claim is valid again', async () => {
    const beneficiary = newUser();
    const id = uniqueId('req');
    expect((await evaluateFor(activities, id, beneficiary)).valid).toBe(true);
    expect((await evaluateFor(activities2, id, beneficiary)).valid).toBe(true);
    expect(await claimHolder(beneficiary, 'analytics-db:read')).toBe(id);
  });

  test('a released claim lets the next request through', async () => {
    const beneficiary = newUser();
    const [first, second] = [uniqueId('req'), uniqueId('req')];
    expect((await evaluateFor(activities, first, beneficiary)).valid).toBe(true);
    expect(await evaluateFor(activities, second, beneficiary)).toMatchObject({
      valid: false,
      existingRequestId: first,
    });

    await activities.releaseClaim({ requestId: first, beneficiary, entitlement: 'analytics-db:read' });
    await activities.releaseClaim({ requestId: first, beneficiary, entitlement: 'analytics-db:read' });
    expect((await evaluateFor(activities, second, beneficiary)).valid).toBe(true);
  });

  test('a claim left by a request that has ended passes to the new one', async () => {
    const beneficiary = newUser();
    const [ended, next] = [uniqueId('req'), uniqueId('req')];
    expect((await evaluateFor(activities, ended, beneficiary)).valid).toBe(true);
    await activities.project(projection(ended, beneficiary, 1, 'cancelled'));

    expect((await evaluateFor(activities, next, beneficiary)).valid).toBe(true);
    expect(await claimHolder(beneficiary, 'analytics-db:read')).toBe(next);
  });

  test('a request still being validated holds nothing until it has claimed', async () => {
    const beneficiary = newUser();
    const [submitted, other] = [uniqueId('req'), uniqueId('req')];
    // The API inserts the row at submit; the workflow has not evaluated it yet.
    await activities.project(projection(submitted, beneficiary, 0, 'validating'));
    expect((await evaluateFor(activities, other, beneficiary)).valid).toBe(true);
    expect(await evaluateFor(activities, submitted, beneficiary)).toMatchObject({
      valid: false,
      existingRequestId: other,
    });
  });

  test('a claimed entitlement counts for separation of duties', async () => {
    const beneficiary = newUser();
    const payroll = { entitlement: 'payroll:viewer' };
    expect((await evaluateFor(activities, uniqueId('req'), beneficiary, payroll)).valid).toBe(true);
    const conflicting = await evaluateFor(activities, uniqueId('req'), beneficiary, {
      entitlement: 'payroll:approver',
    });
    expect(conflicting).toMatchObject({
      valid: false,
      reasons: expect.arrayContaining([expect.objectContaining({ code: 'sod_conflict' })]),
    });
  });

  test('an invalid request claims nothing', async () => {
    const beneficiary = newUser();
    const result = await evaluateFor(activities, uniqueId('req'), beneficiary, { duration: 'P365D' });
    expect(result.valid).toBe(false);
    expect(await claimHolder(beneficiary, 'analytics-db:read')).toBeUndefined();
  });
});

function projection(
  requestId: string,
  beneficiary: string,
  revision: number,
  status: RequestProjection['status'],
): RequestProjection {
  return {
    requestId,
    revision,
    requester: beneficiary,
    beneficiary,
    entitlement: 'analytics-db:read',
    resource: 'analytics-db',
    breakGlass: false,
    status,
    justification: 'Needed for the quarterly analysis work.',
    pendingApprovers: status === 'pending_approval' ? ['bob'] : [],
    involved: ['bob'],
    submittedAt: '2026-01-01T00:00:00.000Z',
    escalated: false,
    autoApproved: false,
    view: { status, revision },
  };
}

describe('project', () => {
  test('keeps the newest revision whatever order the writes arrive in', async () => {
    const beneficiary = newUser();
    const id = uniqueId('req');
    await pool.query(
      `INSERT INTO requests (id, requester, beneficiary, entitlement, resource, status, justification, idempotency_key, body_hash)
       VALUES ($1, $2, $2, 'analytics-db:read', 'analytics-db', 'validating', 'Needed for the quarterly analysis work.', 'key-1', 'hash-1')`,
      [id, beneficiary],
    );
    const row = async () =>
      (
        await pool.query(
          'SELECT revision, status, pending_approvers, view, idempotency_key, body_hash, risk_level FROM requests WHERE id = $1',
          [id],
        )
      ).rows[0];

    await activities.project({
      ...projection(id, beneficiary, 2, 'pending_approval'),
      risk: { score: 40, level: 'medium', reasons: [] },
    });
    await activities.project(projection(id, beneficiary, 1, 'validating'));
    await activities.project(projection(id, beneficiary, 2, 'validating'));
    expect(await row()).toEqual({
      revision: 2,
      status: 'pending_approval',
      pending_approvers: ['bob'],
      view: { status: 'pending_approval', revision: 2 },
      idempotency_key: 'key-1',
      body_hash: 'hash-1',
      risk_level: 'medium',
    });

    await activities.project(projection(id, beneficiary, 3, 'denied'));
    expect(await row()).toMatchObject({
      revision: 3,
      status: 'denied',
      pending_approvers: [],
      idempotency_key: 'key-1',
    });
  });

  test('inserts a request the API has not recorded', async () => {
    const id = uniqueId('req');
    await activities.project(projection(id, newUser(), 1, 'pending_approval'));
    const { rows } = await pool.query('SELECT status, revision FROM requests WHERE id = $1', [id]);
    expect(rows).toEqual([{ status: 'pending_approval', revision: 1 }]);
  });
});

describe('text PostgreSQL cannot keep (a signal does not pass the API)', () => {
  const hostile = 'Needed \u0000 for the \ud800 work 🙂';
  const kept = 'Needed \uFFFD for the \uFFFD work 🙂';

  test('project writes NUL and unpaired surrogates as U+FFFD, in the row and its view', async () => {
    const id = uniqueId('req');
    const p = projection(id, newUser(), 1, 'pending_approval');
    await activities.project({ ...p, justification: hostile, view: { comment: hostile } });
    const { rows } = await pool.query('SELECT justification, view FROM requests WHERE id = $1', [id]);
    expect(rows).toEqual([{ justification: kept, view: { comment: kept } }]);
  });

  test('recordAudit writes them as U+FFFD', async () => {
    const requestId = uniqueId('req');
    await activities.recordAudit({
      eventId: `${requestId}:refused`,
      requestId,
      actor: 'alice',
      action: 'refused',
      at: new Date().toISOString(),
      data: { reason: hostile },
    });
    const { rows } = await pool.query('SELECT data FROM audit_events WHERE request_id = $1', [requestId]);
    expect(rows).toEqual([{ data: { reason: kept } }]);
  });
});

describe('provision and deprovision', () => {
  const grantInput = (requestId: string, grant: GrantSpec): GrantInput => ({
    requestId,
    grant,
    startedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + grant.durationMs).toISOString(),
  });

  test('access is revoked at the target only when the last live grant ends', async () => {
    const beneficiary = newUser();
    const [first, second] = [uniqueId('req'), uniqueId('req')];
    const grant = validGrant(await evaluateFor(activities, first, beneficiary));

    // Two grants of one entitlement overlap (e.g. break-glass over a regular one).
    await activities.provision(grantInput(first, grant));
    await activities.provision(grantInput(first, grant));
    await activities2.provision(grantInput(second, grant));
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(true);

    const endedAt = new Date().toISOString();
    await expect(activities.deprovision({ requestId: first, grant, endedAt })).resolves.toEqual({
      revokedAtTarget: false,
    });
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(true);

    await expect(activities.deprovision({ requestId: second, grant, endedAt })).resolves.toEqual({
      revokedAtTarget: true,
    });
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(false);

    // A retried deprovision finds nothing live and revokes again, harmlessly.
    await expect(activities.deprovision({ requestId: second, grant, endedAt })).resolves.toEqual({
      revokedAtTarget: true,
    });
    const { rows } = await pool.query(
      'SELECT count(*)::int AS live FROM grants WHERE beneficiary = $1 AND ended_at IS NULL',
      [beneficiary],
    );
    expect(rows).toEqual([{ live: 0 }]);
  });

  test('two grants ending at once still revoke at the target', async () => {
    const beneficiary = newUser();
    const [first, second] = [uniqueId('req'), uniqueId('req')];
    const grant = validGrant(await evaluateFor(activities, first, beneficiary));
    await activities.provision(grantInput(first, grant));
    await activities.provision(grantInput(second, grant));

    const endedAt = new Date().toISOString();
    const results = await Promise.all([
      asTemporalRetries(() => activities.deprovision({ requestId: first, grant, endedAt })),
      asTemporalRetries(() => activities2.deprovision({ requestId: second, grant, endedAt })),
    ]);
    expect(results.filter((r) => r.revokedAtTarget)).toHaveLength(1);
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(false);
  });

  test('a grant that has ended cannot be provisioned again', async () => {
    const beneficiary = newUser();
    const id = uniqueId('req');
    const grant = validGrant(await evaluateFor(activities, id, beneficiary));
    // Deprovisioned before provisioning ran (the workflow was cancelled mid-way).
    await activities.deprovision({ requestId: id, grant, endedAt: new Date().toISOString() });
    await expect(activities.provision(grantInput(id, grant))).rejects.toMatchObject({
      type: 'GrantEnded',
      nonRetryable: true,
    });
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(false);
  });

  test('a grant the target refuses leaves no live grant behind', async () => {
    const beneficiary = newUser();
    const id = uniqueId('req');
    const grant = { ...validGrant(await evaluateFor(activities, id, beneficiary)), target: 'no_such_role' };
    await expect(activities.provision(grantInput(id, grant))).rejects.toMatchObject({ nonRetryable: true });
    const { rows } = await pool.query('SELECT 1 FROM grants WHERE request_id = $1', [id]);
    expect(rows).toEqual([]);
  });

  test('a live grant makes a later request for the same entitlement a duplicate', async () => {
    const beneficiary = newUser();
    const [first, second] = [uniqueId('req'), uniqueId('req')];
    const grant = validGrant(await evaluateFor(activities, first, beneficiary));
    await activities.provision(grantInput(first, grant));
    // Even with the claim gone, the live grant still counts.
    await activities.releaseClaim({ requestId: first, beneficiary, entitlement: grant.entitlement });
    expect(await evaluateFor(activities, second, beneficiary)).toMatchObject({
      valid: false,
      existingRequestId: first,
    });
    await activities.deprovision({ requestId: first, grant, endedAt: new Date().toISOString() });
  });
});

describe('no PostgreSQL connection is held while a target is called (defect 11)', () => {
  // A webhook target that answers only when the test lets it: meanwhile the grants are in flight.
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let arrived = 0;
  const target = http.createServer((req, res) => {
    arrived++;
    req.resume();
    void held.then(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  beforeAll(() => new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve)));
  afterAll(() => new Promise<void>((resolve) => target.close(() => resolve())));

  test('five slow grants on a pool of two leave the pool free and no transaction open', async () => {
    const small = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    const env = { GRANTFLOW_WEBHOOK_SECRET: 'defect-11' };
    const acts = createActivities({ pool: small, config, log, env });
    const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/github`;
    try {
      const grants = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const beneficiary = newUser();
          const id = uniqueId('req');
          const evaluation = await evaluateFor(acts, id, beneficiary, { entitlement: 'github:member' });
          const grant = validGrant(evaluation);
          return {
            id,
            grant: { ...grant, connector: { type: 'webhook' as const, url, secretEnv: 'GRANTFLOW_WEBHOOK_SECRET' } },
          };
        }),
      );
      const inFlight = grants.map(({ id, grant }) => acts.grantAccess({ requestId: id, grant }));
      for (let i = 0; i < 100 && arrived < 5; i++) await new Promise((r) => setTimeout(r, 50));
      expect(arrived).toBe(5); // all five wait at the target at once
      // The small pool still answers, and nobody sits in a transaction across the calls.
      await expect(small.query('SELECT 1 AS ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND datname = current_database()",
      );
      expect(rows).toEqual([{ n: 0 }]);
      release();
      await expect(Promise.all(inFlight)).resolves.toHaveLength(5);
      await Promise.all(
        grants.map(({ id, grant }) => acts.deprovision({ requestId: id, grant, endedAt: new Date().toISOString() })),
      );
    } finally {
      release();
      await small.end();
    }
  });

  test('a revoke waits while another request grants the same access, and then revokes it last', async () => {
    const beneficiary = newUser();
    const [first, second] = [uniqueId('req'), uniqueId('req')];
    const grant = validGrant(await evaluateFor(activities, first, beneficiary));
    await activities.grantAccess({ requestId: first, grant });
    // Another request holds the lease (its grant is at the target): the revoke is refused as busy, to retry.
    await pool.query(
      `INSERT INTO connector_leases (beneficiary, entitlement, request_id, operation, lease_until)
       VALUES ($1, $2, $3, 'grant', now() + interval '1 minute')`,
      [beneficiary, grant.entitlement, second],
    );
    const endedAt = new Date().toISOString();
    await expect(activities.deprovision({ requestId: first, grant, endedAt })).rejects.toMatchObject({
      type: 'ConnectorBusy',
      nonRetryable: false,
    });
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(true);
    await pool.query('DELETE FROM connector_leases WHERE request_id = $1', [second]);
    await expect(activities.deprovision({ requestId: first, grant, endedAt })).resolves.toEqual({
      revokedAtTarget: true,
    });
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(false);
  });
});

describe('reconcile (defect 11: grants that outlive their workflow, and drift at the target)', () => {
  test('ends a live grant whose workflow is gone, leaves one whose workflow runs, and reports drift', async () => {
    const [orphan, owned, drifted] = [newUser(), newUser(), newUser()];
    const ids = { orphan: uniqueId('req'), owned: uniqueId('req'), drifted: uniqueId('req') };
    const grants = {
      orphan: validGrant(await evaluateFor(activities, ids.orphan, orphan)),
      owned: validGrant(await evaluateFor(activities, ids.owned, owned)),
      drifted: validGrant(await evaluateFor(activities, ids.drifted, drifted)),
    };
    for (const k of ['orphan', 'owned', 'drifted'] as const) {
      await activities.grantAccess({ requestId: ids[k], grant: grants[k] });
    }
    // Two grants far past their end (their workflows stopped, or still retry); one ended whose role came back.
    await pool.query("UPDATE grants SET expires_at = now() - interval '2 hours' WHERE request_id = ANY($1)", [
      [ids.orphan, ids.owned],
    ]);
    await activities.deprovision({ requestId: ids.drifted, grant: grants.drifted, endedAt: new Date().toISOString() });
    await analytics.query(`GRANT analytics_read TO ${pg.escapeIdentifier(drifted)}`);

    const notified: string[] = [];
    const report = await reconcile(
      {
        pool,
        config,
        log,
        env: process.env,
        activities: { ...activities, notify: async (n) => void notified.push(n.key) },
        isRunning: async (id) => id === ids.owned,
      },
      { graceMs: 3_600_000, driftWindowMs: 3_600_000 },
    );
    expect(report.orphaned).toEqual([
      expect.objectContaining({ requestId: ids.orphan, beneficiary: orphan, revokedAtTarget: true }),
    ]);
    expect(report.owned).toContain(ids.owned);
    expect(report.drift).toEqual([expect.objectContaining({ requestId: ids.drifted, beneficiary: drifted })]);
    expect(await isRoleMember(analytics, orphan, 'analytics_read')).toBe(false);
    expect(await isRoleMember(analytics, owned, 'analytics_read')).toBe(true);
    expect(notified).toEqual([expect.stringContaining(`${ids.drifted}:drift:`)]);
    const { rows } = await pool.query<{ request_id: string; action: string }>(
      "SELECT request_id, action FROM audit_events WHERE request_id = ANY($1) AND action IN ('reconciled', 'drift_detected') ORDER BY action",
      [[ids.orphan, ids.owned, ids.drifted]],
    );
    expect(rows).toEqual([
      { request_id: ids.drifted, action: 'drift_detected' },
      { request_id: ids.orphan, action: 'reconciled' },
    ]);
    await activities.deprovision({ requestId: ids.owned, grant: grants.owned, endedAt: new Date().toISOString() });
    await analytics.query(`REVOKE analytics_read FROM ${pg.escapeIdentifier(drifted)}`);
  });
});

/** Calls an activity the way Temporal's retry policy would: again while it fails as retryable. */
async function asTemporalRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { type?: string }).type !== 'ConnectorBusy' || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('notify', () => {
  let status = 200;
  const posts: unknown[] = [];
  const chat = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (status === 200) posts.push(JSON.parse(body));
      res.writeHead(status).end();
    });
  });
  let notifying: Activities;

  beforeAll(async () => {
    await new Promise<void>((resolve) => chat.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(chat.address() as AddressInfo).port}/hook`;
    notifying = createActivities({ pool, config, log, env: { GRANTFLOW_NOTIFY_WEBHOOK_URL: url } });
  });
  afterAll(() => new Promise((resolve) => chat.close(resolve)));

  const notification = (key: string) => ({
    key,
    requestId: 'req-notify',
    to: ['bob'],
    subject: 'Approval needed',
    text: 'alice asks for analytics-db:read <!channel>',
  });

  test('sends once per key', async () => {
    const key = uniqueId('notify');
    await Promise.all([notifying.notify(notification(key)), notifying.notify(notification(key))]);
    await notifying.notify(notification(key));
    const mine = posts.filter((p) => JSON.stringify(p).includes('alice asks'));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ text: expect.stringContaining('&lt;!channel&gt;'), blocks: expect.any(Array) });
    posts.length = 0;
  });

  test('a failed send is retried, not forgotten', async () => {
    const key = uniqueId('notify');
    status = 503;
    await expect(notifying.notify(notification(key))).rejects.toMatchObject({ type: 'NotifierUnavailable' });
    status = 200;
    await notifying.notify(notification(key));
    expect(posts).toHaveLength(1);
  });
});

describe('recordAudit', () => {
  test('appends once per event id', async () => {
    const requestId = uniqueId('req');
    const event = {
      eventId: `${requestId}:submitted`,
      requestId,
      actor: 'alice',
      action: 'request.submitted',
      at: new Date().toISOString(),
    };
    await activities.recordAudit(event);
    await activities2.recordAudit(event);
    const { rows } = await pool.query('SELECT action FROM audit_events WHERE request_id = $1', [requestId]);
    expect(rows).toEqual([{ action: 'request.submitted' }]);
  });
});
