/**
 * `npm run bench:identity`: the directory at company size, on a stack of its own (embedded PostgreSQL, Temporal dev
 * server, a real slapd):
 *  1. SCIM: the initial load of --users users and --groups groups (each group of --members people) through the SCIM
 *     endpoint, as an identity provider pushes it (users and groups per second, --concurrency requests at a time);
 *  2. LDAP: a sync of a directory of the same size from slapd (paged search) into PostgreSQL, in seconds, and a second
 *     sync that finds nothing to change;
 *  3. leaver: one of the SCIM-loaded people holds --grants live grants (auto-approved, at a webhook target); the
 *     seconds from the provider's `active: "False"` (Entra's body) to the last revoke arriving at the target, as a
 *     ratio to one revoke's latency (a holder revoking one grant, median of three) measured in the same run.
 * Writes bench/results/identity/latest.{json,md}. Not part of `npm test`: minutes, not seconds.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { signDevToken } from '../api/auth';
import { createScimTokens } from '../api/scim/tokens';
import { dispatchLifecycle } from '../directory/lifecycle';
import { readLdapDirectory, ldapSettingsSchema } from '../directory/ldap';
import { syncLdap } from '../directory/sync';
import { createDirectoryView } from '../directory/view';
import { createLogger } from '../platform/logger';
import { tempDir } from '../scripts/postgres';
import { startStack } from '../scripts/stack';
import { freePort } from '../scripts/temporal';
import { createTestApp } from '../test/helpers/api';
import { directoryDb } from '../test/helpers/directory';
import { startEnv, type RawConfig } from '../test/helpers/harness';
import { ADMIN_DN, ADMIN_PASSWORD, SUFFIX, seedLdif, startSlapd, type SeedUser } from '../test/helpers/slapd';
import { intOption, median } from './lib/args';
import { machine } from './lib/machine';

const option = (name: string, fallback: number) => intOption(name, fallback);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => Math.round(ms / 10) / 100;
const SECRET = 'bench-identity-secret-0123456789abcdef';
const SCIM = 'application/scim+json';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T, i);
    }),
  );
  return out;
}

const person = (i: number) => `p${String(i).padStart(5, '0')}`;

async function main(): Promise<void> {
  const users = option('users', 10_000);
  const groups = option('groups', 500);
  const members = option('members', 20);
  const grants = option('grants', 50);
  const concurrency = option('concurrency', 8);
  const dir = tempDir('grantflow-bench-identity-');
  const stack = await startStack({
    dataDir: dir,
    pgPort: await freePort(),
    temporalPort: await freePort(),
    fast: true,
  });
  process.env.DATABASE_URL = stack.databaseUrl;
  process.env.GRANTFLOW_ANALYTICS_DATABASE_URL = stack.analyticsDatabaseUrl;
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  // The directory schemas are made by the owner, then used by the application's role (test/helpers/directory.ts).
  process.env.GRANTFLOW_TEST_ADMIN_DATABASE_URL = stack.adminDatabaseUrl;
  const log = createLogger('bench', 'silent');
  const results: Record<string, unknown> = {};
  const stops: (() => Promise<void>)[] = [];
  try {
    // ---- 1. SCIM: the identity provider's first push ----
    const scimDb = await directoryDb();
    stops.push(() => scimDb.drop());
    // The leaver's grants: one resource of --grants entitlements at the webhook target, auto-approved.
    const apps = Array.from({ length: grants }, (_, i) => `e${String(i + 1).padStart(3, '0')}`);
    const configure = (raw: RawConfig) => {
      const github = raw.catalog.resources.find((r: { id: string }) => r.id === 'github');
      raw.catalog.resources.push({
        ...github,
        id: 'bench-apps',
        name: 'Bench apps',
        entitlements: apps.map((role) => ({
          role,
          name: role,
          target: role,
          defaultDuration: 'P30D',
          maxDuration: 'P90D',
        })),
      });
      raw.policy.rules.unshift({
        name: 'bench',
        when: { entitlements: apps.map((a) => `bench-apps:${a}`) },
        plan: 'auto-approve',
      });
      return raw;
    };
    const env = await startEnv({
      title: 'bench-identity',
      pool: scimDb.pool,
      directory: (config) => createDirectoryView(scimDb.pool, config, 'scim'),
      lifecycle: true,
      configure,
    });
    stops.unshift(() => env.stop());
    const tokens = createScimTokens(scimDb.pool);
    const scimToken = await tokens.issue('bench');
    const app = createTestApp(env, SECRET, {
      directory: createDirectoryView(scimDb.pool, env.config, 'scim'),
      rateLimitPerMinute: 1_000_000,
      scim: {
        enabled: true,
        tokens,
        afterChange: async () => {
          await dispatchLifecycle({
            pool: scimDb.pool,
            client: env.client,
            taskQueue: env.taskQueue,
            source: 'scim',
            log,
          });
        },
      },
    });
    const scim = (method: 'post' | 'patch', url: string, body: unknown) =>
      request(app)
        [method](`/scim/v2${url}`)
        .set('Authorization', `Bearer ${scimToken}`)
        .set('Content-Type', SCIM)
        .send(JSON.stringify(body));
    const scimIds: string[] = [];
    const userStart = Date.now();
    await mapLimit(
      Array.from({ length: users }, (_, i) => i),
      concurrency,
      async (i) => {
        const userName = person(i);
        const res = await scim('post', '/Users', {
          schemas: [USER, ENTERPRISE],
          userName,
          name: { givenName: 'Person', familyName: String(i) },
          emails: [{ value: `${userName}@corp.example`, type: 'work', primary: true }],
          active: true,
          // Managers first: everyone's manager is someone pushed before them (p00000 has none).
          [ENTERPRISE]: {
            department: 'engineering',
            ...(i > 0 &&
              scimIds[Math.floor((i - 1) / 10)] && { manager: { value: scimIds[Math.floor((i - 1) / 10)] } }),
          },
        });
        if (res.status !== 201) throw new Error(`SCIM create ${userName}: ${res.status} ${JSON.stringify(res.body)}`);
        scimIds[i] = res.body.id as string;
      },
    );
    const userMs = Date.now() - userStart;
    const groupStart = Date.now();
    await mapLimit(
      Array.from({ length: groups }, (_, g) => g),
      concurrency,
      async (g) => {
        const res = await scim('post', '/Groups', {
          schemas: [GROUP],
          displayName: `group-${g}`,
          members: Array.from({ length: members }, (_, m) => ({ value: scimIds[(g * members + m) % users] })),
        });
        if (res.status !== 201) throw new Error(`SCIM group ${g}: ${res.status} ${JSON.stringify(res.body)}`);
      },
    );
    const groupMs = Date.now() - groupStart;
    results.scim = {
      users,
      groups,
      membersPerGroup: members,
      concurrency,
      userSeconds: seconds(userMs),
      usersPerSecond: Math.round((users / userMs) * 1000),
      groupSeconds: seconds(groupMs),
      groupsPerSecond: Math.round((groups / groupMs) * 1000),
    };
    process.stdout.write(`scim: ${JSON.stringify(results.scim)}\n`);

    // ---- 2. LDAP: the same size from a real slapd ----
    const seedUsers: SeedUser[] = Array.from({ length: users }, (_, i) => ({
      uid: person(i),
      cn: `Person ${i}`,
      department: 'engineering',
      ...(i > 0 && { manager: person(Math.floor((i - 1) / 10)) }),
    }));
    const seedGroups = Object.fromEntries(
      Array.from({ length: groups }, (_, g) => [
        `group-${g}`,
        Array.from({ length: members }, (_, m) => person((g * members + m) % users)),
      ]),
    );
    const slapd = await startSlapd(seedLdif(seedUsers, seedGroups));
    stops.push(() => slapd.stop());
    const ldapDb = await directoryDb();
    stops.push(() => ldapDb.drop());
    const settings = ldapSettingsSchema.parse({
      url: slapd.url,
      bindDn: ADMIN_DN,
      password: ADMIN_PASSWORD,
      users: { base: `ou=people,${SUFFIX}` },
      groups: { base: `ou=groups,${SUFFIX}` },
    });
    const ldapStart = Date.now();
    const first = await syncLdap(ldapDb.pool, { read: () => readLdapDirectory(settings) });
    const ldapMs = Date.now() - ldapStart;
    const againStart = Date.now();
    const again = await syncLdap(ldapDb.pool, { read: () => readLdapDirectory(settings) });
    const againMs = Date.now() - againStart;
    const { rows: counted } = await ldapDb.pool.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM directory_identities',
    );
    if (Number(counted[0]?.n) < users) throw new Error(`LDAP sync stored ${counted[0]?.n} of ${users} identities.`);
    results.ldap = {
      users,
      groups,
      pageSize: settings.pageSize,
      firstSyncSeconds: seconds(ldapMs),
      firstSync: `${first.status}, ${first.diff?.identities.length ?? 0} identity and ${first.diff?.groups.length ?? 0} group changes`,
      unchangedSyncSeconds: seconds(againMs),
      unchangedSync: `${again.status}, ${(again.diff?.identities.length ?? 0) + (again.diff?.groups.length ?? 0)} changes`,
    };
    process.stdout.write(`ldap: ${JSON.stringify(results.ldap)}\n`);

    // ---- 3. A leaver with --grants live grants, against one revoke ----
    const token = async (user: string) => `Bearer ${await signDevToken({ userId: user, secret: SECRET, ttl: '1h' })}`;
    const submit = async (user: string, entitlement: string) => {
      const res = await request(app)
        .post('/v1/requests')
        .set('Authorization', await token(user))
        .send({ entitlement, justification: 'Bench: the leaver holds many grants.' });
      if (res.status !== 201)
        throw new Error(`submit ${user} ${entitlement}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    };
    const revokedAt = async (ids: string[], timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const arrived = (await env.deliveries()).filter(
          (d) => d.body.action === 'revoke' && ids.includes(String(d.body.requestId)),
        );
        if (new Set(arrived.map((d) => d.body.requestId)).size === ids.length) return Date.now();
        if (Date.now() > deadline) throw new Error(`${arrived.length} of ${ids.length} revokes arrived in time.`);
        await sleep(25);
      }
    };
    // One revoke: a holder ends one grant (median of three, each a person of their own).
    const single: number[] = [];
    for (let k = 0; k < 3; k++) {
      const holder = person(users - 1 - k);
      const id = await submit(holder, `bench-apps:${apps[0]}`);
      await env.waitFor(id, (v) => v.status === 'active');
      const start = Date.now();
      const res = await request(app)
        .post(`/v1/requests/${id}/revoke`)
        .set('Authorization', await token(holder))
        .send({ reason: 'Bench: one revoke.' });
      if (res.status !== 200) throw new Error(`revoke: ${res.status} ${JSON.stringify(res.body)}`);
      single.push((await revokedAt([id], 60_000)) - start);
    }
    const leaverIndex = Math.floor(users / 2);
    const leaver = person(leaverIndex);
    const held = await mapLimit(apps, concurrency, (a) => submit(leaver, `bench-apps:${a}`));
    await mapLimit(held, concurrency, (id) => env.waitFor(id, (v) => v.status === 'active', 120_000));
    const leaveStart = Date.now();
    const left = await scim('patch', `/Users/${scimIds[leaverIndex]}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    if (left.status !== 200) throw new Error(`SCIM deactivate: ${left.status} ${JSON.stringify(left.body)}`);
    const leaverMs = (await revokedAt(held, 600_000)) - leaveStart;
    const oneMs = median(single);
    results.leaver = {
      grants,
      secondsToLastRevoke: seconds(leaverMs),
      singleRevokeMs: oneMs,
      singleRevokeSamplesMs: single,
      ratio: Math.round((leaverMs / oneMs) * 10) / 10,
    };
    process.stdout.write(`leaver: ${JSON.stringify(results.leaver)}\n`);

    const out = path.join(__dirname, 'results', 'identity');
    fs.mkdirSync(out, { recursive: true });
    const report = {
      at: new Date().toISOString(),
      machine: machine(),
      options: { users, groups, members, grants, concurrency },
      ...results,
    };
    fs.writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    const s = results.scim as Record<string, number>;
    const l = results.ldap as Record<string, number | string>;
    const v = results.leaver as Record<string, number>;
    fs.writeFileSync(
      path.join(out, 'latest.md'),
      [
        `# Identity bench (${report.at})`,
        '',
        `Machine: ${JSON.stringify(report.machine)}`,
        '',
        '| Figure | Result |',
        '| --- | --- |',
        `| SCIM initial load, ${users} users | ${s.userSeconds} s, ${s.usersPerSecond} users/s (${concurrency} at a time) |`,
        `| SCIM initial load, ${groups} groups of ${members} | ${s.groupSeconds} s, ${s.groupsPerSecond} groups/s |`,
        `| LDAP sync of ${users} users and ${groups} groups (pages of ${l.pageSize}) | ${l.firstSyncSeconds} s (${l.firstSync}); unchanged again ${l.unchangedSyncSeconds} s (${l.unchangedSync}) |`,
        `| Leaver with ${grants} live grants, \`active: "False"\` to the last revoke at the target | ${v.secondsToLastRevoke} s |`,
        `| One revoke at the target (median of 3) | ${v.singleRevokeMs} ms |`,
        `| Leaver / one revoke | ${v.ratio}× |`,
        '',
      ].join('\n'),
    );
    process.stdout.write(`written to ${path.relative(process.cwd(), out)}/latest.{json,md}\n`);
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
