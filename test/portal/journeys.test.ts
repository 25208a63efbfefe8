/**
 * The journeys after the first approval, each on a phone in a real Chromium against the whole stack: extending a
 * grant (at once within the allowance, through approval beyond it), cancelling, break-glass with its warning and
 * the review that follows, a manual resource whose fulfiller confirms the grant and whose owner revokes it, and a
 * person setting and clearing their own delegation.
 * Steps that are not the journey under test (other people's approvals) go through the API. axe-core checks each
 * new state of a page.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { signDevToken } from '../../api/auth';
import type { RequestView } from '../../workflows/messages';
import { createDirectoryView } from '../../directory/view';
import { syncYamlDirectory } from '../../directory/yaml';
import { createTestApp } from '../helpers/api';
import { launchChromium, PHONE, screenshot, seriousViolations } from '../helpers/browser';
import { startEnv, type TestEnv } from '../helpers/harness';

jest.setTimeout(180_000);

const SECRET = 'portal-journeys-secret-0123456789ab';

let env: TestEnv;
let server: http.Server;
let base: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];
/** Requests that may hold a live grant at the end, revoked in afterAll (claims are shared across the run). */
const live: { id: string; holder: string }[] = [];

beforeAll(async () => {
  env = await startEnv({ title: 'portal-journeys' });
  // Delegations live in the directory in PostgreSQL, as api/main.ts runs it.
  await syncYamlDirectory(env.pool, env.config.directory);
  const app = createTestApp(env, SECRET, {
    portal: { signIn: { mode: 'dev', secret: SECRET, audience: 'grantflow' } },
    directory: createDirectoryView(env.pool, env.config, 'yaml'),
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  for (const { id, holder } of live) {
    await call(holder, 'POST', `/v1/requests/${id}/revoke`, { reason: 'end of the journeys test' }).catch(() => 0);
  }
  await Promise.all(contexts.map((c) => c.close()));
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await env?.stop();
});

interface Answer {
  status: number;
  body: { id?: string; detail?: string } | undefined;
}

/** The API as `user`, for the steps around the journey under test. */
async function call(user: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const token = await signDevToken({ userId: user, secret: SECRET });
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as Answer['body'] };
}

async function submit(user: string, input: Record<string, unknown>): Promise<string> {
  const res = await call(user, 'POST', '/v1/requests', {
    justification: 'Needed for the quarterly close, ticket attached.',
    ...input,
  });
  if (res.status !== 201 || !res.body?.id)
    throw new Error(`Submit answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Waits for the stage to open, then `approver` approves it through the API. */
async function approve(id: string, stage: string, approver: string): Promise<void> {
  await env.waitFor(id, (v) =>
    [...v.stages, ...(v.extension?.stages ?? [])].some((s) => s.name === stage && s.status === 'open'),
  );
  const res = await call(approver, 'POST', `/v1/requests/${id}/decisions`, { decision: 'approve' });
  if (res.status !== 200) throw new Error(`${approver} approving ${stage} answered ${res.status}: ${res.body?.detail}`);
}

async function phone(userId: string): Promise<Page> {
  const context = await browser.newContext(PHONE);
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(base);
  await page.locator(`button[data-user="${userId}"]`).click();
  await page.getByTestId('signed-in-as').filter({ hasText: userId }).waitFor();
  return page;
}

async function check(page: Page, name: string): Promise<void> {
  await page.locator('[role="status"]:has-text("Loading")').waitFor({ state: 'detached' });
  expect({ page: name, violations: await seriousViolations(page) }).toEqual({ page: name, violations: [] });
  await screenshot(page, name);
}

const status = (page: Page) => page.getByTestId('status').first();
const hasStatus = (page: Page, value: string) =>
  page
    .getByTestId('status')
    .first()
    .filter({ hasText: new RegExp(`^${value}$`) })
    .waitFor({ timeout: 30_000 });

test('alice extends a live grant: at once within the allowance, through approval beyond it', async () => {
  const id = await submit('alice', { entitlement: 'analytics-db:read', duration: 'PT1H' });
  live.push({ id, holder: 'alice' });
  await approve(id, 'manager', 'bob');
  const alice = await phone('alice');
  await alice.goto(`${base}/#/requests/${id}`);
  await hasStatus(alice, 'active');
  const before = await env.view(id);

  await alice.getByLabel('By', { exact: true }).selectOption('PT1H');
  await alice.getByLabel('Why', { exact: true }).fill('The analysis runs an hour longer');
  await alice.getByRole('button', { name: 'Ask to extend' }).click();
  await alice
    .getByRole('status')
    .filter({ hasText: /^Extended: access until/ })
    .waitFor();
  const extended = await env.waitFor(id, (v) => (v.grant?.extensions ?? 0) === 1);
  expect(Date.parse(extended.grant?.expiresAt ?? '') - Date.parse(before.grant?.expiresAt ?? '')).toBe(3_600_000);
  await check(alice, 'journey-extended-phone');

  // Thirty more days is past the policy's seven without approval: bob is asked again, the grant is unchanged.
  await alice.getByLabel('By', { exact: true }).selectOption('P30D');
  await alice.getByLabel('Why', { exact: true }).fill('The project was extended to next quarter');
  await alice.getByRole('button', { name: 'Ask to extend' }).click();
  await alice
    .getByRole('status')
    .filter({ hasText: /^Sent for approval/ })
    .waitFor();
  const asked = await env.waitFor(id, (v) => v.extension?.status === 'pending_approval');
  expect(asked.extension?.stages[0]?.approvers).toContain('bob');
  expect(asked.grant?.expiresAt).toBe(extended.grant?.expiresAt);
  await expect(status(alice).textContent()).resolves.toBe('active');
  await check(alice, 'journey-extension-pending-phone');
});

test('alice cancels a request that waits for approval', async () => {
  const id = await submit('alice', {
    entitlement: 'analytics-db:write',
    duration: 'P1D',
    fields: { ticket: 'CHG-77' },
  });
  const alice = await phone('alice');
  await alice.goto(`${base}/#/requests/${id}`);
  await hasStatus(alice, 'pending approval');
  await alice.getByLabel('Reason (optional)').fill('Done another way');
  await alice.getByRole('button', { name: 'Cancel request' }).click();
  await hasStatus(alice, 'cancelled');
  await expect(alice.getByRole('button', { name: 'Cancel request' }).count()).resolves.toBe(0);
  expect((await env.view(id)).status).toBe('cancelled');
  await check(alice, 'journey-cancelled-phone');
});

test('break-glass: a confirmation that names the review, access at once with a warning, then dave reviews', async () => {
  const alice = await phone('alice');
  await alice.goto(`${base}/#/new/aws-prod%3Aadmin`);
  await alice.getByLabel('Justification').fill('Production is down, incident INC-42');
  await alice.getByLabel(/Incident or change ticket/).fill('INC-42');
  await alice.getByLabel(/^Break-glass/).check();
  await alice.getByRole('button', { name: 'Invoke break-glass…' }).click();
  const dialog = alice.getByRole('alertdialog', { name: 'Invoke break-glass?' });
  await dialog
    .getByText(/post-incident review by Dave Diaz \(any\), due within 1 day, and security is alerted/)
    .waitFor();
  await check(alice, 'journey-break-glass-confirm-phone');
  await dialog.getByRole('button', { name: 'Yes, invoke break-glass' }).click();

  await alice.waitForURL(/#\/requests\/[0-9a-f-]{36}$/);
  const id = decodeURIComponent(new URL(alice.url()).hash.replace('#/requests/', ''));
  live.push({ id, holder: 'alice' });
  await hasStatus(alice, 'active');
  const warning = alice.getByTestId('break-glass-warning');
  await expect(warning.textContent()).resolves.toMatch(
    /granted without approval; .*dave.* review it after the incident, due in/,
  );
  await check(alice, 'journey-break-glass-active-phone');

  // Alice may not review her own break-glass: the workflow refuses, the page says so.
  const ownReview = alice.getByRole('form', { name: 'Post-incident review' });
  await ownReview.getByRole('button', { name: 'Clear' }).click();
  await ownReview.getByRole('alert').waitFor();
  expect(await ownReview.getByRole('alert').textContent()).toMatch(/\w/);
  expect((await env.view(id)).reviewState).toBe('pending');

  const dave = await phone('dave');
  await dave.getByRole('link', { name: 'Approvals' }).click();
  const item = dave.locator(`li[data-request="${id}"]`);
  await item.getByRole('form', { name: 'Post-incident review' }).waitFor();
  await check(dave, 'journey-review-inbox-phone');
  await item.getByLabel('Review comment').fill('Matches incident INC-42');
  await item.getByRole('button', { name: 'Clear' }).click();
  await dave.getByText(`Review of ${id} recorded.`).waitFor();
  const reviewed = await env.waitFor(id, (v) => v.reviewState === 'cleared');
  expect(reviewed.review?.reviewedBy).toBe('dave');
  // Alice's page follows: the warning now says who cleared it.
  await warning.filter({ hasText: 'reviewed and cleared by dave' }).waitFor();
});

test('a manual resource: carol, a fulfiller, confirms the grant; as its owner she revokes it and confirms removal', async () => {
  const id = await submit('alice', { entitlement: 'payroll:viewer', duration: 'P7D' });
  live.push({ id, holder: 'alice' });
  await approve(id, 'manager', 'bob');
  await approve(id, 'resource-owner', 'carol');
  await approve(id, 'security', 'dave');
  await env.waitFor(id, (v) => v.fulfilment?.task === 'grant' && !v.fulfilment.completedAt);

  const carol = await phone('carol');
  await carol.getByRole('link', { name: 'Approvals' }).click();
  const item = carol.locator(`li[data-request="${id}"]`);
  const task = item.getByRole('form', { name: 'Manual task' });
  await expect(task.textContent()).resolves.toMatch(/Grant payroll:viewer to alice by hand/);
  await check(carol, 'journey-fulfil-inbox-phone');
  await task.getByLabel('What you did').fill('Added alice to the payroll viewers');
  await task.getByRole('button', { name: 'Confirm done' }).click();
  await carol.getByText(/Confirmed: the grant of payroll:viewer for alice is done/).waitFor();
  await env.waitFor(id, (v) => v.status === 'active');

  await carol.goto(`${base}/#/requests/${id}`);
  await hasStatus(carol, 'active');
  const revoke = carol.getByRole('form', { name: 'Revoke access' });
  await check(carol, 'journey-owner-revoke-phone');
  await revoke.getByLabel('Why revoke').fill('Alice moved to another team');
  await revoke.getByRole('button', { name: 'Revoke access' }).click();
  // Removing access from a manual resource is a task too: the page now asks carol to confirm the removal.
  const removal = carol.getByRole('form', { name: 'Manual task' });
  await expect(removal.textContent()).resolves.toMatch(/Remove payroll:viewer from alice by hand/);
  await removal.getByRole('button', { name: 'Confirm done' }).click();
  await hasStatus(carol, 'revoked');
  const done: RequestView = await env.view(id);
  expect(done.timeline.some((t) => t.actor === 'carol' && /revok/.test(t.event))).toBe(true);
  expect(cspViolations).toEqual([]);
});

test('bob hands his approvals to carol from his inbox page and takes them back; naming himself is refused', async () => {
  const bob = await phone('bob');
  await bob.getByRole('link', { name: 'Approvals' }).click();
  const card = bob.getByRole('region', { name: 'While you are away' });
  await card.getByText('no delegation is set').waitFor();
  const until = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);

  await card.getByLabel(/Hand my approvals to/).fill('bob');
  await card.getByLabel('Until (inclusive)').fill(until);
  await card.getByRole('button', { name: 'Set delegation' }).click();
  await card.getByText('This id is you: a delegation hands your approvals to someone else.').waitFor();
  await check(bob, 'journey-delegation-refused-phone');

  await card.getByLabel(/Hand my approvals to/).fill('carol');
  await card.getByRole('button', { name: 'Set delegation' }).click();
  await card.getByTestId('delegation').filter({ hasText: 'Your approvals also go to carol until' }).waitFor();
  expect((await call('bob', 'GET', '/v1/me')).body).toMatchObject({ delegation: { to: 'carol' } });
  await check(bob, 'journey-delegation-set-phone');

  await card.getByRole('button', { name: 'Clear delegation' }).click();
  await card.getByText('no delegation is set').waitFor();
  expect((await call('bob', 'GET', '/v1/me')).body).toMatchObject({ delegation: null });
});
