import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { connectorFor } from '../../activities/connectors';
import { signBody } from '../../activities/connectors/webhook';
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

  test('the receiver refuses a bad or missing signature with 401', async () => {
    const body = JSON.stringify({ action: 'grant', requestId: 'x', entitlement: 'e', beneficiary: 'b', target: 't' });
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/github`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });

    expect((await post({ 'X-Grantflow-Signature': signBody('another-secret-0123456789', body) })).status).toBe(401);
    expect((await post({ 'X-Grantflow-Signature': 'sha256=00' })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    // Correctly signed but not a payload: the signature passed, the body did not.
    expect((await post({ 'X-Grantflow-Signature': signBody(SECRET, body) })).status).toBe(400);
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

    test('sends the idempotency key, timestamp and a signature over the exact body', async () => {
      status = 500;
      const config = configFor(`${gatewayUrl}/scim`);
      const input = grantOf(config);
      calls.length = 0;
      await expect(connectorFor(config, { env }).revoke(input)).rejects.toThrow();
      expect(calls[0]).toMatchObject({
        'idempotency-key': `${input.requestId}:revoke`,
        'x-grantflow-timestamp': expect.stringMatching(/^\d{10}$/),
        'x-grantflow-signature': expect.stringMatching(/^sha256=[0-9a-f]{64}$/),
      });
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
