import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { currentVersion } from '../../directory/store';
import { directoryDb, scimApp, scimFixture, type DirectoryDb, type ScimApp } from '../helpers/directory';

const SCIM = 'application/scim+json';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

let db: DirectoryDb;
let scim: ScimApp;
let token: string;

beforeEach(async () => {
  db = await directoryDb();
  scim = scimApp(db);
  token = await scim.tokens.issue('entra');
});

afterEach(async () => {
  await scim.connection.close().catch(() => undefined);
  await db.drop();
});

const call = (method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, body?: unknown, bearer = token) => {
  const r = request(scim.app)[method](`/scim/v2${path}`).set('Authorization', `Bearer ${bearer}`);
  return body === undefined ? r : r.set('Content-Type', SCIM).send(JSON.stringify(body));
};

const user = (userName: string, extra: Record<string, unknown> = {}) => ({
  schemas: [USER],
  userName,
  name: { givenName: userName.split('.')[0], familyName: 'Tester' },
  emails: [{ value: `${userName}@corp.example`, type: 'work', primary: true }],
  ...extra,
});

async function createUser(userName: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call('post', '/Users', user(userName, extra));
  expect(res.status).toBe(201);
  return res.body.id as string;
}

function expectScimError(res: request.Response, status: number, scimType?: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/scim\+json/);
  expect(res.body.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
  expect(res.body.status).toBe(String(status));
  expect(typeof res.body.detail).toBe('string');
  if (scimType) expect(res.body.scimType).toBe(scimType);
}

describe('SCIM discovery', () => {
  test('ServiceProviderConfig, Schemas and ResourceTypes describe what the endpoint accepts', async () => {
    const config = await request(scim.app).get('/scim/v2/ServiceProviderConfig');
    expect(config.status).toBe(200);
    expect(config.body).toMatchObject({
      patch: { supported: true },
      filter: { supported: true },
      bulk: { supported: false },
    });
    const schemas = await request(scim.app).get('/scim/v2/Schemas');
    expect(schemas.body.Resources.map((s: { id: string }) => s.id)).toEqual([USER, ENTERPRISE, GROUP]);
    const types = await request(scim.app).get('/scim/v2/ResourceTypes/User');
    expect(types.body).toMatchObject({ endpoint: '/Users', schemaExtensions: [{ schema: ENTERPRISE }] });
  });
});

describe('SCIM authentication', () => {
  test('refuses a missing, wrong, revoked or person token, and keeps only a hash of the token', async () => {
    expectScimError(await request(scim.app).get('/scim/v2/Users'), 401);
    expectScimError(await call('get', '/Users', undefined, `${token}x`), 401);
    const person = await signDevToken({
      userId: 'dave',
      ttl: '5m',
      secret: 'scim-test-secret-0123456789',
      audience: 'grantflow',
    });
    expectScimError(await call('get', '/Users', undefined, person), 401);
    expect((await call('get', '/Users')).status).toBe(200);

    const { rows } = await db.pool.query<{ token_hash: string }>('SELECT token_hash FROM scim_tokens');
    expect(rows.some((r) => r.token_hash.includes(token) || token.includes(r.token_hash))).toBe(false);

    const rotated = await scim.tokens.rotate('entra');
    expectScimError(await call('get', '/Users'), 401);
    expect((await call('get', '/Users', undefined, rotated)).status).toBe(200);
    // A write with the old token changes nothing.
    const before = await currentVersion(db.pool);
    expectScimError(await call('post', '/Users', user('mallory')), 401);
    expect(await currentVersion(db.pool)).toBe(before);
  });

  test('is refused whole when another directory source is in force', async () => {
    const off = scimApp(db, 'yaml');
    const res = await request(off.app).post('/scim/v2/Users').set('Authorization', `Bearer ${token}`).send(user('x'));
    expectScimError(res, 403);
    await off.connection.close();
  });
});

describe('SCIM users', () => {
  test('create, get, list with filters and pagination, case-insensitive userName', async () => {
    const ids: string[] = [];
    for (const name of ['ana.lima', 'ben.okafor', 'cy.tanaka'])
      ids.push(await createUser(name, { externalId: `ext-${name}` }));
    const got = await call('get', `/Users/${ids[0]}`);
    expect(got.body).toMatchObject({ id: ids[0], userName: 'ana.lima', active: true, meta: { resourceType: 'User' } });

    const byName = await call('get', `/Users?filter=${encodeURIComponent('userName eq "ANA.LIMA"')}`);
    expect(byName.body).toMatchObject({ totalResults: 1, Resources: [{ id: ids[0] }] });
    const byExternal = await call('get', `/Users?filter=${encodeURIComponent('externalId eq "ext-ben.okafor"')}`);
    expect(byExternal.body.Resources.map((r: { id: string }) => r.id)).toEqual([ids[1]]);
    // externalId is case-exact.
    expect(
      (await call('get', `/Users?filter=${encodeURIComponent('externalId eq "EXT-BEN.OKAFOR"')}`)).body.totalResults,
    ).toBe(0);
    const byEmail = await call(
      'get',
      `/Users?filter=${encodeURIComponent('emails[type eq "work"].value eq "cy.tanaka@corp.example"')}`,
    );
    expect(byEmail.body.Resources.map((r: { id: string }) => r.id)).toEqual([ids[2]]);

    const page = await call('get', '/Users?startIndex=2&count=1');
    expect(page.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1, Resources: [{ id: ids[1] }] });

    const directory = (await scim.directory.current()).users;
    expect(directory.get('ana.lima')).toMatchObject({
      name: 'ana Tester',
      email: 'ana.lima@corp.example',
      active: true,
    });
  });

  test.each(['system', 'SYSTEM', ' Unknown '])(
    'refuses to create the user %p: it would be grantflow itself, and nothing is written',
    async (userName) => {
      const before = await currentVersion(db.pool);
      const res = await call('post', '/Users', user(userName));
      expectScimError(res, 400, 'invalidValue');
      expect(res.body.detail).toMatch(/is reserved for grantflow's own actions/);
      expect(await currentVersion(db.pool)).toBe(before);
      const found = await call('get', `/Users?filter=${encodeURIComponent(`userName eq "${userName.trim()}"`)}`);
      expect(found.body.totalResults).toBe(0);
    },
  );

  test('refuses a second user with the same userName in any case', async () => {
    await createUser('dup.user');
    expectScimError(await call('post', '/Users', user('DUP.USER')), 409, 'uniqueness');
  });

  test('enterprise manager and department reach the directory the policy reads', async () => {
    const managerId = await createUser('mia.manager');
    const hana = await call('post', '/Users', scimFixture('entra-create-user'));
    expect(hana.status).toBe(201);
    const patched = await call('patch', `/Users/${hana.body.id}`, scimFixture('entra-patch-manager', { managerId }));
    expect(patched.status).toBe(200);
    expect(patched.body[ENTERPRISE]).toMatchObject({ department: 'Engineering', manager: { value: managerId } });
    const identity = (await scim.directory.current()).users.get('hana.ito-contoso.example');
    expect(identity).toMatchObject({ manager: 'mia.manager', department: 'Engineering', name: 'Hana Ito' });
  });

  test('Entra ID: path-less Replace with dotted keys, then "active": "False" deactivates', async () => {
    const hana = (await call('post', '/Users', scimFixture('entra-create-user'))).body.id as string;
    const dotted = await call('patch', `/Users/${hana}`, scimFixture('entra-patch-dotted'));
    expect(dotted.status).toBe(200);
    expect(dotted.body).toMatchObject({
      displayName: 'Hana Ito-Sato',
      name: { familyName: 'Ito-Sato', givenName: 'Hana' },
    });
    expect(dotted.body[ENTERPRISE].department).toBe('Security');

    const off = await call('patch', `/Users/${hana}`, scimFixture('entra-patch-deactivate'));
    expect(off.status).toBe(200);
    expect(off.body.active).toBe(false);
    expect((await scim.directory.current()).users.get('hana.ito-contoso.example')?.active).toBe(false);
    const { rows } = await db.pool.query(
      'SELECT change FROM directory_changes WHERE subject_id = $1 ORDER BY version',
      ['hana.ito-contoso.example'],
    );
    expect(rows.map((r) => r.change)).toEqual(['created', 'updated', 'deactivated']);
    // Each change is also an event in the audit hash chain, attributed to the provider.
    const audit = await db.pool.query<{ actor: string; action: string }>(
      `SELECT actor, action FROM audit_events WHERE data->>'identity' = $1 ORDER BY seq`,
      ['hana.ito-contoso.example'],
    );
    expect(audit.rows).toEqual([
      { actor: 'scim:entra', action: 'directory.identity.created' },
      { actor: 'scim:entra', action: 'directory.identity.updated' },
      { actor: 'scim:entra', action: 'directory.identity.deactivated' },
    ]);
  });

  test('Okta: a password is never kept, PUT without active keeps it, path-less replace deactivates', async () => {
    const created = await call('post', '/Users', scimFixture('okta-create-user'));
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain('ignored-by-nobody-1');
    const { rows } = await db.pool.query('SELECT attributes FROM directory_identities');
    expect(JSON.stringify(rows)).not.toContain('ignored-by-nobody-1');

    const id = created.body.id as string;
    const put = await call('put', `/Users/${id}`, scimFixture('okta-put-user', { id }));
    expect(put.status).toBe(200);
    expect(put.body.active).toBe(true);
    expect(put.body.externalId).toBeUndefined();

    const off = await call('patch', `/Users/${id}`, scimFixture('okta-patch-deactivate'));
    expect(off.body.active).toBe(false);
    const again = await call('put', `/Users/${id}`, scimFixture('okta-put-user', { id }));
    expect(again.body.active).toBe(false);
    expect((await scim.directory.current()).users.get('kai.moana-okta.example')?.active).toBe(false);
  });

  test('DELETE leaves an inactive identity behind for the grants that name it', async () => {
    const id = await createUser('lea.leaver');
    expect((await call('delete', `/Users/${id}`)).status).toBe(204);
    expectScimError(await call('get', `/Users/${id}`), 404);
    expect((await scim.directory.current()).users.get('lea.leaver')?.active).toBe(false);
    // The same userName can come back (a rehire) as the same grantflow identity.
    await createUser('lea.leaver');
    expect((await scim.directory.current()).users.get('lea.leaver')?.active).toBe(true);
  });
});

describe('SCIM groups', () => {
  test('members, filters, excludedAttributes=members, Entra and Okta member removals', async () => {
    const a = await createUser('gia.one');
    const b = await createUser('gus.two');
    const created = await call('post', '/Groups', {
      schemas: [GROUP],
      displayName: 'Security',
      members: [{ value: a }],
    });
    expect(created.status).toBe(201);
    const group = created.body.id as string;

    const add = await call('patch', `/Groups/${group}`, scimFixture('entra-patch-add-member', { memberId: b }));
    expect(add.body.members.map((m: { value: string }) => m.value).sort()).toEqual([a, b].sort());
    let directory = await scim.directory.current();
    expect(directory.users.get('gia.one')?.groups).toEqual(['security']);
    expect(directory.users.get('gus.two')?.groups).toEqual(['security']);

    const listed = await call(
      'get',
      `/Groups?filter=${encodeURIComponent('displayName eq "security"')}&excludedAttributes=members`,
    );
    expect(listed.body.totalResults).toBe(1);
    expect(listed.body.Resources[0].members).toBeUndefined();
    expect((await call('get', `/Users/${a}`)).body.groups).toEqual([
      expect.objectContaining({ value: group, display: 'Security' }),
    ]);

    await call('patch', `/Groups/${group}`, scimFixture('entra-patch-remove-member', { memberId: a }));
    await call('patch', `/Groups/${group}`, scimFixture('okta-patch-remove-member', { memberId: b }));
    expect((await call('get', `/Groups/${group}`)).body.members).toBeUndefined();
    directory = await scim.directory.current();
    expect(directory.users.get('gia.one')?.groups).toEqual([]);
    expect(directory.users.get('gus.two')?.groups).toEqual([]);
  });

  test('refuses an unknown member and changes nothing', async () => {
    const before = await currentVersion(db.pool);
    const res = await call('post', '/Groups', {
      schemas: [GROUP],
      displayName: 'Ghosts',
      members: [{ value: 'nobody' }],
    });
    expectScimError(res, 400, 'invalidValue');
    expect(await currentVersion(db.pool)).toBe(before);
  });
});

describe('SCIM bad input changes nothing', () => {
  let target: string;
  beforeEach(async () => {
    target = await createUser('pat.target');
  });

  test.each([
    ['an unknown attribute', () => call('post', '/Users', user('eve.x', { shoeSize: 44 })), 400, 'invalidSyntax'],
    ['no schemas', () => call('post', '/Users', { userName: 'eve.y' }), 400, 'invalidSyntax'],
    ['a wrong type', () => call('post', '/Users', user('eve.z', { active: 'maybe' })), 400, 'invalidValue'],
    ['a bad filter', () => call('get', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter'],
    [
      'a 1 MB body',
      () => call('post', '/Users', user('eve.big', { displayName: 'x'.repeat(1024 * 1024) })),
      413,
      undefined,
    ],
    [
      'malformed JSON',
      () =>
        request(scim.app)
          .post('/scim/v2/Users')
          .set('Authorization', `Bearer ${token}`)
          .set('Content-Type', SCIM)
          .send('{"userName":'),
      400,
      'invalidSyntax',
    ],
    [
      'a patch with a bad op',
      () => call('patch', `/Users/${target}`, { schemas: [PATCH], Operations: [{ op: 'move', path: 'active' }] }),
      400,
      'invalidSyntax',
    ],
    [
      'a patch that leaves an unknown attribute',
      () =>
        call('patch', `/Users/${target}`, {
          schemas: [PATCH],
          Operations: [{ op: 'add', path: 'shoeSize', value: 1 }],
        }),
      400,
      'invalidSyntax',
    ],
    [
      'a patch that deactivates with a wrong type',
      () =>
        call('patch', `/Users/${target}`, {
          schemas: [PATCH],
          Operations: [{ op: 'replace', path: 'active', value: 'nope' }],
        }),
      400,
      'invalidValue',
    ],
  ])('%s', async (_what, send, status, scimType) => {
    const before = await currentVersion(db.pool);
    const snapshot = await db.pool.query('SELECT * FROM directory_identities ORDER BY id');
    expectScimError(await send(), status, scimType);
    expect(await currentVersion(db.pool)).toBe(before);
    expect((await db.pool.query('SELECT * FROM directory_identities ORDER BY id')).rows).toEqual(snapshot.rows);
    expect((await scim.directory.current()).users.get('pat.target')?.active).toBe(true);
  });
});
