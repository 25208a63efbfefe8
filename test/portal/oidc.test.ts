/**
 * The portal's OpenID Connect sign-in in a real Chromium against a real provider (`oidc-provider`,
 * test/helpers/oidc-idp.mts), with the API built from environment variables as api/main.ts builds it: the
 * authorization code flow with PKCE as a public client, the token held in memory only, sign-out ending the
 * provider's session too, a forged callback refused, and no development sign-in anywhere.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createApp } from '../../api/app';
import { authenticatorFromEnv } from '../../api/auth';
import { portalSignInFromEnv } from '../../api/portal';
import { loadConfig } from '../../platform/config-files';
import { createPool, type Pool } from '../../platform/db';
import { apiEnvSchema, parseEnv } from '../../platform/env';
import { createLogger } from '../../platform/logger';
import { launchChromium, PHONE, screenshot, seriousViolations } from '../helpers/browser';
import { OIDC_AUDIENCE, signingKey, startIdp, type Idp } from '../helpers/oidc';

jest.setTimeout(120_000);

const PORTAL_CLIENT = 'grantflow-portal';
let idp: Idp;
let pool: Pool;
let connection: Connection;
let server: http.Server;
let base: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];

beforeAll(async () => {
  // The provider must know the portal's redirect URI, so the API's port is taken first and the app mounted after.
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  idp = await startIdp([await signingKey('portal-key')], { id: PORTAL_CLIENT, redirectUri: `${base}/` });

  const env = parseEnv(apiEnvSchema, {
    DATABASE_URL: process.env.DATABASE_URL,
    NODE_ENV: 'test',
    OIDC_ISSUER: idp.issuer,
    OIDC_AUDIENCE,
    OIDC_IDENTITY_CLAIM: 'email',
    GRANTFLOW_PORTAL_CLIENT_ID: PORTAL_CLIENT,
    GRANTFLOW_PORTAL_SCOPE: 'openid email profile grantflow',
  });
  const config = loadConfig('config/demo');
  const signIn = portalSignInFromEnv(env);
  if (!signIn) throw new Error('The environment gave the portal no sign-in.');
  pool = createPool(process.env.DATABASE_URL as string, 2);
  connection = Connection.lazy({ address: process.env.TEMPORAL_ADDRESS as string });
  handler = createApp({
    client: new Client({ connection }),
    pool,
    config,
    auth: authenticatorFromEnv(env, config.users),
    log: createLogger('api-test', 'silent'),
    taskQueue: 'portal-oidc-test',
    rateLimitPerMinute: 1000,
    portal: { signIn },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close()));
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await idp?.stop();
  await pool?.end();
  await connection?.close();
});

/** A fresh browser profile (no provider cookie) on a phone. */
async function open(): Promise<Page> {
  const context = await browser.newContext(PHONE);
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  return page;
}

/** Everything the page could have persisted, where a stolen token would be found. */
async function stored(page: Page): Promise<string> {
  return page.evaluate(() => {
    // Runs in the page: the DOM's globals, typed here without the DOM library.
    type Store = Record<string, string> & { getItem(key: string): string | null };
    const g = globalThis as unknown as { localStorage: Store; sessionStorage: Store; document: { cookie: string } };
    const dump = (s: Store) => Object.keys(s).map((k) => `${k}=${s.getItem(k) ?? ''}`);
    return JSON.stringify([dump(g.localStorage), dump(g.sessionStorage), g.document.cookie]);
  });
}

/** The portal's Sign in button, then the provider's login page, then back: the flow a person goes through. */
async function signInAtProvider(page: Page, account: string): Promise<void> {
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${idp.issuer}/**`);
  await page.getByRole('button', { name: new RegExp(`\\(${account}\\)`) }).click();
  await page.waitForURL(`${base}/**`);
}

test('no development sign-in when the API verifies OIDC tokens', async () => {
  expect((await fetch(`${base}/portal/dev-token`, { method: 'POST' })).status).toBe(404);
  const config = (await (await fetch(`${base}/portal/config.json`)).json()) as { mode: string; issuer: string };
  expect(config).toMatchObject({ mode: 'oidc', issuer: idp.issuer });
  const page = await open();
  await page.goto(base);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await expect(page.locator('button[data-user]').count()).resolves.toBe(0);
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'oidc-sign-in-phone');
  await page.close();
});

test('alice signs in with PKCE, the token lives in memory only, and sign-out ends the provider session', async () => {
  const page = await open();
  const authorize = page.waitForRequest((r) => r.url().startsWith(`${idp.issuer}/auth?`));
  await page.goto(`${base}/#/requests`);
  await signInAtProvider(page, 'idp-0001');
  const params = new URL((await authorize).url()).searchParams;
  expect(params.get('client_id')).toBe(PORTAL_CLIENT);
  expect(params.get('code_challenge_method')).toBe('S256');
  expect(params.get('code_challenge')).toMatch(/^[\w-]{43}$/);
  expect(params.get('state')).toBeTruthy();
  expect(params.get('nonce')).toBeTruthy();

  // The provider's subject is idp-0001; the portal shows whom the API resolved the token to.
  await page.getByTestId('signed-in-as').filter({ hasText: 'alice' }).waitFor();
  await page.getByRole('heading', { name: 'My requests' }).waitFor();
  expect(new URL(page.url()).search).toBe('');
  const persisted = await stored(page);
  expect(persisted).not.toMatch(/eyJ[\w-]+\.eyJ/);
  await screenshot(page, 'oidc-signed-in-phone');

  // Memory only: a reload forgets the token (the provider's session signs alice straight back in).
  await page.reload();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in-as').filter({ hasText: 'alice' }).waitFor();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${idp.issuer}/**`);
  await page.getByRole('button', { name: /sign me out/i }).click();
  await page.waitForURL(`${base}/**`);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  // The provider's session is gone too: signing in asks who you are again.
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${idp.issuer}/**`);
  await page.getByRole('button', { name: /\(idp-0002\)/ }).waitFor();
  await page.close();
  expect(cspViolations).toEqual([]);
});

test('a callback the portal did not start is refused, and nobody is signed in', async () => {
  const page = await open();
  await page.goto(`${base}/?code=stolen-code&state=forged-state`);
  await page
    .getByRole('alert')
    .filter({ hasText: /not started here/ })
    .waitFor();
  expect(new URL(page.url()).search).toBe('');
  await expect(page.getByTestId('signed-in-as').count()).resolves.toBe(0);
  await page.close();
});

test('a person the directory does not know is told so and stays signed out', async () => {
  const page = await open();
  await page.goto(base);
  // dave@example.com is not verified at the provider: the API refuses the email claim.
  await signInAtProvider(page, 'idp-0003');
  await page.getByRole('alert').filter({ hasText: 'email is not verified' }).waitFor();
  await expect(page.getByTestId('signed-in-as').count()).resolves.toBe(0);
  await page.close();
});
