/**
 * The directory API over an LDAP-sourced directory on a real slapd: identities, service accounts and the sync, for
 * security and admins only (a plain user is refused each, and sees only their own record); the on-demand sync (dry
 * run, then applied) runs as a workflow in the worker; the Temporal Schedule runs the same sync.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { Express } from 'express';
import { signDevToken } from '../../api/auth';
import { createDirectorySyncActivities } from '../../activities/directory-sync';
import { ldapSettingsSchema, readLdapDirectory } from '../../directory/ldap';
import { ensureDirectorySyncSchedule, directorySyncRunner } from '../../directory/sync-schedule';
import { createDirectoryView } from '../../directory/view';
import { createLogger } from '../../platform/logger';
import { DIRECTORY_SYNC_SCHEDULE_ID } from '../../workflows/identity/messages';
import { revokeUpdate, workflowIdFor } from '../../workflows/messages';
import { SYSTEM_ACTOR } from '../../domain/model';
import { createTestApp } from '../helpers/api';
import { historyToJson } from '../helpers/fault-history-json';
import { directoryDb, type DirectoryDb } from '../helpers/directory';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';
import { ADMIN_DN, ADMIN_PASSWORD, SUFFIX, seedLdif, startSlapd, userDn, type Slapd } from '../helpers/slapd';

jest.setTimeout(120_000);

const SECRET = 'directory-api-test-secret-0123456789';
const log = createLogger('directory-api-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const PEOPLE = [
  { uid: 'alice', cn: 'Alice Adams', department: 'engineering', manager: 'bob' },
  { uid: 'bob', cn: 'Bob Brown', department: 'engineering', manager: 'erin' },
  { uid: 'dave', cn: 'Dave Diaz', department: 'security', manager: 'erin' },
  { uid: 'erin', cn: 'Erin Evans', department: 'executive' },
  { uid: 'frank', cn: 'Frank Fischer', department: 'engineering', manager: 'bob' },
];
const GROUPS = { engineering: ['alice', 'bob', 'frank'], security: ['dave'], executives: ['erin'] };

let slapd: Slapd;
let db: DirectoryDb;
let env: TestEnv;
let app: Express;

beforeAll(async () => {
  slapd = await startSlapd(seedLdif(PEOPLE, GROUPS));
  db = await directoryDb();
  const settings = ldapSettingsSchema.parse({
    url: slapd.url,
    bindDn: ADMIN_DN,
    password: ADMIN_PASSWORD,
    users: { base: `ou=people,${SUFFIX}` },
    groups: { base: `ou=groups,${SUFFIX}` },
    pageSize: 2,
  });
  env = await startEnv({
    title: 'directory-api',
    pool: db.pool,
    directory: (config) => createDirectoryView(db.pool, config, 'ldap'),
    activities: {
      ...createDirectorySyncActivities({
        pool: db.pool,
        read: () => readLdapDirectory(settings),
        // Who is security, when a held sync is confirmed: the live directory (env is set by the time it is asked).
        directory: { current: () => createDirectoryView(db.pool, env.config, 'ldap').current() },
      }),
    },
  });
  const runner = directorySyncRunner(env.client, db.pool, env.taskQueue);
  // The first sync brings the people in (the API knows nobody before it).
  expect((await runner.run({ dryRun: false, actor: 'test' })).status).toBe('applied');
  app = createTestApp(env, SECRET, {
    directory: createDirectoryView(db.pool, env.config, 'ldap'),
    directorySync: runner,
  });
}, 60_000);

afterAll(async () => {
  await env?.client.schedule
    .getHandle(DIRECTORY_SYNC_SCHEDULE_ID)
    .delete()
    .catch(() => undefined);
  await env?.stop();
  await db?.drop();
  await slapd?.stop();
});

const as = async (user: string) => {
  const token = await signDevToken({ userId: user, secret: SECRET, ttl: '10m' });
  return {
    get: (path: string) => request(app).get(path).set('Authorization', `Bearer ${token}`),
    post: (path: string, body: string | object) =>
      request(app).post(path).set('Authorization', `Bearer ${token}`).send(body),
  };
};

test('a plain user is refused every directory operation and anyone else’s record, with problem+json', async () => {
  const alice = await as('alice');
  for (const res of [
    await alice.get('/v1/identities'),
    await alice.get('/v1/identities/bob'),
    // An id that does not exist answers the same: a plain user cannot probe the directory.
    await alice.get('/v1/identities/nobody-here'),
    await alice.get('/v1/service-accounts'),
    await alice.get('/v1/directory/sync'),
    await alice.post('/v1/directory/sync', { dryRun: false }),
  ]) {
    expect([res.status, res.type, res.body.type]).toEqual([
      403,
      'application/problem+json',
      'urn:grantflow:problem:forbidden',
    ]);
  }
  const own = await alice.get('/v1/identities/alice');
  expect([own.status, own.body.id, own.body.manager]).toEqual([200, 'alice', 'bob']);
  const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM directory_syncs WHERE status = 'applied'");
  expect(rows[0].n).toBe(1);
});

test('security lists identities with status, source, manager and holdings, and reads one', async () => {
  const held = uniqueId();
  await env.submit('frank', { entitlement: 'github:member' }, held);
  await env.waitFor(held, (v) => v.status === 'active');
  const dave = await as('dave');
  const list = await dave.get('/v1/identities?limit=2');
  expect(list.status).toBe(200);
  expect(list.body.items.map((i: { id: string }) => i.id)).toEqual(['alice', 'bob']);
  expect(list.body.next).toBe('bob');
  const rest = await dave.get(`/v1/identities?after=${list.body.next}&manager=bob`);
  expect(rest.body.items.map((i: { id: string }) => i.id)).toEqual(['frank']);
  expect(rest.body.items[0]).toMatchObject({
    status: 'active',
    source: 'ldap',
    manager: 'bob',
    kind: 'human',
    holdings: [{ requestId: held, entitlement: 'github:member' }],
  });
  const bad = await dave.get('/v1/identities?limit=0');
  expect([bad.status, bad.type]).toEqual([400, 'application/problem+json']);
  expect((await dave.get('/v1/identities/nobody-here')).status).toBe(404);
  const accounts = await dave.get('/v1/service-accounts');
  expect([accounts.status, accounts.body.items]).toEqual([200, []]);
  // The test database is shared by every suite of the run: end the grant, so frank's claim on it blocks no other.
  await env.client.workflow
    .getHandle(workflowIdFor(held))
    .executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason: 'test done' }] });
  await env.waitFor(held, (v) => v.status === 'revoked');
});

test('an on-demand dry run returns the diff and changes nothing; applied, the leaver is inactive', async () => {
  slapd.modify(`dn: ${userDn('frank')}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n`);
  const dave = await as('dave');
  const dry = await dave.post('/v1/directory/sync', { dryRun: true });
  expect([dry.status, dry.body.status, dry.body.deactivations]).toEqual([200, 'dry_run', ['frank']]);
  expect(dry.body.changes).toEqual([{ id: 'frank', change: 'deactivated', fields: ['active'] }]);
  expect((await dave.get('/v1/identities/frank')).body.status).toBe('active');

  const applied = await dave.post('/v1/directory/sync', { dryRun: false });
  expect([applied.status, applied.body.status]).toEqual([200, 'applied']);
  expect((await dave.get('/v1/identities/frank')).body.status).toBe('inactive');
  const status = await dave.get('/v1/directory/sync');
  expect(status.body).toMatchObject({ source: 'ldap', pulled: true });
  expect(status.body.syncs.slice(0, 2).map((s: { status: string }) => s.status)).toEqual(['applied', 'dry_run']);
  expect(status.body.syncs[0].deactivations).toEqual(['frank']);
  const wrong = await dave.post('/v1/directory/sync', { dryRun: 'yes' });
  expect([wrong.status, wrong.type]).toEqual([400, 'application/problem+json']);
});

test('the LDAP sync runs on a Temporal Schedule at the configured interval', async () => {
  await ensureDirectorySyncSchedule(env.client, env.taskQueue, 3600, log);
  const handle = env.client.schedule.getHandle(DIRECTORY_SYNC_SCHEDULE_ID);
  const described = await handle.describe();
  expect(described.spec.intervals?.[0]?.every).toBe(3_600_000);
  expect(described.policies.overlap).toBe('SKIP');
  // A second start brings it to the new interval rather than failing.
  await ensureDirectorySyncSchedule(env.client, env.taskQueue, 600, log);
  expect((await handle.describe()).spec.intervals?.[0]?.every).toBe(600_000);
  const before = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM directory_syncs');
  await handle.trigger();
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM directory_syncs');
    if (rows[0]!.n > before.rows[0]!.n) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows } = await db.pool.query('SELECT status FROM directory_syncs ORDER BY started_at DESC LIMIT 1');
  expect(rows).toEqual([{ status: 'applied' }]);
  await ensureDirectorySyncSchedule(env.client, env.taskQueue, 0, log);
  await expect(handle.describe()).rejects.toThrow();
});

test('a held mass deactivation is confirmed over the API by security only, never by the person who asked for it', async () => {
  // Two of the four still active leave at once: more than the guard lets through without security.
  const leave = (uid: string, flags: number) =>
    slapd.modify(`dn: ${userDn(uid)}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: ${flags}\n`);
  for (const uid of ['alice', 'bob']) leave(uid, 514);
  try {
    const [alice, dave, erin] = await Promise.all([as('alice'), as('dave'), as('erin')]);
    const askedByDave = await dave.post('/v1/directory/sync', { dryRun: false });
    expect([askedByDave.status, askedByDave.body.status]).toEqual([200, 'awaiting_confirmation']);
    expect(askedByDave.body.deactivations.sort()).toEqual(['alice', 'bob']);
    const askedByErin = await erin.post('/v1/directory/sync', { dryRun: false });
    expect(askedByErin.body.status).toBe('awaiting_confirmation');
    const confirm = (who: typeof dave, id: string) => who.post(`/v1/directory/sync/${id}/confirm`, {});
    const problem = (res: request.Response) => [res.status, res.type, res.body.type, res.body.detail];

    // A plain user, an admin who is not security, and security confirming the sync they asked for: 403, no change.
    expect(problem(await confirm(alice, askedByErin.body.id))).toEqual([
      403,
      'application/problem+json',
      'urn:grantflow:problem:forbidden',
      'Confirming a mass deactivation is for security only.',
    ]);
    expect(problem(await confirm(erin, askedByErin.body.id))).toEqual([
      403,
      'application/problem+json',
      'urn:grantflow:problem:forbidden',
      'Confirming a mass deactivation is for security only.',
    ]);
    expect(problem(await confirm(dave, askedByDave.body.id))).toEqual([
      403,
      'application/problem+json',
      'urn:grantflow:problem:forbidden',
      `dave asked for sync ${askedByDave.body.id}; another member of security must confirm it.`,
    ]);
    // Not a sync id, or no such sync.
    expect((await confirm(dave, 'not-a-uuid')).status).toBe(400);
    expect(problem(await confirm(dave, '00000000-0000-4000-8000-000000000000')).slice(0, 3)).toEqual([
      404,
      'application/problem+json',
      'urn:grantflow:problem:not-found',
    ]);
    const statuses = async () => {
      const { rows } = await db.pool.query<{ id: string; status: string }>(
        'SELECT id, status FROM directory_syncs WHERE id = ANY($1::text[]) ORDER BY id',
        [[askedByDave.body.id, askedByErin.body.id]],
      );
      return Object.fromEntries(rows.map((r) => [r.id, r.status]));
    };
    expect(await statuses()).toEqual({
      [askedByDave.body.id]: 'awaiting_confirmation',
      [askedByErin.body.id]: 'awaiting_confirmation',
    });
    expect((await dave.get('/v1/identities/alice')).body.status).toBe('active');

    // Security confirms the sync an admin asked for: it applies, once.
    const confirmed = await confirm(dave, askedByErin.body.id);
    expect([confirmed.status, confirmed.body.status, confirmed.body.deactivations.sort()]).toEqual([
      200,
      'confirmed',
      ['alice', 'bob'],
    ]);
    expect((await dave.get('/v1/identities/alice')).body.status).toBe('inactive');
    expect((await dave.get('/v1/identities/bob')).body.status).toBe('inactive');
    const again = await confirm(dave, askedByErin.body.id);
    expect(problem(again).slice(0, 3)).toEqual([
      409,
      'application/problem+json',
      'urn:grantflow:problem:invalid-state',
    ]);
    const { rows } = await db.pool.query('SELECT confirmed_by FROM directory_syncs WHERE id = $1', [
      askedByErin.body.id,
    ]);
    expect(rows).toEqual([{ confirmed_by: 'dave' }]);
    // The histories of this suite's syncs, one per outcome, are the replay suite's fixtures
    // (test/faults/histories/directory-sync/): GRANTFLOW_RECORD_DIRECTORY_SYNC_HISTORIES=<dir> writes them.
    const record = process.env.GRANTFLOW_RECORD_DIRECTORY_SYNC_HISTORIES;
    if (record) await recordSyncHistories(record);
  } finally {
    for (const uid of ['alice', 'bob']) leave(uid, 512);
  }
});

async function recordSyncHistories(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const query = `WorkflowType = 'directorySync' AND TaskQueue = '${env.taskQueue}' AND ExecutionStatus = 'Completed'`;
  const written = new Set<string>();
  for await (const run of env.client.workflow.list({ query })) {
    const history = await env.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    const data = history.events?.at(-1)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0]?.data;
    const status = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { status: string }).status : 'unknown';
    if (written.has(status)) continue;
    written.add(status);
    fs.writeFileSync(path.join(dir, `${status.replace(/_/g, '-')}.json`), historyToJson(history));
  }
}
