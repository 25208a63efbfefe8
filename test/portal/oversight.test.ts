/**
 * The portal's oversight pages in a real Chromium against the whole stack, on a phone and a desktop: a reviewer works
 * through a real access-review campaign (a privileged keep without a comment refused in the API's words, a keep, a
 * revoke, a bulk keep) and the revoke reaches the holder's request when the campaign closes; a resource owner sees
 * who holds what on their resource and revokes one grant; a person picks their delegate by name. The people finder
 * is checked for what it must not tell (inactive people, service accounts, fields beyond id, name and department).
 * axe-core checks each page. Screenshots go to test-output/portal/.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { signDevToken } from '../../api/auth';
import { parseCampaigns } from '../../domain/campaign';
import { parseConfigs } from '../../domain/config';
import { createDirectoryView } from '../../directory/view';
import { syncYamlDirectory } from '../../directory/yaml';
import { createTestApp } from '../helpers/api';
import { DESKTOP, launchChromium, PHONE, screenshot, seriousViolations } from '../helpers/browser';
import { demoRaw, hasRole, startEnv, uniqueId, type TestEnv } from '../helpers/harness';

jest.setTimeout(180_000);

const SECRET = 'portal-oversight-secret-0123456789ab';
// People of this file only: grants in the test database are shared with every suite, so the campaign's scope is a
// group of this file's own and nobody else's access is reviewed, listed or revoked here.
const tag = uniqueId('o').replace(/[^a-z0-9-]/g, '');
const group = `ov-${tag}`;
const [ann, ben, cat, dan] = ['ann', 'ben', 'cat', 'dan'].map((n) => `${n}-${tag}`) as [string, string, string, string];
const reviewer = `rev-${tag}`;
const owner = `own-${tag}`;
const gone = `gone-${tag}`;
const robot = `svc-${tag}`;
const definition = `ov-${tag}`;

let env: TestEnv;
/** The API with this file's people (reviews, owners, the people finder). */
let base: string;
/** The API over the directory in PostgreSQL (demo people only), where delegations are kept. */
let directoryBase: string;
let browser: Browser;
const servers: http.Server[] = [];
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];
const requestOf = new Map<string, string>();

beforeAll(async () => {
  env = await startEnv({
    title: 'portal-oversight',
    configure: (raw) => {
      const person = (id: string, name: string, extra: Record<string, unknown> = {}) => ({
        id,
        name,
        department: 'engineering',
        manager: 'bob',
        groups: ['engineering', group],
        ...extra,
      });
      raw.directory.users.push(
        person(ann, `Ann ${tag}`),
        person(ben, `Ben ${tag}`),
        person(cat, `Cat ${tag}`),
        person(dan, `Dan ${tag}`),
        person(reviewer, `Rita ${tag}`, { groups: ['engineering'] }),
        person(owner, `Otto ${tag}`, { groups: ['engineering'], department: 'data' }),
        person(gone, `Gone ${tag}`, { active: false }),
        { id: robot, name: `Robot ${tag}`, kind: 'service', owner: ann, department: 'engineering', groups: [] },
      );
      const analytics = raw.catalog.resources.find((r: { id: string }) => r.id === 'analytics-db');
      // This file's owner owns it here; privileged, so that keeping it needs a comment.
      analytics.owners = [`user:${owner}`];
      analytics.entitlements.find((e: { role: string }) => e.role === 'read').privileged = true;
      raw.policy.rules.unshift({
        name: 'test-grants',
        when: { entitlements: ['analytics-db:read'] },
        plan: 'auto-approve',
      });
      return raw;
    },
  });
  const definitions = parseCampaigns(
    {
      version: 'test',
      campaigns: [
        {
          id: definition,
          name: `Analytics review ${tag}`,
          scope: { resources: ['analytics-db'], groups: [group] },
          reviewers: { rule: `user:${reviewer}`, fallback: 'group:security' },
          // Long enough for a slow machine to decide four items in the browser, short enough to wait for the close.
          duration: 'PT30S',
          default: 'keep',
          recommendations: { olderThan: 'PT1S' },
        },
      ],
    },
    env.config,
  );
  const portal = { signIn: { mode: 'dev' as const, secret: SECRET, audience: 'grantflow' } };
  base = await listen(createTestApp(env, SECRET, { portal, campaigns: definitions }));
  // Delegations live in the directory in PostgreSQL, as api/main.ts runs it; the demo people only, as the journeys
  // suite syncs them, so that no later sync reads this file's people as leavers.
  const demo = parseConfigs(demoRaw({ ...process.env, GRANTFLOW_WEBHOOK_RECEIVER_URL: env.receiverUrl }));
  await syncYamlDirectory(env.pool, demo.directory);
  directoryBase = await listen(
    createTestApp(env, SECRET, { portal, config: demo, directory: createDirectoryView(env.pool, demo, 'yaml') }),
  );
  browser = await launchChromium();
  await Promise.all([ann, ben, cat, dan].map(grant));
});

afterAll(async () => {
  for (const [holder, id] of requestOf) {
    await call(holder, 'POST', `/v1/requests/${id}/revoke`, { reason: 'end of the oversight test' }).catch(() => 0);
  }
  await call('bob', 'DELETE', '/v1/me/delegation', undefined, directoryBase).catch(() => 0);
  await Promise.all(contexts.map((c) => c.close()));
  await browser?.close();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await env?.stop();
});

async function listen(app: Express): Promise<string> {
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function grant(user: string): Promise<void> {
  const id = uniqueId();
  requestOf.set(user, id);
  await env.submit(user, { entitlement: 'analytics-db:read', duration: 'PT1H' }, id);
  await env.waitFor(id, (v) => v.status === 'active');
}

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The API as `user` (or with no token), for the steps around the page under test. */
async function call(
  user: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  at = base,
): Promise<Answer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (user) headers.Authorization = `Bearer ${await signDevToken({ userId: user, secret: SECRET })}`;
  const res = await fetch(`${at}${path}`, {
    method,
    headers,
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

async function until<T>(probe: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function open(userId: string, device: typeof PHONE | typeof DESKTOP, at = base): Promise<Page> {
  const context = await browser.newContext(device);
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(at);
  await page.locator(`button[data-user="${userId}"]`).click();
  await page.getByTestId('signed-in-as').filter({ hasText: userId }).waitFor();
  return page;
}

async function check(page: Page, name: string): Promise<void> {
  await page.locator('[role="status"]:has-text("Loading")').waitFor({ state: 'detached' });
  expect({ page: name, violations: await seriousViolations(page) }).toEqual({ page: name, violations: [] });
  await screenshot(page, name);
}

test('a reviewer keeps and revokes from the review inbox; the revoke ends the holder’s request when the campaign closes', async () => {
  // Every grant must be older than the definition's `olderThan` (PT1S) at the snapshot for its recommendation to hold.
  await new Promise((r) => setTimeout(r, 1_500));
  const started = await call('dave', 'POST', '/v1/campaigns', { definition });
  expect(started.status).toBe(202);
  const campaign = started.body.id as string;
  await until(async () => (await call('dave', 'GET', `/v1/campaigns/${campaign}`)).body?.status === 'open');

  const rita = await open(reviewer, PHONE);
  await rita.getByRole('link', { name: 'Reviews' }).click();
  const item = (holder: string) => rita.locator(`li[data-holder="${holder}"]`);
  for (const holder of [ann, ben, cat, dan]) await item(holder).waitFor();
  // The recommendation and its reasons, as the campaign computed them.
  await expect(item(ann).getByTestId('recommendation').textContent()).resolves.toBe('grantflow recommends revoke');
  await item(ann).getByText('The grant was never extended since it started.').waitFor();
  await check(rita, 'reviews-inbox-phone');

  // Keeping privileged access without a comment: the API refuses, and the page says why beside the field.
  await item(ann).getByRole('button', { name: 'Keep', exact: true }).click();
  await item(ann).getByRole('alert').filter({ hasText: 'The decision is not valid.' }).waitFor();
  await item(ann)
    .getByText(/^The comment is required to keep privileged access \(item \d+\)\.$/)
    .waitFor();
  await check(rita, 'reviews-refused-phone');
  await item(ann)
    .getByLabel(/^Comment/)
    .fill('Ann runs the monthly revenue report.');
  await item(ann).getByRole('button', { name: 'Keep', exact: true }).click();
  await item(ann)
    .getByTestId('your-decision')
    .filter({ hasText: 'keep — “Ann runs the monthly revenue report.”' })
    .waitFor();

  await item(ben)
    .getByLabel(/^Comment/)
    .fill('Ben left the project.');
  await item(ben).getByRole('button', { name: 'Revoke', exact: true }).click();
  await item(ben).getByTestId('your-decision').filter({ hasText: 'revoke' }).waitFor();

  // Bulk: all or none; without a comment neither privileged keep is recorded.
  const bulk = rita.getByTestId('bulk');
  await item(cat)
    .getByLabel(/^Select/)
    .check();
  await bulk.getByText(`1 selected: ${cat}.`).waitFor();
  await bulk.getByRole('button', { name: 'Select every undecided item' }).click();
  await bulk.getByText(`2 selected: ${cat}, ${dan}.`).waitFor();
  await bulk.getByRole('button', { name: 'Keep selected' }).click();
  await bulk.getByRole('alert').filter({ hasText: 'The decision is not valid.' }).waitFor();
  expect(await item(cat).getByTestId('your-decision').count()).toBe(0);
  await bulk.getByLabel('Comment for all selected').fill('Both on the reporting rota.');
  await bulk.getByRole('button', { name: 'Keep selected' }).click();
  await rita.getByRole('status').filter({ hasText: 'Recorded: keep for 2 items' }).waitFor();
  for (const holder of [cat, dan])
    await item(holder).getByTestId('your-decision').filter({ hasText: 'keep' }).waitFor();
  await check(rita, 'reviews-decided-phone');

  const desk = await open(reviewer, DESKTOP);
  await desk.goto(`${base}/#/reviews`);
  await desk.locator(`li[data-holder="${ben}"]`).getByTestId('your-decision').waitFor();
  await check(desk, 'reviews-decided-desktop');

  // The close applies the decisions: ben's request is revoked at the target, once, and his own page shows it ended.
  await until(async () => (await call('dave', 'GET', `/v1/campaigns/${campaign}`)).body?.status === 'closed');
  const benPage = await open(ben, PHONE);
  await benPage.goto(`${base}/#/requests/${requestOf.get(ben)}`);
  await benPage
    .getByTestId('status')
    .first()
    .filter({ hasText: /^revoked$/ })
    .waitFor({ timeout: 30_000 });
  await check(benPage, 'reviews-holder-revoked-phone');
  expect(await hasRole(ben, 'analytics_read')).toBe(false);
  expect(await hasRole(ann, 'analytics_read')).toBe(true);
  const evidence = await call('dave', 'GET', `/v1/campaigns/${campaign}/evidence`);
  const outcome = (holder: string) => evidence.body.items.find((i: { holder: string }) => i.holder === holder);
  expect(outcome(ben)).toMatchObject({ decision: 'revoke', decidedBy: reviewer, outcome: 'revoked' });
  expect(outcome(cat)).toMatchObject({ decision: 'keep', comment: 'Both on the reporting rota.', outcome: 'kept' });
  expect(cspViolations).toEqual([]);
});

test('the owner sees who holds what on their resource and revokes one grant; nobody else sees or revokes it', async () => {
  const otto = await open(owner, PHONE);
  await otto.getByRole('link', { name: 'My resources' }).click();
  const section = otto.locator('section[data-resource="analytics-db"]');
  const row = (holder: string) => section.locator(`li[data-holder="${holder}"]`);
  for (const holder of [ann, cat, dan]) await row(holder).waitFor();
  // ben's access ended in the review above: it is no longer listed.
  expect(await row(ben).count()).toBe(0);
  await check(otto, 'owned-phone');

  // Attacks: someone who does not own the resource neither lists its grants nor revokes one.
  const list = await call(ann, 'GET', '/v1/owned/grants');
  expect(list.status).toBe(200);
  expect(list.body.resources.map((r: { id: string }) => r.id)).not.toContain('analytics-db');
  const named = await call(ann, 'GET', '/v1/owned/grants?resource=analytics-db');
  expect(named.status).toBe(403);
  expect(named.body).toMatchObject({
    detail: 'You are not an owner of analytics-db.',
    errors: [{ field: 'resource' }],
  });
  const stolen = await call(ann, 'POST', `/v1/requests/${requestOf.get(dan)}/revoke`, { reason: 'not mine' });
  expect([403, 404]).toContain(stolen.status);
  expect((await env.view(requestOf.get(dan) as string)).status).toBe('active');

  await row(cat).getByLabel('Why revoke').fill('Cat moved to the platform team.');
  await row(cat).getByRole('button', { name: 'Revoke access' }).click();
  await otto
    .getByRole('status')
    .filter({ hasText: `Revocation of analytics-db:read for ${cat} sent.` })
    .waitFor();
  const ended = await env.waitFor(requestOf.get(cat) as string, (v) => v.status === 'revoked');
  expect(ended.timeline.some((t) => t.actor === owner && /revok/.test(t.event))).toBe(true);
  expect(await hasRole(cat, 'analytics_read')).toBe(false);
  await row(cat).waitFor({ state: 'detached', timeout: 10_000 });

  const desk = await open(owner, DESKTOP);
  await desk.goto(`${base}/#/owned`);
  await desk.locator(`li[data-holder="${dan}"]`).waitFor();
  await check(desk, 'owned-desktop');
});

test('the people finder names active people only, with id, name and department and nothing more', async () => {
  const found = await call(ann, 'GET', `/v1/people?q=${tag}&limit=20`);
  expect(found.status).toBe(200);
  const ids = found.body.items.map((p: { id: string }) => p.id).sort();
  expect(ids).toEqual([ann, ben, cat, dan, owner, reviewer].sort());
  for (const p of found.body.items) expect(Object.keys(p).sort()).toEqual(['department', 'id', 'name']);
  // The inactive person and the service account are not found by their exact id either.
  for (const hidden of [gone, robot]) {
    expect((await call(ann, 'GET', `/v1/people?q=${hidden}`)).body.items).toEqual([]);
  }
  expect((await call(ann, 'GET', `/v1/people?q=${tag}&limit=2`)).body.items).toHaveLength(2);
  const blank = await call(ann, 'GET', '/v1/people?q=%20%20');
  expect(blank.status).toBe(400);
  expect(blank.body.errors).toEqual([{ field: 'q', message: 'must contain more than spaces' }]);
  expect((await call(undefined, 'GET', `/v1/people?q=${tag}`)).status).toBe(401);
});

test('bob picks his delegate by name in the delegation form', async () => {
  for (const device of [PHONE, DESKTOP]) {
    const name = device === PHONE ? 'phone' : 'desktop';
    const bob = await open('bob', device, directoryBase);
    await bob.getByRole('link', { name: 'Approvals' }).click();
    const card = bob.getByRole('region', { name: 'While you are away' });
    await card.getByLabel(/Hand my approvals to/).fill('Gra');
    const pick = card.getByRole('list', { name: 'People matching' }).locator('button[data-person="grace"]');
    await expect(pick.textContent()).resolves.toBe('Grace Green (grace, engineering)');
    await check(bob, `delegation-picker-${name}`);
    await pick.click();
    await expect(card.getByLabel(/Hand my approvals to/).inputValue()).resolves.toBe('grace');
    await card.getByLabel('Until (inclusive)').fill(new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10));
    await card.getByRole('button', { name: 'Set delegation' }).click();
    await card.getByTestId('delegation').filter({ hasText: 'Your approvals also go to grace until' }).waitFor();
    expect((await call('bob', 'GET', '/v1/me', undefined, directoryBase)).body).toMatchObject({
      delegation: { to: 'grace' },
    });
    await card.getByRole('button', { name: 'Clear delegation' }).click();
    await card.getByText('no delegation is set').waitFor();
  }
});
