/**
 * The portal in a real Chromium against the real stack (PostgreSQL, Temporal, the worker, the API serving the built
 * portal with its CSP): alice asks on a phone, bob approves from his inbox, alice sees the grant go live without
 * reloading, a self-approval shows the workflow's refusal, and dave verifies the audit chain. axe-core checks every
 * page on a phone and a desktop. Screenshots go to test-output/portal/.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { signDevToken } from '../../api/auth';
import { createTestApp } from '../helpers/api';
import { DESKTOP, launchChromium, PHONE, screenshot, seriousViolations } from '../helpers/browser';
import { startEnv, type TestEnv } from '../helpers/harness';

jest.setTimeout(180_000);

const SECRET = 'portal-test-secret-0123456789abcdef';

let env: TestEnv;
let server: http.Server;
let base: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];
let requestId: string | undefined;

beforeAll(async () => {
  env = await startEnv({ title: 'portal' });
  const app = createTestApp(env, SECRET, {
    portal: { signIn: { mode: 'dev', secret: SECRET, audience: 'grantflow' } },
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  // Leave no live grant behind for the suites that follow (claims are shared across the run).
  if (requestId) {
    const token = await signDevToken({ userId: 'alice', secret: SECRET });
    await fetch(`${base}/v1/requests/${requestId}/revoke`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: 'end of the portal test' }),
    }).catch(() => undefined);
  }
  await Promise.all(contexts.map((c) => c.close()));
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await env?.stop();
});

async function open(device: typeof PHONE | typeof DESKTOP): Promise<Page> {
  const context = await browser.newContext({ ...device, acceptDownloads: true });
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  return page;
}

async function signInAs(page: Page, userId: string): Promise<void> {
  await page.goto(base);
  await page.locator(`button[data-user="${userId}"]`).click();
  await page.getByTestId('signed-in-as').filter({ hasText: userId }).waitFor();
}

/** Checks the page with axe and saves its screenshot. */
async function check(page: Page, name: string): Promise<void> {
  await page.locator('[role="status"]:has-text("Loading")').waitFor({ state: 'detached' });
  expect({ page: name, violations: await seriousViolations(page) }).toEqual({ page: name, violations: [] });
  await screenshot(page, name);
}

test('the page is served with a strict CSP that the portal lives within', async () => {
  const res = await fetch(base);
  expect(res.status).toBe(200);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("style-src 'self'");
  expect(csp).toContain("connect-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(await res.text()).not.toMatch(/<script>(?!<\/script>)/);
});

test('alice asks on a phone, bob approves, alice sees it live; a self-approval is refused; dave verifies', async () => {
  const alice = await open(PHONE);
  await signInAs(alice, 'alice');
  await check(alice, 'catalog-phone');

  await alice.getByLabel('Search entitlements').fill('analytics');
  await alice.getByRole('link', { name: 'Request analytics-db:read' }).click();
  await alice.getByLabel('Justification').fill('Quarterly churn analysis for finance');
  await alice.getByLabel('For how long').selectOption('PT1H');
  const preview = alice.getByTestId('preview');
  await preview.getByText('Bob Brown (bob)').waitFor();
  await expect(preview.getByRole('list', { name: 'Risk reasons' }).locator('li').count()).resolves.toBeGreaterThan(0);
  await expect(preview.textContent()).resolves.toMatch(/risk\s*(low|medium)/i);
  await check(alice, 'new-request-phone');

  await alice.getByRole('button', { name: 'Submit request' }).click();
  await alice.getByText('pending approval').first().waitFor();
  requestId = decodeURIComponent(new URL(alice.url()).hash.replace('#/requests/', ''));
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  // The page must not reload from here on: a marker set now would vanish with a reload.
  await alice.evaluate(() => ((globalThis as unknown as { marker: string }).marker = 'same page'));

  // Self-approval: the portal offers the decision, the workflow refuses, the page shows its sentence.
  await alice.getByRole('button', { name: 'Approve' }).click();
  await alice
    .getByRole('alert')
    .filter({ hasText: 'You cannot decide on a request that you made or that would give you access.' })
    .waitFor();
  await check(alice, 'request-pending-phone');

  const bob = await open(DESKTOP);
  await signInAs(bob, 'bob');
  await bob.getByRole('link', { name: 'Approvals' }).click();
  const item = bob.locator(`li[data-request="${requestId}"]`);
  await item.getByRole('list', { name: 'Risk reasons' }).waitFor();
  await expect(item.textContent()).resolves.toContain('Quarterly churn analysis for finance');
  await check(bob, 'approvals-desktop');
  await item.getByLabel('Comment').fill('fine for the quarter');
  await item.getByRole('button', { name: 'Approve' }).click();
  await bob.getByText(/Recorded: stage .* is approved, the request is/).waitFor();

  // Alice's page follows the request to active and shows the expiry, without a reload.
  await alice.getByTestId('expiry').waitFor({ timeout: 30_000 });
  await expect(alice.getByTestId('expiry').textContent()).resolves.toMatch(/Access expires in (59|60) min/);
  await expect(alice.getByTestId('status').first().textContent()).resolves.toBe('active');
  await expect(alice.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).resolves.toBe('same page');
  await check(alice, 'request-active-phone');
  await alice.getByRole('link', { name: 'My requests' }).click();
  await alice.locator(`li[data-request="${requestId}"]`).getByText('active').waitFor();
  await check(alice, 'my-requests-phone');

  // The refused self-approval is evidence: it is in the trail, and the chain still verifies.
  const dave = await open(DESKTOP);
  await signInAs(dave, 'dave');
  await dave.getByRole('link', { name: 'Audit' }).click();
  await dave.getByLabel('Request id').fill(requestId);
  await dave.getByRole('button', { name: 'Filter' }).click();
  const events = dave.getByRole('region', { name: 'Audit events' });
  await events.getByRole('row').filter({ hasText: 'refused' }).filter({ hasText: 'alice' }).waitFor();
  await events.getByRole('row').filter({ hasText: 'bob' }).first().waitFor();
  await dave.getByRole('button', { name: 'Verify' }).click();
  await expect(dave.getByTestId('verify-result').textContent()).resolves.toMatch(/^The chain holds: \d+ events/);
  const download = dave.waitForEvent('download');
  await dave.getByRole('button', { name: 'Export CSV' }).click();
  expect((await download).suggestedFilename()).toBe('grantflow-audit.csv');
  await check(dave, 'audit-desktop');
  await dave.getByRole('link', { name: 'KPIs' }).click();
  await dave.getByRole('heading', { name: 'Rates (%)' }).waitFor();
  await expect(dave.locator('.recharts-bar-rectangle, .recharts-rectangle').count()).resolves.toBeGreaterThan(0);
  await check(dave, 'kpis-desktop');

  expect(cspViolations).toEqual([]);
});

test('every page passes axe on a phone and on a desktop', async () => {
  const pages: [string, string][] = [
    ['catalog', '#/catalog'],
    ['new-request', '#/new/analytics-db%3Awrite'],
    ['my-requests', '#/requests'],
    ['approvals', '#/approvals'],
    ['audit', '#/audit'],
    ['kpis', '#/kpis'],
  ];
  for (const [device, name] of [
    [PHONE, 'phone'],
    [DESKTOP, 'desktop'],
  ] as const) {
    const page = await open(device);
    await page.goto(base);
    await check(page, `all-sign-in-${name}`);
    await signInAs(page, 'dave');
    for (const [title, hash] of pages) {
      await page.goto(`${base}/${hash}`);
      await page.locator('h1').waitFor();
      await check(page, `all-${title}-${name}`);
    }
    if (requestId) {
      await page.goto(`${base}/#/requests/${requestId}`);
      await page.getByText('Timeline').waitFor();
      await check(page, `all-request-${name}`);
    }
  }
  expect(cspViolations).toEqual([]);
});
