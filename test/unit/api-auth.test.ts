import pg from 'pg';
import pino from 'pino';
import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWTVerifyGetKey } from 'jose';
import { createApp } from '../../api/app';
import { testAuditSettings } from '../helpers/audit-settings';
import {
  authenticatorFromEnv,
  claimIdentifier,
  DEV_DEFAULT_SECRET,
  DEV_ISSUER,
  devAuthenticator,
  oidcAuthenticator,
  signDevToken,
  type Authenticator,
} from '../../api/auth';
import { resolveCaller } from '../../api/caller';
import { Problem } from '../../api/problem';
import type { Identity } from '../../domain';
import { apiEnvSchema } from '../../platform/env';
import { demoConfig, rawUser } from './demo-config';

const AUDIENCE = 'grantflow';
const secret = new TextEncoder().encode(DEV_DEFAULT_SECRET);
const dev = devAuthenticator({ secret: DEV_DEFAULT_SECRET, audience: AUDIENCE });

function hs256(claims: { sub?: string; iss?: string; aud?: string; exp?: number | string }, key = secret) {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  jwt.setIssuer(claims.iss ?? DEV_ISSUER).setAudience(claims.aud ?? AUDIENCE);
  jwt.setExpirationTime(claims.exp ?? '5m');
  return jwt.sign(key);
}

async function refusal(auth: Authenticator, header: string | undefined): Promise<Problem> {
  try {
    await auth.authenticate(header);
  } catch (err) {
    if (err instanceof Problem) return err;
    throw err;
  }
  throw new Error('expected the token to be refused');
}

describe('dev tokens (HS256)', () => {
  it('accepts a token from signDevToken and names its subject', async () => {
    const token = await signDevToken({ userId: 'alice' });
    await expect(dev.authenticate(`Bearer ${token}`)).resolves.toEqual({ userId: 'alice' });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['another scheme', 'Basic YWxpY2U6c2VjcmV0'],
    ['a bearer without token', 'Bearer '],
    ['junk', 'Bearer not a token'],
    ['an oversized token', `Bearer ${'a'.repeat(9000)}`],
  ])('refuses %s with 401 and a WWW-Authenticate challenge', async (_name, header) => {
    const problem = await refusal(dev, header);
    expect(problem.status).toBe(401);
    expect(problem.extra.headers?.['WWW-Authenticate']).toMatch(/^Bearer realm="grantflow"/);
  });

  it('refuses a bad signature', async () => {
    const token = await hs256({ sub: 'alice' }, new TextEncoder().encode('another-secret-of-enough-length'));
    expect((await refusal(dev, `Bearer ${token}`)).status).toBe(401);
  });

  it('refuses alg none', async () => {
    const token = new UnsecuredJWT({})
      .setSubject('alice')
      .setIssuer(DEV_ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .encode();
    expect((await refusal(dev, `Bearer ${token}`)).status).toBe(401);
  });

  it('refuses the wrong audience and the wrong issuer', async () => {
    const wrongAudience = await hs256({ sub: 'alice', aud: 'someone-else' });
    expect((await refusal(dev, `Bearer ${wrongAudience}`)).detail).toMatch(/"aud"/);
    const wrongIssuer = await hs256({ sub: 'alice', iss: 'https://evil.example' });
    expect((await refusal(dev, `Bearer ${wrongIssuer}`)).detail).toMatch(/"iss"/);
  });

  it('refuses an expired token, allowing 30 seconds of clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await hs256({ sub: 'alice', exp: now - 120 });
    expect((await refusal(dev, `Bearer ${expired}`)).detail).toBe('The token has expired.');
    const skewed = await hs256({ sub: 'alice', exp: now - 10 });
    await expect(dev.authenticate(`Bearer ${skewed}`)).resolves.toEqual({ userId: 'alice' });
  });

  it('refuses a token without a subject', async () => {
    const token = await hs256({});
    expect((await refusal(dev, `Bearer ${token}`)).detail).toMatch(/subject/);
  });
});

describe('OIDC tokens (RS256/ES256 from the issuer key set)', () => {
  const issuer = 'https://idp.example';
  let keys: JWTVerifyGetKey;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let oidc: Authenticator;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }] });
    oidc = oidcAuthenticator({ issuer, audience: AUDIENCE, keys });
  });

  const rs256 = (aud = AUDIENCE) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('bob')
      .setIssuer(issuer)
      .setAudience(aud)
      .setExpirationTime('5m')
      .sign(privateKey);

  it('accepts a token signed by the issuer', async () => {
    await expect(oidc.authenticate(`Bearer ${await rs256()}`)).resolves.toEqual({ userId: 'bob' });
  });

  it('refuses the wrong audience', async () => {
    expect((await refusal(oidc, `Bearer ${await rs256('other')}`)).status).toBe(401);
  });

  it('refuses an HS256 token (no algorithm confusion with the dev secret)', async () => {
    const token = await hs256({ sub: 'bob', iss: issuer });
    expect((await refusal(oidc, `Bearer ${token}`)).status).toBe(401);
  });

  it('answers 503, not 401, when the key set cannot be fetched', async () => {
    const unreachable = oidcAuthenticator({
      issuer,
      audience: AUDIENCE,
      keys: async () => {
        throw new TypeError('fetch failed');
      },
    });
    expect((await refusal(unreachable, `Bearer ${await rs256()}`)).status).toBe(503);
  });
});

describe('the email claim against the live directory', () => {
  const person = (id: string, email: string): [string, Identity] => [
    id,
    { id, name: id, email, groups: [], active: true, kind: 'human' },
  ];

  it('follows each directory change: a joiner is found, a changed email no longer names its old owner', async () => {
    let current = new Map([person('carol', 'carol@example.com')]);
    const identify = claimIdentifier('email', async () => current);
    const claims = (email: string) => ({ email, email_verified: true });
    await expect(identify(claims('CAROL@example.com'))).resolves.toBe('carol');
    await expect(identify(claims('newcomer@example.com'))).rejects.toMatchObject({ status: 401 });

    current = new Map([person('carol', 'carol.chen@example.com'), person('newcomer', 'newcomer@example.com')]);
    await expect(identify(claims('newcomer@example.com'))).resolves.toBe('newcomer');
    await expect(identify(claims('carol@example.com'))).rejects.toMatchObject({ status: 401 });
    await expect(identify(claims('carol.chen@example.com'))).resolves.toBe('carol');
  });
});

describe('authenticatorFromEnv', () => {
  const base = { DATABASE_URL: 'postgres://localhost/grantflow' };

  it('uses the dev secret outside production', async () => {
    const env = apiEnvSchema.parse({ ...base, GRANTFLOW_DEV_JWT_SECRET: DEV_DEFAULT_SECRET });
    const token = await signDevToken({ userId: 'carol' });
    await expect(authenticatorFromEnv(env).authenticate(`Bearer ${token}`)).resolves.toEqual({ userId: 'carol' });
  });

  it('uses OIDC, and refuses dev tokens, when an issuer is configured', async () => {
    const env = apiEnvSchema.parse({
      ...base,
      NODE_ENV: 'production',
      OIDC_ISSUER: 'https://idp.example',
      OIDC_JWKS_URL: 'https://idp.example/jwks',
    });
    const token = await signDevToken({ userId: 'carol' });
    expect((await refusal(authenticatorFromEnv(env), `Bearer ${token}`)).status).toBe(401);
  });
});

describe('resolving the caller in the directory', () => {
  const config = demoConfig((raw) => {
    rawUser(raw, 'grace').active = false;
  });

  it('gives security, auditors and admins the wide view', () => {
    expect(resolveCaller(config, 'dave')).toMatchObject({ seesAll: true, auditor: true });
    expect(resolveCaller(config, 'erin')).toMatchObject({ seesAll: true, auditor: false });
    expect(resolveCaller(config, 'bob')).toMatchObject({ seesAll: false, auditor: false, own: ['bob'] });
    expect(resolveCaller(config, 'alice').own).toEqual(['alice', 'svc-ci']);
  });

  it('refuses unknown users (401), inactive users and service accounts (403)', () => {
    const status = (id: string) => {
      try {
        resolveCaller(config, id);
      } catch (err) {
        return (err as Problem).status;
      }
      return 200;
    };
    expect(status('mallory')).toBe(401);
    expect(status('grace')).toBe(403);
    expect(status('svc-ci')).toBe(403);
  });
});

describe('authentication through the app', () => {
  const config = demoConfig((raw) => {
    rawUser(raw, 'grace').active = false;
  });
  // Nothing here reaches PostgreSQL or Temporal: the catalog is served from the configuration.
  const app = createApp({
    client: {} as Client,
    pool: new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' }),
    config,
    auth: dev,
    log: pino({ level: 'silent' }),
    taskQueue: 'unused',
    auditSettings: testAuditSettings(),
  });
  const get = (token?: string) => {
    const req = request(app).get('/v1/catalog');
    return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
  };

  it('serves a known, active person', async () => {
    const res = await get(await signDevToken({ userId: 'alice' }));
    expect(res.status).toBe(200);
  });

  it.each([
    ['no token', async () => undefined, 401],
    ['a bad signature', () => hs256({ sub: 'alice' }, new TextEncoder().encode('x'.repeat(32))), 401],
    ['the wrong audience', () => hs256({ sub: 'alice', aud: 'nope' }), 401],
    ['an expired token', () => hs256({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 3600 }), 401],
    ['an unknown user', () => signDevToken({ userId: 'mallory' }), 401],
    ['an inactive user', () => signDevToken({ userId: 'grace' }), 403],
    ['a service account', () => signDevToken({ userId: 'svc-ci' }), 403],
  ])('answers %s with a problem', async (_name, token, status) => {
    const res = await get(await token());
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status, requestId: res.headers['x-request-id'] });
    expect(res.text).not.toMatch(/at .*\.ts:\d+/);
  });
});
