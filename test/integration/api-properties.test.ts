import type { Express } from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';
import { createTestApp } from '../helpers/api';

jest.setTimeout(120_000);

const SECRET = 'api-properties-test-secret-0123456789';
const tag = uniqueId('p').replace(/[^a-z0-9-]/g, '');
const fuzz = `fuzz-${tag}`;

let env: TestEnv;
let app: Express;
let authorization: string;

beforeAll(async () => {
  env = await startEnv({
    title: 'api-properties',
    configure: (raw) => {
      raw.directory.users.push({ id: fuzz, name: 'Fuzz', department: 'engineering', manager: 'bob', groups: [] });
      return raw;
    },
  });
  app = createTestApp(env, SECRET, { rateLimitPerMinute: 100_000 });
  authorization = `Bearer ${await signDevToken({ userId: fuzz, secret: SECRET })}`;
});
afterAll(async () => {
  await env?.stop();
});

/** What the OpenAPI document says POST /v1/requests and /decisions may answer for a bad body. */
const DOCUMENTED_4XX = [400, 413, 415, 422];

async function footprint(): Promise<{ rows: number; workflows: number }> {
  const rows = await env.pool.query('SELECT count(*)::int AS n FROM requests WHERE requester = $1', [fuzz]);
  const workflows = await env.client.workflow.count(`GrantflowRequester = "${fuzz}"`);
  return { rows: rows.rows[0].n as number, workflows: workflows.count };
}

const catalogIds = ['github:member', 'analytics-db:read', 'analytics-db:write', 'payroll:viewer', 'aws-prod:admin'];
const KNOWN_KEYS = ['entitlement', 'justification', 'beneficiary', 'duration', 'fields', 'breakGlass', '__proto__'];
const good = { entitlement: 'analytics-db:read', justification: 'Quarterly revenue analysis for the board' };

/** Bodies that must never start a request: each breaks the schema or the catalog in at least one way. */
const badRequestBody: fc.Arbitrary<unknown> = fc.oneof(
  // Not an object at all.
  fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue(), { maxLength: 3 })),
  // An object with an unknown field, and perhaps fields of the wrong type as well.
  fc
    .record({
      entitlement: fc.oneof(fc.integer(), fc.string({ maxLength: 20 }), fc.constantFrom(...catalogIds)),
      justification: fc.oneof(fc.string({ maxLength: 9 }), fc.integer(), fc.constant(good.justification)),
      extra: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !KNOWN_KEYS.includes(k)),
        fc.jsonValue(),
        {
          minKeys: 1,
          maxKeys: 3,
        },
      ),
    })
    .map(({ extra, ...known }) => ({ ...extra, ...known })),
  // A well-formed body that does not fit the catalog: unknown entitlement, bad duration, unknown form fields.
  fc
    .record({
      entitlement: fc.oneof(
        fc.constantFrom(...catalogIds),
        fc.stringMatching(/^[a-z]{1,8}:[a-z]{1,8}$/).filter((e) => !catalogIds.includes(e)),
      ),
      duration: fc.oneof(
        fc.constantFrom('P1Y', 'P1M', 'PT', 'P', '1D', 'P-1D', 'P0D', 'P400D', 'P9999D', 'PT99999H', 'p1d'),
        fc.string({ maxLength: 12 }),
      ),
      fields: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), fc.string({ maxLength: 20 }), {
        maxKeys: 2,
      }),
      breakGlass: fc.boolean(),
    })
    .map((b) => ({ ...b, justification: good.justification })),
  // Huge bodies.
  fc.nat({ max: 3 }).map((n) => ({ ...good, justification: 'x'.repeat(17_000 + n * 10_000) })),
);

describe('bad bodies never start a request', () => {
  test('POST /v1/requests answers only documented 4xx problems, and nothing is written or started', async () => {
    const before = await footprint();
    await fc.assert(
      fc.asyncProperty(badRequestBody, async (body) => {
        const res = await request(app)
          .post('/v1/requests')
          .set({ Authorization: authorization, 'Content-Type': 'application/json' })
          .send(JSON.stringify(body));
        // Some catalog-shaped bodies happen to be fine (e.g. a valid duration); those must not count as bad.
        if (res.status === 201) throw new Error(`accepted ${JSON.stringify(body).slice(0, 300)}`);
        expect(DOCUMENTED_4XX).toContain(res.status);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ status: res.status, type: expect.stringMatching(/^urn:grantflow:problem:/) });
      }),
      { numRuns: 150 },
    );
    const after = await footprint();
    expect(after).toEqual(before);
  });

  test('POST /v1/requests/:id/decisions refuses malformed decisions before any workflow is asked', async () => {
    const before = await footprint();
    const badDecision = fc.oneof(
      fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
      fc.record(
        {
          decision: fc.oneof(
            fc.string({ maxLength: 10 }).filter((s) => s !== 'approve' && s !== 'deny'),
            fc.integer(),
          ),
          comment: fc.oneof(fc.integer(), fc.string({ minLength: 2001, maxLength: 2100 })),
          approver: fc.constantFrom('bob', 'dave', fuzz),
        },
        { requiredKeys: ['decision'] },
      ),
    );
    const badId = fc.oneof(fc.constant(uniqueId()), fc.stringMatching(/^[^A-Za-z0-9]{1,3}[a-z]{0,5}$/));
    await fc.assert(
      fc.asyncProperty(badId, badDecision, async (id, body) => {
        const res = await request(app)
          .post(`/v1/requests/${encodeURIComponent(id)}/decisions`)
          .set({ Authorization: authorization, 'Content-Type': 'application/json' })
          .send(JSON.stringify(body));
        expect(DOCUMENTED_4XX).toContain(res.status);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }),
      { numRuns: 100 },
    );
    expect(await footprint()).toEqual(before);
  });
});
