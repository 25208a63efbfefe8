import request from 'supertest';
import { createActivities } from '../../activities';
import { ldapSettingsSchema, readLdapDirectory } from '../../directory/ldap';
import { syncLdap } from '../../directory/sync';
import { createDirectoryView } from '../../directory/view';
import { parseConfigs } from '../../domain/config';
import { createLogger } from '../../platform/logger';
import { directoryDb, scimApp, type DirectoryDb, type ScimApp } from '../helpers/directory';
import { demoRaw } from '../helpers/harness';
import { ADMIN_DN, ADMIN_PASSWORD, SUFFIX, seedLdif, startSlapd, userDn, type Slapd } from '../helpers/slapd';

/**
 * An identity's time zone comes from the directory: SCIM's core `timezone` (RFC 7643 §4.1.1), an LDAP attribute the
 * settings name. The evaluating activity reads today's directory, so a business-hours stage counts each approver's
 * own working day.
 */
const SCIM = 'application/scim+json';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');

let db: DirectoryDb;
beforeEach(async () => {
  db = await directoryDb();
});
afterEach(async () => {
  await db.drop();
});

describe('SCIM', () => {
  let scim: ScimApp;
  let token: string;
  beforeEach(async () => {
    scim = scimApp(db);
    token = await scim.tokens.issue('entra');
  });
  afterEach(async () => {
    await scim.connection.close().catch(() => undefined);
  });
  const post = (body: unknown) =>
    request(scim.app)
      .post('/scim/v2/Users')
      .set({ Authorization: `Bearer ${token}`, 'Content-Type': SCIM })
      .send(JSON.stringify(body));
  const user = (userName: string, extra: Record<string, unknown> = {}) => ({
    schemas: [USER],
    userName,
    name: { givenName: userName, familyName: 'Tester' },
    ...extra,
  });

  test('maps `timezone` into the directory (an unknown zone gives none), and the evaluation counts in it', async () => {
    const boss = await post(user('nyboss', { timezone: 'America/New_York' }));
    expect(boss.status).toBe(201);
    expect(boss.body.timezone).toBe('America/New_York');
    const ann = await post(
      user('tzann', { schemas: [USER, ENTERPRISE], [ENTERPRISE]: { manager: { value: boss.body.id } } }),
    );
    expect(ann.status).toBe(201);

    // A zone nobody knows is kept as sent (a faithful read) but gives the person no zone: the calendar's applies.
    const odd = await post(user('marsian', { timezone: 'Mars/Olympus_Mons' }));
    expect(odd.status).toBe(201);
    expect(odd.body.timezone).toBe('Mars/Olympus_Mons');

    const current = await scim.directory.current();
    expect(current.users.get('nyboss')?.timeZone).toBe('America/New_York');
    expect(current.users.get('tzann')?.timeZone).toBeUndefined();
    expect(current.users.get('marsian')?.timeZone).toBeUndefined();

    // The manager stage counts business hours: the activity that evaluates resolves them in the manager's zone.
    const raw = demoRaw();
    const medium = raw.policy.rules.find((r: { name: string }) => r.name === 'medium');
    medium.plan[0].sla.clock = 'business';
    const config = parseConfigs(raw);
    const acts = createActivities({
      pool: db.pool,
      config,
      log,
      directory: createDirectoryView(db.pool, config, 'scim'),
    });
    const requestId = `tz-${Date.now().toString(36)}`;
    const evaluation = await acts.evaluateRequest({
      requestId,
      requester: 'tzann',
      input: { entitlement: 'analytics-db:read', justification: 'Time zone test.', fields: {}, breakGlass: false },
      now: '2026-11-24T10:00:00Z',
    });
    await acts.releaseClaim({ requestId, beneficiary: 'tzann', entitlement: 'analytics-db:read' });
    if (!evaluation.valid || evaluation.plan.kind !== 'stages') throw new Error(JSON.stringify(evaluation));
    const stage = evaluation.plan.stages[0];
    expect(stage?.approvers).toEqual(['nyboss']);
    expect(stage?.workingTime?.zones.map((z) => [z.zone, z.approvers])).toEqual([['America/New_York', ['nyboss']]]);
    // Tuesday 10:00 UTC is 05:00 in New York: the first working period starts at 09:00 there, 14:00 UTC.
    expect(new Date(stage?.workingTime?.zones[0]?.periods[0]?.[0] ?? 0).toISOString()).toBe('2026-11-24T14:00:00.000Z');
  });
});

describe('LDAP', () => {
  let slapd: Slapd;
  beforeAll(async () => {
    slapd = await startSlapd(
      seedLdif(
        [
          { uid: 'alice', cn: 'Alice Adams', manager: 'bob' },
          { uid: 'bob', cn: 'Bob Brown' },
          { uid: 'carol', cn: 'Carol Chen' },
        ],
        { engineering: ['alice', 'bob'] },
      ),
    );
    slapd.modify(`dn: ${userDn('bob')}\nchangetype: modify\nadd: l\nl: Asia/Tokyo\n`);
    slapd.modify(`dn: ${userDn('carol')}\nchangetype: modify\nadd: l\nl: Nowhere/Atlantis\n`);
  }, 30_000);
  afterAll(async () => {
    await slapd?.stop();
  });

  const settings = (attributes: Record<string, string>) =>
    ldapSettingsSchema.parse({
      url: slapd.url,
      bindDn: ADMIN_DN,
      password: ADMIN_PASSWORD,
      users: { base: `ou=people,${SUFFIX}` },
      groups: { base: `ou=groups,${SUFFIX}` },
      attributes,
    });

  test('maps the configured attribute to the time zone; an unknown zone is left out; unconfigured, none', async () => {
    const config = parseConfigs(demoRaw());
    const view = createDirectoryView(db.pool, config, 'ldap');
    expect((await syncLdap(db.pool, { read: () => readLdapDirectory(settings({})) })).status).toBe('applied');
    expect((await view.current()).users.get('bob')?.timeZone).toBeUndefined();

    const mapped = await syncLdap(db.pool, { read: () => readLdapDirectory(settings({ timeZone: 'l' })) });
    expect(mapped.status).toBe('applied');
    expect(mapped.diff?.identities.map((c) => [c.id, c.fields])).toEqual([['bob', ['timeZone']]]);
    const users = (await view.current()).users;
    expect(users.get('bob')?.timeZone).toBe('Asia/Tokyo');
    expect(users.get('carol')).toMatchObject({ name: 'Carol Chen' });
    expect(users.get('carol')?.timeZone).toBeUndefined();
    expect(users.get('alice')?.timeZone).toBeUndefined();
  });
});
