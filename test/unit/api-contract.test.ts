/**
 * What the OpenAPI document promises, checked on the app without backing services: undeclared methods, and
 * inputs refused at the edge exactly where the document's schema says so (and accepted where it says so).
 */
import request from 'supertest';
import { MemoryStore } from 'express-rate-limit';
import { createApp } from '../../api/app';
import { devAuthenticator, signDevToken } from '../../api/auth';
import { CURSOR } from '../../api/schemas';
import { createLogger } from '../../platform/logger';
import { demoConfig } from './demo-config';

const SECRET = 'api-contract-test-secret-0123456789';
// Backing services are never reached: every request here is answered before a query would run.
const app = createApp({
  client: {} as never,
  pool: {} as never,
  config: demoConfig(),
  auth: devAuthenticator({ secret: SECRET, audience: 'grantflow' }),
  log: createLogger('test', 'silent'),
  taskQueue: 'unused',
  rateLimitStore: new MemoryStore(),
});
const bearer = async () => `Bearer ${await signDevToken({ userId: 'alice', secret: SECRET })}`;

describe('methods the document does not declare', () => {
  it.each([
    ['delete', '/v1/requests', 'GET, HEAD, POST'],
    ['put', '/v1/requests/r-1/decisions', 'POST'],
    ['patch', '/v1/catalog', 'GET, HEAD'],
    ['delete', '/v1/requests/preview', 'POST'],
  ] as const)('%s %s is 405 with Allow: %s', async (method, path, allow) => {
    const res = await request(app)[method](path);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.body.type).toBe('urn:grantflow:problem:method-not-allowed');
  });

  it('answers TRACE with 405 too, and an unknown path still with 404', async () => {
    expect((await request(app).trace('/v1/kpis')).status).toBe(405);
    expect((await request(app).delete('/v1/nothing')).status).toBe(404);
  });

  it('answers OPTIONS with the declared methods of the literal path', async () => {
    const res = await request(app).options('/v1/requests/preview');
    expect(res.status).toBe(204);
    expect(res.headers.allow).toBe('POST');
  });

  it('documents page sizes as whole numbers from 1 to the maximum', async () => {
    const doc = (await request(app).get('/openapi.json')).body;
    expect(doc.paths['/v1/requests'].get.parameters.find((p: { name: string }) => p.name === 'limit').schema).toEqual(
      expect.objectContaining({ type: 'integer', minimum: 1, maximum: 100 }),
    );
  });
});

describe('inputs refused at the edge, as the document says', () => {
  it.each(['0', '101', '1.5', 'ten', ''])('limit=%j is refused with a sentence', async (limit) => {
    const res = await request(app)
      .get(`/v1/requests?limit=${limit}`)
      .set('Authorization', await bearer());
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'limit', message: 'must be a whole number from 1 to 100' }]);
  });

  it.each(['garbage', '123', '1~', '-1~r-1', `${'9'.repeat(17)}~r-1`])('cursor=%j is refused', async (cursor) => {
    expect(CURSOR.test(cursor)).toBe(false);
    const res = await request(app)
      .get(`/v1/approvals?cursor=${encodeURIComponent(cursor)}`)
      .set('Authorization', await bearer());
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'cursor', message: 'is not a valid cursor' }]);
  });

  it.each(['P', 'PT', 'P1DT', 'P0D', 'PT0S', '__main__', 'P1Y', 'P01D'])('duration %j is refused', async (duration) => {
    const res = await request(app)
      .post('/v1/requests/preview')
      .set('Authorization', await bearer())
      .send({ entitlement: 'github:member', justification: 'A good reason to have it.', duration });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe('duration');
  });

  it('counts text as JSON Schema does: code points, the maximum before trimming, the minimum after', async () => {
    const send = async (justification: string) =>
      request(app)
        .post('/v1/requests/preview')
        .set('Authorization', await bearer())
        .send({ entitlement: 'no-such:thing', justification });
    // 1,500 astral characters are 3,000 UTF-16 units but 1,500 characters: within the 2,000 the schema allows.
    expect((await send('😀'.repeat(1500))).body.type).not.toBe('urn:grantflow:problem:validation');
    expect((await send(` ${'x'.repeat(2000)}`)).status).toBe(400);
    expect((await send('   too short   ')).body.errors).toEqual([
      { field: 'justification', message: 'must say why, in at least 10 characters' },
    ]);
  });
});
