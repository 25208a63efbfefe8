import type { Express } from 'express';
import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { SYSTEM_ACTOR } from '../../domain/model';
import { revokeUpdate, type RequestView } from '../../workflows/messages';
import { createTestApp } from '../helpers/api';
import { auditActions, startEnv, uniqueId, withLicensedTool, type TestEnv } from '../helpers/harness';

jest.setTimeout(120_000);

// An entitlement and people of this test's own: the database is shared by every suite of the run, and the seat count
// includes every live grant of the entitlement.
const tag = uniqueId('s').replace(/[^a-z0-9]/g, '');
const resource = `lic${tag}`.slice(0, 60);
const entitlement = `${resource}:seat`;
const people = ['a', 'b', 'c', 'd'].map((p) => `${p}${tag}`.slice(0, 60));
const [first, second, third, fourth] = people as [string, string, string, string];

const SECRET = 'seats-test-secret-0123456789abcdef';
let env: TestEnv;
let app: Express;
const get = async (userId: string, path: string) =>
  request(app)
    .get(path)
    .set('Authorization', `Bearer ${await signDevToken({ userId, secret: SECRET })}`);

beforeAll(async () => {
  env = await startEnv({
    title: 'seats',
    configure: (raw) => {
      withLicensedTool(raw, resource, { limit: 2, whenFull: 'queue', recheckEvery: 'PT1S' });
      for (const id of people) {
        raw.directory.users.push({ id, name: id, department: 'engineering', manager: 'bob', groups: [] });
      }
      return raw;
    },
  });
  app = createTestApp(env, SECRET);
});
afterAll(async () => {
  await env?.stop();
});

const active = (v: RequestView) => v.status === 'active';

test('with a seat limit of 2, a third request waits in line (position 1) and is provisioned once when a seat frees', async () => {
  const ids = people.map((p) => uniqueId(`seat-${p.slice(0, 1)}`));
  const [idA, idB, idC, idD] = ids as [string, string, string, string];
  await env.submit(first, { entitlement }, idA);
  await env.waitFor(idA, active);
  await env.submit(second, { entitlement }, idB);
  const b = await env.waitFor(idB, active);
  expect(b.seat).toMatchObject({ state: 'held', limit: 2, used: 1 });

  await env.submit(third, { entitlement }, idC);
  const waiting = await env.waitFor(idC, (v) => v.seat?.state === 'queued');
  expect(waiting).toMatchObject({ status: 'provisioning', seat: { state: 'queued', position: 1, limit: 2, used: 2 } });
  await env.submit(fourth, { entitlement }, idD);
  await env.waitFor(idD, (v) => v.seat?.state === 'queued' && v.seat.position === 2);

  // The API shows the requester their place, and security the seat use.
  const mine = await get(third, `/v1/requests/${idC}`);
  expect(mine.status).toBe(200);
  expect(mine.body).toMatchObject({ status: 'provisioning', seat: { state: 'queued', position: 1, limit: 2 } });
  const catalog = await get(third, '/v1/catalog');
  const listed = catalog.body.resources.flatMap((r: { entitlements: unknown[] }) => r.entitlements);
  expect(listed.find((e: { id: string }) => e.id === entitlement)).toMatchObject({
    seats: { limit: 2, whenFull: 'queue' },
  });
  // Tags are a column of the list: every request of this entitlement carries its application's tag.
  const tagged = await get('dave', `/v1/requests?tag=application:${resource}&limit=100`);
  expect(tagged.status).toBe(200);
  expect(tagged.body.items.map((r: { id: string }) => r.id).sort()).toEqual([...ids].sort());
  expect((await get('dave', `/v1/requests?tag=type:exception&resource=${resource}`)).body.items).toEqual([]);
  const badTag = await get('dave', '/v1/requests?tag=colour:blue');
  expect(badTag.status).toBe(400);
  expect(badTag.headers['content-type']).toMatch(/application\/problem\+json/);
  expect(badTag.body.errors).toEqual([{ field: 'tag', message: expect.stringMatching(/name:value/) }]);
  const kpis = await get('dave', '/v1/kpis');
  expect(kpis.status).toBe(200);
  expect(kpis.body.seats).toContainEqual({ entitlement, limit: 2, whenFull: 'queue', used: 2, queued: 2 });

  // A worker crash while both wait changes nothing: they still wait, in the same order, and ask again.
  await env.restartWorker();
  await new Promise((r) => setTimeout(r, 2500));
  expect((await env.view(idC)).seat).toMatchObject({ state: 'queued', position: 1 });
  expect((await env.view(idD)).seat).toMatchObject({ state: 'queued', position: 2 });
  expect((await env.deliveries()).some((d) => d.key === `${idC}:grant`)).toBe(false);

  // The first grant is revoked: its seat goes to the third request, and the fourth moves up.
  await env.client.workflow
    .getHandle(`access-request-${idA}`)
    .executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason: 'licence test' }] });
  await env.waitFor(idA, (v) => v.status === 'revoked');
  const c = await env.waitFor(idC, active);
  expect(c.seat).toMatchObject({ state: 'held', queuedAt: expect.any(String), heldAt: expect.any(String) });
  await env.waitFor(idD, (v) => v.seat?.state === 'queued' && v.seat.position === 1);

  // Exactly once: one grant at the target, one grant row, one seat_taken, and the fourth still waits.
  await new Promise((r) => setTimeout(r, 2500));
  const deliveries = await env.deliveries();
  const grantsOfC = deliveries.filter((d) => d.body.requestId === idC && d.key === `${idC}:grant`);
  expect(grantsOfC).toHaveLength(1);
  expect(grantsOfC[0]?.count).toBe(1);
  const { rows } = await env.pool.query('SELECT request_id FROM grants WHERE request_id = $1', [idC]);
  expect(rows).toHaveLength(1);
  expect((await auditActions(env.pool, idC)).filter((a) => a.startsWith('seat_'))).toEqual([
    'seat_queued',
    'seat_taken',
  ]);
  expect((await env.view(idD)).status).toBe('provisioning');
  expect(deliveries.some((d) => d.key === `${idD}:grant`)).toBe(false);

  // A cancel while in line frees the place: nothing was granted, and nothing goes to the target.
  await env.client.workflow
    .getHandle(`access-request-${idD}`)
    .executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason: 'leaver' }] });
  await env.waitFor(idD, (v) => v.status === 'cancelled');
  const seatRows = await env.pool.query('SELECT request_id, state FROM seats WHERE request_id = ANY($1)', [ids]);
  expect(seatRows.rows.map((r: { request_id: string }) => r.request_id).sort()).toEqual([idB, idC].sort());

  for (const id of [idB, idC]) {
    await env.client.workflow
      .getHandle(`access-request-${id}`)
      .executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason: 'test over' }] });
    await env.waitFor(id, (v) => v.status === 'revoked');
  }
});
