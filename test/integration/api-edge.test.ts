import type { Express } from 'express';
import pg from 'pg';
import request from 'supertest';
import { Client, Connection } from '@temporalio/client';
import { SignJWT } from 'jose';
import type { AppDeps } from '../../api/app';
import { DEV_ISSUER, signDevToken } from '../../api/auth';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';
import { createTestApp } from '../helpers/api';

jest.setTimeout(90_000);

const SECRET = 'api-edge-test-secret-0123456789';
const tag = uniqueId('e').replace(/[^a-z0-9-]/g, '');
const eve = `eve-${tag}`;
const justification = 'Needed to investigate the nightly job failures';

let env: TestEnv;
let app: Express;

function appWith(overrides: Partial<AppDeps> = {}): Express {
  return createTestApp(env, SECRET, overrides);
}

beforeAll(async () => {
  env = await startEnv({
    title: 'api-edge',
    configure: (raw) => {
      raw.directory.users.push({
        id: eve,
        name: 'Eve Edge',
        department: 'engineering',
        manager: 'bob',
        groups: ['engineering'],
      });
      return raw;
    },
  });
  app = appWith();
});
afterAll(async () => {
  await env?.stop();
});

const bearer = async (userId = eve) => `Bearer ${await signDevToken({ userId, secret: SECRET })}`;
const rowsOf = async (requester: string) =>
  (await env.pool.query('SELECT count(*)::int AS n FROM requests WHERE requester = $1', [requester])).rows[0]
    .n as number;

function expectProblem(res: request.Response, status: number, type: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: `urn:grantflow:problem:${type}`, instance: expect.any(String) });
  expect(res.body.requestId).toBe(res.headers['x-request-id']);
  expect(res.text).not.toMatch(/\s+at\s+\S+\s\(/); // no stack frames
}

describe('authentication over HTTP', () => {
  const submit = (authorization?: string) => {
    const req = request(app).post('/v1/requests');
    return (authorization ? req.set('Authorization', authorization) : req).send({
      entitlement: 'github:member',
      justification,
    });
  };
  const hs256 = (claims: { aud?: string; exp?: number }, secret = SECRET) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(eve)
      .setIssuer(DEV_ISSUER)
      .setAudience(claims.aud ?? 'grantflow')
      .setExpirationTime(claims.exp ?? '5m')
      .sign(new TextEncoder().encode(secret));

  it.each([
    ['no token', async () => undefined],
    ['a malformed token', async () => 'Bearer abc.def'],
    ['a token signed with another secret', async () => `Bearer ${await hs256({}, 'another-secret-0123456789abcdef')}`],
    ['the wrong audience', async () => `Bearer ${await hs256({ aud: 'payments' })}`],
    ['an expired token', async () => `Bearer ${await hs256({ exp: Math.floor(Date.now() / 1000) - 600 })}`],
    ['a token for nobody in the directory', async () => bearer('mallory')],
  ])('refuses %s with 401 and starts nothing', async (_name, authorization) => {
    const before = await rowsOf(eve);
    const res = await submit(await authorization());
    expectProblem(res, 401, 'unauthenticated');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="grantflow"/);
    expect(await rowsOf(eve)).toBe(before);
  });
});

describe('validation at the edge', () => {
  const post = async (body: string | object, headers: Record<string, string> = {}) =>
    request(app)
      .post('/v1/requests')
      .set({ Authorization: await bearer(), 'Content-Type': 'application/json', ...headers })
      .send(typeof body === 'string' ? body : JSON.stringify(body));

  let before: number;
  beforeEach(async () => {
    before = await rowsOf(eve);
  });
  afterEach(async () => {
    expect(await rowsOf(eve)).toBe(before);
  });

  it('malformed JSON: 400', async () => {
    expectProblem(await post('{"entitlement": "github:member",'), 400, 'malformed-json');
  });

  it('a JSON value that is not an object: 400', async () => {
    expectProblem(await post('"github:member"'), 400, 'malformed-json');
    expectProblem(await post('[]'), 400, 'validation');
  });

  it('unknown fields are refused by name, as are identity fields', async () => {
    const res = await post({ entitlement: 'github:member', justification, requester: 'bob', isAdmin: true });
    expectProblem(res, 400, 'validation');
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        { field: 'requester', message: 'is not a known field' },
        { field: 'isAdmin', message: 'is not a known field' },
      ]),
    );
  });

  it('missing and ill-typed fields are listed with their names', async () => {
    const res = await post({ justification: 42, breakGlass: 'yes' });
    expectProblem(res, 400, 'validation');
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'breakGlass',
      'entitlement',
      'justification',
    ]);
    expect(res.body.errors).toContainEqual({ field: 'entitlement', message: 'is required' });
  });

  it('an oversize body: 413', async () => {
    expectProblem(
      await post({ entitlement: 'github:member', justification: 'x'.repeat(70_000) }),
      413,
      'payload-too-large',
    );
  });

  it('a body that is not JSON: 415', async () => {
    const res = await request(app)
      .post('/v1/requests')
      .set({ Authorization: await bearer(), 'Content-Type': 'text/plain' })
      .send('entitlement=github:member');
    expectProblem(res, 415, 'unsupported-media-type');
  });

  it.each(['P1Y', 'P1M', '30 days', 'PT', 'P0D', '-P1D', 'P1.5D'])(
    'duration %s is not a strict ISO-8601 duration: 400',
    async (duration) => {
      const res = await post({ entitlement: 'analytics-db:read', justification, duration });
      expectProblem(res, 400, 'validation');
      expect(res.body.errors[0].field).toBe('duration');
    },
  );

  it('a duration beyond the entitlement maximum: 422 with the cap in the sentence', async () => {
    const res = await post({ entitlement: 'analytics-db:read', justification, duration: 'P91D' });
    expectProblem(res, 422, 'invalid-request');
    expect(res.body.errors).toEqual([
      { field: 'duration', message: 'P91D is longer than the maximum of P90D for analytics-db:read.' },
    ]);
  });

  it('an unknown entitlement, a missing or malformed form field, break-glass where none is allowed: 422', async () => {
    expectProblem(await post({ entitlement: 'mainframe:root', justification }), 422, 'invalid-request');
    const fields = await post({
      entitlement: 'analytics-db:write',
      justification,
      fields: { ticket: 'JIRA-1', x: 'y' },
    });
    expectProblem(fields, 422, 'invalid-request');
    expect(fields.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['fields.ticket', 'fields.x']);
    expectProblem(
      await post({ entitlement: 'github:member', justification, breakGlass: true }),
      422,
      'invalid-request',
    );
  });

  // PostgreSQL keeps no NUL in text and no unpaired surrogate in jsonb: refused here, rather than a 500 there.
  it.each([
    ['a NUL character', 'Needed for the \u0000 nightly job'],
    ['an unpaired surrogate', 'Needed for the \ud800 nightly job'],
  ])('a justification with %s: 400 naming it', async (_what, text) => {
    const res = await post({ entitlement: 'github:member', justification: text });
    expectProblem(res, 400, 'validation');
    expect(res.body.errors).toEqual([{ field: 'justification', message: expect.stringMatching(/NUL|surrogate/) }]);
  });

  it('text outside the Basic Multilingual Plane is text: previewed, not refused', async () => {
    const res = await request(app)
      .post('/v1/requests/preview')
      .set('Authorization', await bearer())
      .send({ entitlement: 'github:member', justification: 'Needed for the 𝔫𝔦𝔤𝔥𝔱𝔩𝔶 job 🙂' });
    expect(res.status).toBe(200);
  });

  it('an extension longer than any may be: 422 naming duration, before the workflow is asked', async () => {
    const res = await request(app)
      .post(`/v1/requests/${uniqueId()}/extend`)
      .set('Authorization', await bearer())
      .send({ duration: 'P3661D', justification });
    expectProblem(res, 422, 'extension-too-long');
    expect(res.body.errors).toEqual([{ field: 'duration', message: 'must be at most P3660D' }]);
  });

  it('an Idempotency-Key longer than 200 characters: 400', async () => {
    const res = await post({ entitlement: 'github:member', justification }, { 'Idempotency-Key': 'k'.repeat(201) });
    expectProblem(res, 400, 'validation');
    expect(res.body.errors[0].field).toBe('Idempotency-Key');
  });

  it('a decision that is neither approve nor deny: 400, before the workflow is asked', async () => {
    const res = await request(app)
      .post(`/v1/requests/${uniqueId()}/decisions`)
      .set('Authorization', await bearer())
      .send({ decision: 'maybe', approver: 'bob' });
    expectProblem(res, 400, 'validation');
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['approver', 'decision']);
  });

  it('a message to an id nobody knows: 404', async () => {
    const res = await request(app)
      .post(`/v1/requests/${uniqueId()}/cancel`)
      .set('Authorization', await bearer())
      .send({});
    expectProblem(res, 404, 'not-found');
  });
});

describe('robustness', () => {
  it('keeps a caller-supplied X-Request-Id and puts it in the problem body', async () => {
    const res = await request(app).get('/v1/requests/x').set('X-Request-Id', 'trace-abc-123');
    expect(res.status).toBe(401);
    expect(res.headers['x-request-id']).toBe('trace-abc-123');
    expect(res.body.requestId).toBe('trace-abc-123');
    const unsafe = await request(app).get('/healthz').set('X-Request-Id', 'a b;c<d>');
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sets security headers', async () => {
    const res = await request(app).get('/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('limits writes per caller: 429 with Retry-After', async () => {
    const limited = appWith({ rateLimitPerMinute: 2 });
    const send = async (userId: string) =>
      request(limited)
        .post('/v1/requests/preview')
        .set('Authorization', await bearer(userId))
        .send({ entitlement: 'github:member', justification });
    expect((await send(eve)).status).toBe(200);
    expect((await send(eve)).status).toBe(200);
    const third = await send(eve);
    expectProblem(third, 429, 'rate-limited');
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    // Another person has a budget of their own.
    expect((await send('bob')).status).toBe(200);
    // Reads are not limited.
    expect(
      (
        await request(limited)
          .get('/v1/catalog')
          .set('Authorization', await bearer(eve))
      ).status,
    ).toBe(200);
  });

  it('ops endpoints: healthz, readyz, metrics', async () => {
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } });
    const metrics = await request(app).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('grantflow_http_request_duration_seconds_bucket');
    expect(metrics.text).toMatch(/route="\/readyz",status="200"/);
    expect(metrics.text).toContain('process_cpu_user_seconds_total');
  });
});

describe('when a backing service is down', () => {
  let deadTemporal: Connection;

  afterAll(async () => {
    await deadTemporal?.close();
  });

  it('Temporal unreachable: reads fall back to the projection, writes answer 503 with Retry-After', async () => {
    const res = await request(app)
      .post('/v1/requests')
      .set('Authorization', await bearer())
      .send({ entitlement: 'analytics-db:read', justification });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const { rows } = await env.pool.query(`SELECT view->>'status' AS status FROM requests WHERE id = $1`, [id]);
      if (rows[0]?.status === 'pending_approval') break;
      await new Promise((r) => setTimeout(r, 100));
    }

    // Without the retry interceptor the client gives up at once instead of retrying for many seconds.
    deadTemporal = Connection.lazy({ address: '127.0.0.1:1', interceptors: [] });
    const offline = appWith({ client: new Client({ connection: deadTemporal }) });
    const view = await request(offline)
      .get(`/v1/requests/${id}`)
      .set('Authorization', await bearer());
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ id, status: 'pending_approval' });

    const decide = await request(offline)
      .post(`/v1/requests/${id}/decisions`)
      .set('Authorization', await bearer('bob'))
      .send({ decision: 'approve' });
    expectProblem(decide, 503, 'unavailable');
    expect(decide.headers['retry-after']).toBe('5');

    const before = await rowsOf(eve);
    const submit = await request(offline)
      .post('/v1/requests')
      .set('Authorization', await bearer())
      .send({ entitlement: 'github:member', justification });
    expectProblem(submit, 503, 'unavailable');
    // Nothing ran, and without an Idempotency-Key nobody could retry it: no row is left behind.
    expect(await rowsOf(eve)).toBe(before);

    const ready = await request(offline).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ postgres: 'ok', temporal: 'failed' });
    await request(app)
      .post(`/v1/requests/${id}/cancel`)
      .set('Authorization', await bearer())
      .send({});
  });

  it('PostgreSQL unreachable: 503 with Retry-After', async () => {
    const deadPool = new pg.Pool({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectionTimeoutMillis: 500,
    });
    try {
      const offline = appWith({ pool: deadPool });
      const res = await request(offline)
        .get('/v1/requests')
        .set('Authorization', await bearer());
      expectProblem(res, 503, 'unavailable');
      expect(res.headers['retry-after']).toBe('5');
      expect((await request(offline).get('/readyz')).body.checks).toEqual({ postgres: 'failed', temporal: 'ok' });
    } finally {
      await deadPool.end();
    }
  });
});
