import { ldapSettingsSchema, readLdapDirectory, type LdapSettings } from '../../directory/ldap';
import { currentVersion } from '../../directory/store';
import { confirmLdapSync, syncLdap, SyncConfirmationError } from '../../directory/sync';
import { createDirectoryView } from '../../directory/view';
import { loadConfig } from '../../platform/config-files';
import { DEMO_CONFIG_DIR, directoryDb, type DirectoryDb } from '../helpers/directory';
import {
  ADMIN_DN,
  ADMIN_PASSWORD,
  LIMITED_DN,
  LIMITED_PASSWORD,
  SUFFIX,
  seedLdif,
  startSlapd,
  userDn,
  type SeedUser,
  type Slapd,
} from '../helpers/slapd';

const config = loadConfig(DEMO_CONFIG_DIR, {});
const PEOPLE: SeedUser[] = [
  { uid: 'alice', cn: 'Alice Adams', department: 'engineering', manager: 'bob' },
  { uid: 'bob', cn: 'Bob Brown', department: 'engineering', manager: 'erin' },
  { uid: 'carol', cn: 'Carol Chen', department: 'finance', manager: 'erin' },
  { uid: 'dave', cn: 'Dave Diaz', department: 'security', manager: 'erin' },
  { uid: 'erin', cn: 'Erin Evans', department: 'executive' },
  { uid: 'frank', cn: 'Frank Fischer', department: 'engineering', manager: 'bob' },
  { uid: 'grace', cn: 'Grace Green', department: 'engineering', manager: 'erin' },
  { uid: 'hal', cn: 'Hal Hill', department: 'engineering', manager: 'grace' },
];
const GROUPS = {
  engineering: ['alice', 'bob', 'frank', 'grace', 'hal'],
  managers: ['bob', 'carol', 'grace'],
  finance: ['carol'],
  security: ['dave'],
  executives: ['erin'],
};

let slapd: Slapd;
let db: DirectoryDb;

beforeAll(async () => {
  slapd = await startSlapd(seedLdif(PEOPLE, GROUPS));
}, 30_000);
afterAll(async () => {
  await slapd?.stop();
});
beforeEach(async () => {
  db = await directoryDb();
});
afterEach(async () => {
  await db.drop();
});

function settings(overrides: Partial<LdapSettings> = {}): LdapSettings {
  return ldapSettingsSchema.parse({
    url: slapd.url,
    bindDn: ADMIN_DN,
    password: ADMIN_PASSWORD,
    users: { base: `ou=people,${SUFFIX}` },
    groups: { base: `ou=groups,${SUFFIX}` },
    // Small pages, so every sync here reads several.
    pageSize: 2,
    ...overrides,
  });
}

const sync = (s: LdapSettings = settings(), opts: { dryRun?: boolean } = {}) =>
  syncLdap(db.pool, { read: () => readLdapDirectory(s), ...opts });
const directory = () => createDirectoryView(db.pool, config, 'ldap').current();
const identityRows = async () => (await db.pool.query('SELECT * FROM directory_identities ORDER BY id')).rows;

/** Puts everyone back as seeded, for the suites that change the server. */
function restore(uid: string, control = 512) {
  slapd.modify(`dn: ${userDn(uid)}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: ${control}\n`);
}

test('a paged sync brings users, groups, managers and departments into PostgreSQL; a second one changes nothing', async () => {
  const first = await sync();
  expect(first.status).toBe('applied');
  expect(first.pages).toBeGreaterThan(4);
  expect(first.diff?.identities).toHaveLength(PEOPLE.length);
  const d = await directory();
  expect(d.users.get('alice')).toMatchObject({
    name: 'Alice Adams',
    email: 'alice@example.test',
    department: 'engineering',
    manager: 'bob',
    groups: ['engineering'],
    active: true,
  });
  expect(d.users.get('bob')?.groups.sort()).toEqual(['engineering', 'managers']);
  const version = await currentVersion(db.pool);

  const second = await sync();
  expect(second.status).toBe('applied');
  expect(second.diff?.identities).toEqual([]);
  expect(await currentVersion(db.pool)).toBe(version);
});

test('a user disabled in LDAP (the AD bit) is deactivated; an expired accountExpires too', async () => {
  await sync();
  restore('alice', 514);
  try {
    const disabled = await sync();
    expect(disabled.status).toBe('applied');
    expect(disabled.diff?.deactivations).toEqual(['alice']);
    expect((await directory()).users.get('alice')?.active).toBe(false);
  } finally {
    restore('alice');
  }

  // 2001-01-01 as Windows FILETIME: long past.
  slapd.modify(`dn: ${userDn('hal')}\nchangetype: modify\nadd: accountExpires\naccountExpires: 126227808000000000\n`);
  try {
    const expired = await sync();
    expect(expired.diff?.identities.map((c) => [c.id, c.change])).toEqual([
      ['alice', 'reactivated'],
      ['hal', 'deactivated'],
    ]);
    expect((await directory()).users.get('hal')?.active).toBe(false);
  } finally {
    slapd.modify(`dn: ${userDn('hal')}\nchangetype: modify\ndelete: accountExpires\n`);
  }
});

test('a dry run returns the diff and changes nothing', async () => {
  const dry = await sync(settings(), { dryRun: true });
  expect(dry.status).toBe('dry_run');
  expect(dry.diff?.identities).toHaveLength(PEOPLE.length);
  expect(await identityRows()).toEqual([]);
  expect(await currentVersion(db.pool)).toBe(0);
});

test.each([
  [
    'the groups search fails after the users were read',
    { groups: { base: `ou=nowhere,${SUFFIX}`, filter: '(objectClass=groupOfNames)' } },
    /after [1-9]\d* page\(s\): NoSuchObjectError/,
  ],
  [
    'the server stops a paged search half-way',
    { bindDn: LIMITED_DN, password: LIMITED_PASSWORD },
    /after [1-9]\d* page\(s\): SizeLimitExceededError/,
  ],
  ['the bind is refused', { password: 'wrong-password' }, /after 0 page\(s\): InvalidCredentialsError/],
])('a sync where %s changes nothing', async (_what, broken, error) => {
  await sync();
  restore('alice', 514);
  try {
    const before = await identityRows();
    const version = await currentVersion(db.pool);
    const failed = await sync(settings(broken as Partial<LdapSettings>));
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(error);
    expect(await identityRows()).toEqual(before);
    expect(await currentVersion(db.pool)).toBe(version);
    expect((await directory()).users.get('alice')?.active).toBe(true);
  } finally {
    restore('alice');
  }
});

test('a mass deactivation waits for security; only security confirms it, and then it applies', async () => {
  await sync();
  for (const uid of ['alice', 'frank', 'hal']) restore(uid, 514);
  try {
    const held = await sync();
    expect(held.status).toBe('awaiting_confirmation');
    expect(held.diff?.deactivations.sort()).toEqual(['alice', 'frank', 'hal']);
    expect(held.limit).toBe(1);
    expect((await directory()).users.get('alice')?.active).toBe(true);

    const current = await directory();
    const read = () => readLdapDirectory(settings());
    await expect(confirmLdapSync(db.pool, held.id, 'bob', current, read)).rejects.toThrow(SyncConfirmationError);
    await expect(confirmLdapSync(db.pool, held.id, 'alice', current, read)).rejects.toThrow(/not an active member/);
    expect((await directory()).users.get('alice')?.active).toBe(true);

    // The directory view knows dave as security only once groups came from LDAP; use it, not the file.
    const confirmed = await confirmLdapSync(db.pool, held.id, 'dave', current, read);
    expect(confirmed.status).toBe('confirmed');
    const after = await directory();
    expect(['alice', 'frank', 'hal'].map((id) => after.users.get(id)?.active)).toEqual([false, false, false]);
    await expect(confirmLdapSync(db.pool, held.id, 'dave', after, read)).rejects.toThrow(/only a held sync/);
  } finally {
    for (const uid of ['alice', 'frank', 'hal']) restore(uid);
  }
});

test('a held sync whose source moved on is superseded, not applied', async () => {
  await sync();
  for (const uid of ['alice', 'frank']) restore(uid, 514);
  try {
    const held = await sync();
    expect(held.status).toBe('awaiting_confirmation');
    restore('frank');
    const confirmed = await confirmLdapSync(db.pool, held.id, 'dave', await directory(), () =>
      readLdapDirectory(settings()),
    );
    expect(confirmed.status).toBe('superseded');
    expect((await directory()).users.get('alice')?.active).toBe(true);
  } finally {
    for (const uid of ['alice', 'frank']) restore(uid);
  }
});
