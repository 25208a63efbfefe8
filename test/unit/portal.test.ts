import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../api/app';
import { devAuthenticator } from '../../api/auth';
import { portalSignInFromEnv, type PortalSignIn } from '../../api/portal';
import { apiEnvSchema, parseEnv } from '../../platform/env';
import { demoConfig } from './demo-config';

const SECRET = 'portal-unit-secret-0123456789abcdef';
const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-dist-'));
fs.mkdirSync(path.join(dist, 'assets'));
fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>grantflow</title>');
fs.writeFileSync(path.join(dist, 'assets', 'index-abc.js'), 'console.log(1)');

function app(signIn: PortalSignIn) {
  return createApp({
    client: {} as Client,
    pool: new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' }),
    config: demoConfig(),
    auth: devAuthenticator({ secret: SECRET, audience: 'grantflow' }),
    log: pino({ level: 'silent' }),
    taskQueue: 'unused',
    portal: { signIn, distDir: dist },
  });
}

const oidc: PortalSignIn = {
  mode: 'oidc',
  issuer: 'https://idp.example.com/realms/acme',
  clientId: 'grantflow-portal',
  audience: 'grantflow',
  scope: 'openid',
};
const env = (vars: Record<string, string>) => parseEnv(apiEnvSchema, { DATABASE_URL: 'postgres://x@y/z', ...vars });

describe('portal sign-in modes', () => {
  test('development tokens only where the API accepts them; never in production', () => {
    expect(portalSignInFromEnv(env({ GRANTFLOW_DEV_JWT_SECRET: SECRET }))).toMatchObject({ mode: 'dev' });
    const production = {
      NODE_ENV: 'production',
      OIDC_ISSUER: 'https://idp.example.com/',
      OIDC_JWKS_URL: 'https://idp.example.com/jwks',
    };
    expect(portalSignInFromEnv(env(production))).toBeUndefined();
    expect(portalSignInFromEnv(env({ ...production, GRANTFLOW_PORTAL_CLIENT_ID: 'portal' }))).toEqual({
      mode: 'oidc',
      issuer: 'https://idp.example.com/',
      clientId: 'portal',
      audience: 'grantflow',
      scope: 'openid profile email',
    });
    // An issuer found by discovery alone (no key set URL) is OIDC too: never the dev picker beside an OIDC API.
    const discovered = { OIDC_ISSUER: 'http://127.0.0.1:4000', GRANTFLOW_PORTAL_CLIENT_ID: 'portal' };
    expect(portalSignInFromEnv(env(discovered))).toMatchObject({ mode: 'oidc', issuer: 'http://127.0.0.1:4000' });
    expect(portalSignInFromEnv(env({ OIDC_ISSUER: 'http://127.0.0.1:4000' }))).toBeUndefined();
  });

  test('OIDC mode has no dev-token endpoint, and its CSP lets the page reach the issuer only', async () => {
    const res = await request(app(oidc)).post('/portal/dev-token').send({ userId: 'alice' });
    expect(res.status).toBe(404);
    const config = await request(app(oidc)).get('/portal/config.json');
    expect(config.body).toEqual({ mode: 'oidc', issuer: oidc.issuer, clientId: 'grantflow-portal', scope: 'openid' });
    const page = await request(app(oidc)).get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/(^|;)connect-src 'self' https:\/\/idp\.example\.com(;|$)/);
  });

  test('dev mode signs a token for an active person only, and the token works on the API', async () => {
    const dev = app({ mode: 'dev', secret: SECRET, audience: 'grantflow' });
    const config = await request(dev).get('/portal/config.json');
    expect(config.body.users.map((u: { id: string }) => u.id)).toContain('alice');
    expect(config.body.users.map((u: { id: string }) => u.id)).not.toContain('svc-ci');
    expect((await request(dev).post('/portal/dev-token').send({ userId: 'svc-ci' })).status).toBe(404);
    expect((await request(dev).post('/portal/dev-token').send({ userId: 'nobody' })).status).toBe(404);
    expect((await request(dev).post('/portal/dev-token').send({ userId: 'alice', extra: 1 })).status).toBe(400);
    const { body } = await request(dev).post('/portal/dev-token').send({ userId: 'alice' });
    const catalog = await request(dev).get('/v1/catalog').set('Authorization', `Bearer ${body.token}`);
    expect(catalog.status).toBe(200);
  });

  test('index.html is never cached, hashed assets are; unknown assets are 404', async () => {
    const dev = app({ mode: 'dev', secret: SECRET, audience: 'grantflow' });
    expect((await request(dev).get('/')).headers['cache-control']).toBe('no-cache');
    expect((await request(dev).get('/assets/index-abc.js')).headers['cache-control']).toMatch(/immutable/);
    expect((await request(dev).get('/assets/nope.js')).status).toBe(404);
  });
});
