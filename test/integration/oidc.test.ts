/**
 * OIDC end to end against a live OpenID provider (`oidc-provider`, test/helpers/oidc-idp.mts): the API finds the
 * key set through discovery, checks the provider's own JWT access tokens, maps the configured claim to a directory
 * identity, and follows a key rotation without restart. Who the API took the caller for is read back from a preview,
 * whose grant names the caller as beneficiary.
 */
import { Client, Connection } from '@temporalio/client';
import type { Express } from 'express';
import { SignJWT, importJWK, type JWK } from 'jose';
import request from 'supertest';
import { createApp } from '../../api/app';
import { authenticatorFromEnv } from '../../api/auth';
import { loadConfig } from '../../platform/config-files';
import { createPool, type Pool } from '../../platform/db';
import { apiEnvSchema, parseEnv } from '../../platform/env';
import { createLogger } from '../../platform/logger';
import { OIDC_AUDIENCE, signingKey, startIdp, type Idp, type IdpAccount } from '../helpers/oidc';

jest.setTimeout(60_000);

const config = loadConfig('config/demo');
let idp: Idp;
let pool: Pool;
let connection: Connection;
let firstKey: JWK;

beforeAll(async () => {
  firstKey = await signingKey('key-1');
  idp = await startIdp([firstKey]);
  pool = createPool(process.env.DATABASE_URL as string, 2);
  connection = Connection.lazy({ address: process.env.TEMPORAL_ADDRESS as string });
});
afterAll(async () => {
  await idp?.stop();
  await pool?.end();
  await connection?.close();
});

/** The API as api/main.ts builds it, from environment variables only. */
function apiWith(vars: Record<string, string>): Express {
  const env = parseEnv(apiEnvSchema, {
    DATABASE_URL: process.env.DATABASE_URL,
    NODE_ENV: 'test',
    OIDC_ISSUER: idp.issuer,
    OIDC_AUDIENCE,
    ...vars,
  });
  return createApp({
    client: new Client({ connection }),
    pool,
    config,
    auth: authenticatorFromEnv(env, config.users),
    log: createLogger('api-test', 'silent'),
    taskQueue: 'oidc-test',
    rateLimitPerMinute: 1000,
  });
}

/** Who the API takes the bearer of `token` for (the preview's beneficiary), or the refusal. */
async function whoIs(app: Express, token: string): Promise<{ status: number; user?: string; detail?: string }> {
  const res = await request(app)
    .post('/v1/requests/preview')
    .set('Authorization', `Bearer ${token}`)
    .send({ entitlement: 'github:member', justification: 'Who am I to the API, please?' });
  return res.status === 200
    ? { status: 200, user: res.body.grant?.beneficiary as string }
    : { status: res.status, detail: res.body.detail as string };
}

const tokens = new Map<IdpAccount, string>();
async function tokenOf(account: IdpAccount): Promise<string> {
  const token = tokens.get(account) ?? (await idp.token(account));
  tokens.set(account, token);
  return token;
}

describe('discovery, audience and issuer', () => {
  it('finds the key set through discovery and accepts the provider’s access token', async () => {
    const app = apiWith({});
    expect(await whoIs(app, await tokenOf('alice'))).toEqual({ status: 200, user: 'alice' });
  });

  it('also takes an explicit OIDC_JWKS_URL', async () => {
    const app = apiWith({ OIDC_JWKS_URL: `${idp.issuer}/jwks` });
    expect(await whoIs(app, await tokenOf('alice'))).toEqual({ status: 200, user: 'alice' });
  });

  it('refuses a token for another audience', async () => {
    const app = apiWith({ OIDC_AUDIENCE: 'another-api' });
    expect(await whoIs(app, await tokenOf('alice'))).toMatchObject({
      status: 401,
      detail: expect.stringMatching(/"aud"/),
    });
  });

  it('refuses a token from another issuer using the same keys', async () => {
    const app = apiWith({ OIDC_ISSUER: 'http://issuer.invalid', OIDC_JWKS_URL: `${idp.issuer}/jwks` });
    expect(await whoIs(app, await tokenOf('alice'))).toMatchObject({
      status: 401,
      detail: expect.stringMatching(/"iss"/),
    });
  });

  it('answers 503 when the discovery document names another issuer (a misconfiguration, not the caller’s fault)', async () => {
    const app = apiWith({ OIDC_ISSUER: `${idp.issuer}/` });
    expect((await whoIs(app, await tokenOf('alice'))).status).toBe(503);
  });

  it('refuses a token signed by a key of the attacker’s that names the provider’s key id', async () => {
    const forger = await signingKey('key-1');
    const token = await new SignJWT({ client_id: 'grantflow-test' })
      .setProtectedHeader({ alg: 'RS256', kid: 'key-1', typ: 'at+jwt' })
      .setSubject('dave')
      .setIssuer(idp.issuer)
      .setAudience(OIDC_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(await importJWK(forger, 'RS256'));
    expect(await whoIs(apiWith({}), token)).toMatchObject({ status: 401, detail: 'The token is not valid.' });
  });
});

describe('the identity claim', () => {
  // The provider's account "alice" has sub alice, email someone-else@example.com and preferred_username erin;
  // account idp-0001 has email Alice@Example.com and preferred_username alice.
  it('sub: the subject is the directory id', async () => {
    const app = apiWith({ OIDC_IDENTITY_CLAIM: 'sub' });
    expect(await whoIs(app, await tokenOf('alice'))).toEqual({ status: 200, user: 'alice' });
    expect(await whoIs(app, await tokenOf('idp-0001'))).toMatchObject({
      status: 401,
      detail: 'The token names nobody in the directory.',
    });
  });

  it('email: looked up in the directory, case-insensitively; unverified or unknown emails name nobody', async () => {
    const app = apiWith({ OIDC_IDENTITY_CLAIM: 'email' });
    expect(await whoIs(app, await tokenOf('idp-0001'))).toEqual({ status: 200, user: 'alice' });
    expect(await whoIs(app, await tokenOf('idp-0002'))).toEqual({ status: 200, user: 'bob' });
    expect(await whoIs(app, await tokenOf('idp-0003'))).toMatchObject({
      status: 401,
      detail: "The token's email is not verified by the provider.",
    });
    expect(await whoIs(app, await tokenOf('alice'))).toMatchObject({
      status: 401,
      detail: "The token's email names nobody in the directory.",
    });
  });

  it('preferred_username: the username is the directory id', async () => {
    const app = apiWith({ OIDC_IDENTITY_CLAIM: 'preferred_username' });
    expect(await whoIs(app, await tokenOf('idp-0001'))).toEqual({ status: 200, user: 'alice' });
    expect(await whoIs(app, await tokenOf('alice'))).toEqual({ status: 200, user: 'erin' });
  });
});

describe('key rotation, without restarting the API', () => {
  const CACHE_SECONDS = 3;

  it('picks up a new key at once and refuses a retired one after the cache period', async () => {
    const app = apiWith({
      OIDC_IDENTITY_CLAIM: 'email',
      OIDC_JWKS_CACHE_SECONDS: String(CACHE_SECONDS),
      OIDC_JWKS_COOLDOWN_SECONDS: '0',
    });
    const first = await idp.token('idp-0002');
    expect(await whoIs(app, first)).toEqual({ status: 200, user: 'bob' });

    // The provider replaces key-1 by key-2: a token naming key-2 makes the API fetch the key set again.
    await idp.rotate([await signingKey('key-2')]);
    const second = await idp.token('idp-0002');
    const fetchedAt = Date.now();
    expect(await whoIs(app, second)).toEqual({ status: 200, user: 'bob' });
    expect(await whoIs(app, first)).toMatchObject({ status: 401 });

    // key-2 retired as well, and no token names a new key: the cached key set still honours key-2 ...
    await idp.rotate([await signingKey('key-3')]);
    const cached = await whoIs(app, second);
    // Only meaningful while the cache is surely fresh (a slow machine may already be past it).
    if (Date.now() - fetchedAt < CACHE_SECONDS * 1000 - 500) expect(cached).toEqual({ status: 200, user: 'bob' });
    // ... until the cache period is over.
    await new Promise((r) => setTimeout(r, CACHE_SECONDS * 1000 + 500));
    expect(await whoIs(app, second)).toMatchObject({ status: 401, detail: 'The token is not valid.' });
    expect(await whoIs(app, await idp.token('idp-0002'))).toEqual({ status: 200, user: 'bob' });
  });
});
