import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { connectorFor } from '../../activities/connectors';
import { checkV2, signV1, signV2 } from '../../activities/connectors/webhook-signature';
import type { GrantInput } from '../../activities/types';
import type { ConnectorConfig, GrantSpec } from '../../domain/model';
import { createReceiver, type LedgerEntry } from '../../scripts/webhook-receiver';
import { isRoleMember } from '../helpers/roles';

const SECRET = 'connector-test-secret-0123456789';
const unique = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;

function grantOf(connector: ConnectorConfig, over: Partial<GrantSpec> = {}): GrantInput {
  return {
    requestId: unique('req'),
    startedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-31T00:00:00.000Z',
    grant: {
      entitlement: 'analytics-db:read',
      resource: 'analytics-db',
      target: 'analytics_read',
      beneficiary: unique('t'),
      durationMs: 30 * 86_400_000,
      maxDurationMs: 90 * 86_400_000,
      connector,
      fulfillers: [],
      revokers: [],
      operators: [],
      ...over,
    },
  };
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const close = (server: http.Server) => new Promise((resolve) => server.close(resolve));

describe('postgres-role connector', () => {
  const config: ConnectorConfig = { type: 'postgres-role', connectionEnv: 'GRANTFLOW_ANALYTICS_DATABASE_URL' };
  const analytics = new pg.Pool({ connectionString: process.env.GRANTFLOW_ANALYTICS_DATABASE_URL, max: 2 });
  const created: string[] = [];

  afterAll(async () => {
    for (const role of created) await analytics.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
    await analytics.end();
  });

  test('grants and revokes the role at the database, idempotently', async () => {
    const connector = connectorFor(config);
    const input = grantOf(config);
    const { beneficiary } = input.grant;
    created.push(beneficiary);

    await connector.grant(input);
    await connector.grant(input);
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(true);
    await expect(connector.check(input)).resolves.toBe(true);
    const { rows } = await analytics.query<{ rolcanlogin: boolean }>(
      'SELECT rolcanlogin FROM pg_roles WHERE rolname = $1',
      [beneficiary],
    );
    expect(rows).toEqual([{ rolcanlogin: false }]);

    await connector.revoke(input);
    await connector.revoke(input);
    expect(await isRoleMember(analytics, beneficiary, 'analytics_read')).toBe(false);
    await expect(connector.check(input)).resolves.toBe(false);
  });

  test('concurrent grants for one new beneficiary create the role once', async () => {
    const connector = connectorFor(config);
    const read = grantOf(config);
    const write = grantOf(config, {
      beneficiary: read.grant.beneficiary,
      entitlement: 'analytics-db:write',
      target: 'analytics_write',
    });
    created.push(read.grant.beneficiary);
    await Promise.all([connector.grant(read), connector.grant(write), connector.grant(read)]);
    expect(await isRoleMember(analytics, read.grant.beneficiary, 'analytics_read')).toBe(true);
    expect(await isRoleMember(analytics, read.grant.beneficiary, 'analytics_write')).toBe(true);
  });

  test('revoking what was never granted is a no-op', async () => {
    await expect(connectorFor(config).revoke(grantOf(config))).resolves.toBeUndefined();
  });

  test('names hostile to SQL are identifiers, not code', async () => {
    const input = grantOf(config, { beneficiary: `x"; DROP ROLE analytics_read; --${randomBytes(3).toString('hex')}` });
    created.push(input.grant.beneficiary);
    await connectorFor(config).grant(input);
    expect(await isRoleMember(analytics, input.grant.beneficiary, 'analytics_read')).toBe(true);
  });

  test('a directory id that names a group role is refused: its members would get the access (defect 12)', async () => {
    const group = `team_${randomBytes(3).toString('hex')}`;
    const member = `${group}_member`;
    created.push(member, group);
    await analytics.query(`CREATE ROLE ${pg.escapeIdentifier(group)} NOLOGIN`);
    await analytics.query(`CREATE ROLE ${pg.escapeIdentifier(member)} NOLOGIN IN ROLE ${pg.escapeIdentifier(group)}`);
    const input = grantOf(config, { beneficiary: group });
    await expect(connectorFor(config).grant(input)).rejects.toMatchObject({
      type: 'ConnectorMisconfigured',
      nonRetryable: true,
      message: expect.stringContaining('shared by other roles'),
    });
    expect(await isRoleMember(analytics, member, 'analytics_read')).toBe(false);
    // PostgreSQL's own roles are never a person's either.
    await expect(connectorFor(config).grant(grantOf(config, { beneficiary: 'pg_monitor' }))).rejects.toMatchObject({
      type: 'ConnectorMisconfigured',
    });
  });

  test('a target role that does not exist fails without retrying', async () => {
    const input = grantOf(config, { target: 'no_such_role' });
    await expect(connectorFor(config).grant(input)).rejects.toMatchObject({
      type: 'ConnectorMisconfigured',
      nonRetryable: true,
      message: expect.stringContaining('no_such_role'),
    });
  });

  test('an unset connection variable is named', async () => {
    const input = grantOf({ type: 'postgres-role', connectionEnv: 'GRANTFLOW_NOT_SET_URL' });
    await expect(connectorFor(input.grant.connector, { env: {} }).grant(input)).rejects.toMatchObject({
      type: 'ConnectorMisconfigured',
      nonRetryable: true,
      message: expect.stringContaining('GRANTFLOW_NOT_SET_URL'),
    });
  });
});

describe('webhook connector', () => {
  const received: Record<string, unknown>[] = [];
  const receiver = http.createServer(createReceiver({ secret: SECRET, log: (e) => received.push(e) }));
  let base = '';
  const env = { GRANTFLOW_WEBHOOK_SECRET: SECRET };
  const configFor = (url: string): ConnectorConfig => ({ type: 'webhook', url, secretEnv: 'GRANTFLOW_WEBHOOK_SECRET' });

  beforeAll(async () => {
    base = await listen(receiver);
  });
  afterAll(() => close(receiver));

  async function ledger(): Promise<LedgerEntry[]> {
    const res = await fetch(`${base}/ledger`);
    return ((await res.json()) as { deliveries: LedgerEntry[] }).deliveries;
  }

  test('delivers a signed grant once, however often it is repeated, and the revoke after it', async () => {
    const config = configFor(`${base}/github`);
    const connector = connectorFor(config, { env });
    const input = grantOf(config, { entitlement: 'github:member', target: 'member' });

    await connector.grant(input);
    await connector.grant(input);
    await expect(connector.check(input)).resolves.toBe(true);
    await connector.revoke(input);
    await expect(connector.check(input)).resolves.toBe(false);

    const mine = (await ledger()).filter((d) => d.body.requestId === input.requestId);
    expect(mine).toEqual([
      expect.objectContaining({
        key: `${input.requestId}:grant`,
        path: '/github',
        count: 2,
        body: {
          action: 'grant',
          requestId: input.requestId,
          entitlement: 'github:member',
          beneficiary: input.grant.beneficiary,
          target: 'member',
          expiresAt: input.expiresAt,
        },
      }),
      expect.objectContaining({ key: `${input.requestId}:revoke`, count: 1 }),
    ]);
    expect(received.filter((e) => e.requestId === input.requestId).map((e) => e.event)).toEqual([
      'applied',
      'duplicate',
      'check',
      'applied',
      'check',
    ]);
  });

  test('the receiver refuses a bad, missing or v1-only signature with 401', async () => {
    const body = JSON.stringify({ action: 'grant', requestId: 'x', entitlement: 'e', beneficiary: 'b', target: 't' });
    const now = Math.floor(Date.now() / 1000);
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/github`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'x:grant', ...headers },
      });

    expect(
      (await post({ 'Grantflow-Signature': signV2('another-secret-0123456789', now, 'x:grant', body) })).status,
    ).toBe(401);
    expect((await post({ 'Grantflow-Signature': `v=2,t=${now},sig=${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    // A correct v1 signature is not enough any more: it covers neither the time nor the key.
    const v1 = await post({ 'X-Grantflow-Signature': signV1(SECRET, body) });
    expect(v1.status).toBe(401);
    expect(((await v1.json()) as { error: string }).error).toMatch(/Only Grantflow-Signature \(v2\) is accepted/);
    // Correctly signed but not a payload: the signature passed, the body did not.
    expect((await post({ 'Grantflow-Signature': signV2(SECRET, now, 'x:grant', body) })).status).toBe(400);
  });

  describe('replay', () => {
    // The receiver's clock is the test's to move; calls are captured on the wire as an attacker would.
    let skew = 0;
    const clock = () => Math.floor(Date.now() / 1000) + skew;
    const events: Record<string, unknown>[] = [];
    const target = http.createServer(createReceiver({ secret: SECRET, log: (e) => events.push(e), now: clock }));
    const wire: { headers: Record<string, string>; body: string }[] = [];
    let targetUrl = '';
    // A tap in front of the receiver: it records each call, then passes it on unchanged.
    const tap = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'idempotency-key', 'grantflow-signature', 'x-grantflow-signature']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        wire.push({ headers, body });
        void fetch(`${targetUrl}${req.url}`, { method: 'POST', headers, body }).then(async (answer) => {
          res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(await answer.text());
        });
      });
    });
    let tapUrl = '';
    beforeAll(async () => {
      targetUrl = await listen(target);
      tapUrl = await listen(tap);
    });
    afterAll(async () => {
      await close(tap);
      await close(target);
    });
    const resend = (call: { headers: Record<string, string>; body: string }, body = call.body) =>
      fetch(`${targetUrl}/github`, { method: 'POST', headers: call.headers, body });

    test('the connector sends one v2 header over timestamp, idempotency key and body, and no v1 by default', async () => {
      const config = configFor(`${tapUrl}/github`);
      const input = grantOf(config, { entitlement: 'github:member', target: 'member' });
      wire.length = 0;
      await connectorFor(config, { env }).grant(input);
      const call = wire[0] as (typeof wire)[number];
      expect(call.headers['grantflow-signature']).toMatch(/^v=2,t=\d{10},sig=[0-9a-f]{64}$/);
      expect(call.headers['idempotency-key']).toBe(`${input.requestId}:grant`);
      expect(call.headers).not.toHaveProperty('x-grantflow-signature');
      const check = checkV2(
        SECRET,
        call.headers['grantflow-signature'],
        `${input.requestId}:grant`,
        Buffer.from(call.body),
        clock(),
      );
      expect(check.ok).toBe(true);

      // A deployment whose gateway still checks v1 opts in for this release.
      wire.length = 0;
      await connectorFor(config, { env: { ...env, GRANTFLOW_WEBHOOK_SIGNATURE_V1: 'true' } }).revoke(input);
      expect(wire[0]?.headers['x-grantflow-signature']).toBe(signV1(SECRET, wire[0]?.body ?? ''));
    });

    test('a grant call captured and replayed after the revoke changes nothing, and after 5 minutes is refused', async () => {
      const config = configFor(`${tapUrl}/github`);
      const connector = connectorFor(config, { env });
      const input = grantOf(config, { entitlement: 'github:member', target: 'member' });
      wire.length = 0;
      await connector.grant(input);
      const captured = wire[0] as (typeof wire)[number];
      await connector.revoke(input);
      await expect(connector.check(input)).resolves.toBe(false);

      // Within the window: the key was applied with this body, so it is a duplicate and is not applied again.
      const replayed = await resend(captured);
      expect(replayed.status).toBe(200);
      expect(await replayed.json()).toMatchObject({ duplicate: true });
      await expect(connector.check(input)).resolves.toBe(false);

      // Later than 5 minutes: refused outright, whatever the receiver remembers.
      skew = Number(/t=(\d+)/.exec(captured.headers['grantflow-signature'] ?? '')?.[1]) + 301 - clock();
      const stale = await resend(captured);
      expect(stale.status).toBe(401);
      expect(((await stale.json()) as { error: string }).error).toMatch(/the call is 30\d s old \(at most 300 s\)/);
      skew = 0;
      await expect(connector.check(input)).resolves.toBe(false);
    });

    test('an idempotency key already applied is refused with another body, even correctly signed', async () => {
      const config = configFor(`${tapUrl}/github`);
      const input = grantOf(config, { entitlement: 'github:member', target: 'member' });
      wire.length = 0;
      await connectorFor(config, { env }).grant(input);
      const first = wire[0] as (typeof wire)[number];
      const other = first.body.replace('"member"', '"owner"');
      const key = `${input.requestId}:grant`;
      const res = await fetch(`${targetUrl}/github`, {
        method: 'POST',
        headers: { ...first.headers, 'grantflow-signature': signV2(SECRET, clock(), key, other) },
        body: other,
      });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: string }).error).toMatch(/already applied with a different body/);
      // And a body swapped under the original signature fails the signature first.
      expect((await resend(first, other)).status).toBe(401);
      expect(events.filter((e) => e.key === key).map((e) => e.event)).toEqual(['applied', 'rejected']);
    });
  });

  test('a connector with the wrong secret is rejected without retrying', async () => {
    const config = configFor(`${base}/github`);
    const connector = connectorFor(config, { env: { GRANTFLOW_WEBHOOK_SECRET: 'not-the-receivers-secret' } });
    await expect(connector.grant(grantOf(config))).rejects.toMatchObject({
      type: 'ConnectorRejected',
      nonRetryable: true,
      message: expect.stringContaining('401'),
    });
  });

  test('an unset secret variable is named', async () => {
    const config = configFor(`${base}/github`);
    await expect(connectorFor(config, { env: {} }).grant(grantOf(config))).rejects.toMatchObject({
      type: 'ConnectorMisconfigured',
      message: expect.stringContaining('GRANTFLOW_WEBHOOK_SECRET'),
    });
  });

  describe('against a failing gateway', () => {
    let status = 503;
    const calls: http.IncomingHttpHeaders[] = [];
    const gateway = http.createServer((req, res) => {
      calls.push(req.headers);
      req.resume();
      if (req.url === '/hang') return; // never answers
      res.writeHead(status, { Location: 'http://127.0.0.1:1/elsewhere' }).end('gateway says no');
    });
    let gatewayUrl = '';
    beforeAll(async () => {
      gatewayUrl = await listen(gateway);
    });
    afterAll(async () => {
      gateway.closeAllConnections();
      await close(gateway);
    });

    test.each([
      [503, true],
      [500, true],
      [429, true],
      [408, true],
      [409, true],
      [400, false],
      [403, false],
      [404, false],
      [307, false],
    ])('answer %i throws, retryable: %s', async (answer, retryable) => {
      status = answer;
      const config = configFor(`${gatewayUrl}/scim?token=secret-token`);
      const rejection = connectorFor(config, { env }).grant(grantOf(config));
      await expect(rejection).rejects.toMatchObject({
        type: retryable ? 'ConnectorUnavailable' : 'ConnectorRejected',
        nonRetryable: !retryable,
        message: expect.stringContaining(String(answer)),
      });
      // The URL's query may hold a token: it stays out of messages.
      await expect(rejection).rejects.toMatchObject({ message: expect.not.stringContaining('secret-token') });
    });

    test('signs each attempt afresh, so a retried call is never stale', async () => {
      status = 500;
      const config = configFor(`${gatewayUrl}/scim`);
      const input = grantOf(config);
      calls.length = 0;
      await expect(connectorFor(config, { env }).revoke(input)).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 1100));
      await expect(connectorFor(config, { env }).revoke(input)).rejects.toThrow();
      const stamps = calls.map((c) => /t=(\d+)/.exec(String(c['grantflow-signature']))?.[1]);
      expect(calls.map((c) => c['idempotency-key'])).toEqual([
        `${input.requestId}:revoke`,
        `${input.requestId}:revoke`,
      ]);
      expect(Number(stamps[1])).toBeGreaterThan(Number(stamps[0]));
    });

    test('a gateway that does not answer in time is retried', async () => {
      const config = configFor(`${gatewayUrl}/hang`);
      await expect(connectorFor(config, { env, timeoutMs: 200 }).grant(grantOf(config))).rejects.toMatchObject({
        type: 'ConnectorUnavailable',
        nonRetryable: false,
        message: expect.stringContaining('200 ms'),
      });
    });
  });
});

describe('manual connector', () => {
  test('hands the work to people and trusts their confirmation', async () => {
    const config: ConnectorConfig = { type: 'manual', fulfillers: ['group:finance'], sla: 'P2D' };
    const connector = connectorFor(config);
    const input = grantOf(config);
    await expect(connector.grant(input)).resolves.toBeUndefined();
    await expect(connector.revoke(input)).resolves.toBeUndefined();
    await expect(connector.check(input)).resolves.toBe(true);
  });
});
