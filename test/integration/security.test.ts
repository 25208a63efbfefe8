/**
 * Attacks, with the OWASP API Security Top 10 (2023) as the checklist: object-level and function-level authorization,
 * authentication (token tampering), identity smuggled in the body, self-approval by the back doors (escalation and
 * delegation), and tampering with the audit trail.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import pg from 'pg';
import { signDevToken } from '../../api/auth';
import type { RequestView } from '../../workflows/messages';
import { startEnv, uniqueId, withSla, type TestEnv } from '../helpers/harness';
import { createTestApp } from '../helpers/api';

jest.setTimeout(90_000);

const SECRET = 'security-test-secret-0123456789abc';
const tag = uniqueId('s').replace(/[^a-z0-9-]/g, '');
const amy = `amy-${tag}`; // engineer, manager bob
const mal = `mal-${tag}`; // another engineer: the attacker
const sec = `sec-${tag}`; // security engineer, manager erin
const justification = 'Investigating the nightly load failures';

let env: TestEnv;

/** `npm run audit:verify -- <file> --key key.json --json`, as an auditor runs it. */
function verifyCli(dir: string, file: string) {
  const root = path.join(__dirname, '..', '..');
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'scripts/audit-verify.ts', path.join(dir, file), '--key', path.join(dir, 'key.json'), '--json'],
    { cwd: root, encoding: 'utf8' },
  );
  if (run.status === 2) throw new Error(run.stderr);
  return {
    status: run.status,
    verdict: JSON.parse(run.stdout) as {
      ok: boolean;
      keySource: string;
      head: { seq: number };
      checkpoint: { seq: number; holds: boolean };
      findings: { kind: string; seq: number }[];
    },
  };
}
const apps: Express[] = [];

function appFor(pool: pg.Pool): Express {
  const app = createTestApp(env, SECRET, { pool });
  apps.push(app);
  return app;
}

beforeAll(async () => {
  env = await startEnv({
    title: 'security',
    configure: (raw) => {
      // Escalation within seconds, so the escalation back door can be tried.
      withSla(raw, { escalateAfter: 'PT1S', deadline: 'PT60S' });
      raw.directory.users.push(
        { id: amy, name: 'Amy', department: 'engineering', manager: 'bob', groups: ['engineering'] },
        { id: mal, name: 'Mal', department: 'engineering', manager: 'bob', groups: ['engineering'] },
        { id: sec, name: 'Sec', department: 'security', manager: 'erin', groups: ['security'] },
      );
      return raw;
    },
  });
});
afterAll(async () => {
  await env?.stop();
});

const app = () => apps[0] ?? appFor(env.pool);
const bearer = async (userId: string) => `Bearer ${await signDevToken({ userId, secret: SECRET })}`;
const get = async (userId: string, path: string) =>
  request(app())
    .get(path)
    .set('Authorization', await bearer(userId));
const post = async (userId: string, path: string, body: object = {}) =>
  request(app())
    .post(path)
    .set('Authorization', await bearer(userId))
    .send(body);

async function until(id: string, done: (v: RequestView) => boolean): Promise<RequestView> {
  return env.waitFor(id, done, 30_000);
}

async function submit(userId: string, body: object): Promise<RequestView> {
  const res = await post(userId, '/v1/requests', { justification, ...body });
  expect(res.status).toBe(201);
  return res.body as RequestView;
}

async function decisions(id: string): Promise<number> {
  const view = await env.view(id);
  return [...view.stages, ...(view.review ? [view.review] : [])].flatMap((s) => s.decisions).length;
}

describe('API1 broken object-level authorization', () => {
  let id: string;
  beforeAll(async () => {
    id = (await submit(amy, { entitlement: 'analytics-db:read' })).id;
    await until(id, (v) => v.status === 'pending_approval');
  });

  test("another user's request answers exactly like an unknown id", async () => {
    const theirs = await get(mal, `/v1/requests/${id}`);
    const unknown = await get(mal, `/v1/requests/00000000-0000-4000-8000-000000000000`);
    expect(theirs.status).toBe(404);
    expect(unknown.status).toBe(404);
    const strip = (b: Record<string, unknown>) => ({ ...b, instance: undefined, requestId: undefined });
    expect(strip(theirs.body)).toEqual({
      ...strip(unknown.body),
      detail: expect.any(String),
    });
    expect(JSON.stringify(theirs.body)).not.toContain(amy);
  });

  test("deciding on another user's request changes nothing and is recorded", async () => {
    const res = await post(mal, `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(res.status).toBe(404);
    expect(await decisions(id)).toBe(0);
    const { rows } = await env.pool.query(
      `SELECT 1 FROM audit_events WHERE request_id = $1 AND action = 'refused' AND actor = $2`,
      [id, mal],
    );
    expect(rows.length).toBe(1);
  });

  test("lists never show another user's requests", async () => {
    const res = await get(mal, '/v1/requests');
    expect(res.status).toBe(200);
    expect(res.body.items.map((r: { id: string }) => r.id)).not.toContain(id);
  });
});

describe('API5 broken function-level authorization', () => {
  test('a requester cannot read the audit trail, its export, its verification or the KPIs', async () => {
    for (const path of ['/v1/audit', '/v1/audit/export?format=json', '/v1/audit/verify', '/v1/kpis']) {
      expect((await get(amy, path)).status).toBe(403);
    }
  });

  test('a requester cannot revoke or review a grant they may not act on', async () => {
    const bg = await submit(amy, {
      entitlement: 'aws-prod:admin',
      breakGlass: true,
      fields: { ticket: 'INC-9' },
    });
    await until(bg.id, (v) => v.status === 'active');
    // The holder reviewing their own break-glass is self-approval.
    const own = await post(amy, `/v1/requests/${bg.id}/review`, { outcome: 'cleared' });
    expect(own.status).toBe(403);
    expect(own.body.refusal).toBe('SelfApproval');
    // Another engineer can neither review nor revoke it, and cannot even tell it exists.
    expect((await post(mal, `/v1/requests/${bg.id}/review`, { outcome: 'cleared' })).status).toBe(404);
    expect((await post(mal, `/v1/requests/${bg.id}/revoke`, { reason: 'x' })).status).toBe(404);
    const view = await env.view(bg.id);
    expect(view.status).toBe('active');
    expect(view.reviewState).toBe('pending');
    // Security may.
    expect((await post(sec, `/v1/requests/${bg.id}/review`, { outcome: 'cleared' })).status).toBe(200);
    expect((await post(sec, `/v1/requests/${bg.id}/revoke`, { reason: 'incident over' })).status).toBe(200);
    await until(bg.id, (v) => v.status === 'revoked');
  });
});

describe('identity comes only from the token', () => {
  test('a requester or approver named in the body is refused, not believed', async () => {
    const asBob = await post(mal, '/v1/requests', {
      entitlement: 'github:member',
      justification,
      requester: 'bob',
    });
    expect(asBob.status).toBe(400);
    expect(asBob.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'requester' })]));

    const id = (await submit(amy, { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-7' } })).id;
    await until(id, (v) => v.pendingApprovers.includes('bob'));
    const smuggled = await post(amy, `/v1/requests/${id}/decisions`, { decision: 'approve', approver: 'bob' });
    expect(smuggled.status).toBe(400);
    expect(await decisions(id)).toBe(0);
    expect((await post(amy, `/v1/requests/${id}/cancel`, {})).status).toBe(200);
  });
});

describe('API2 broken authentication: tampered tokens', () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const cases: [string, () => Promise<string>][] = [
    [
      'alg none',
      async () =>
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'dave', iss: 'grantflow-dev', aud: 'grantflow', exp: 4102444800 })}.`,
    ],
    ['wrong key', async () => signDevToken({ userId: 'dave', secret: 'some-other-secret-0123456789' })],
    ['expired', async () => signDevToken({ userId: 'dave', secret: SECRET, ttl: '-1h' })],
    [
      'subject swapped under a valid signature',
      async () => {
        const [h, , s] = (await signDevToken({ userId: mal, secret: SECRET })).split('.');
        return `${h}.${b64({ sub: 'dave', iss: 'grantflow-dev', aud: 'grantflow', exp: 4102444800 })}.${s}`;
      },
    ],
    ['wrong audience', async () => signDevToken({ userId: 'dave', secret: SECRET, audience: 'another-app' })],
  ];
  test.each(cases)('%s: 401, and nothing is read', async (_name, token) => {
    const res = await request(app())
      .get('/v1/audit/verify')
      .set('Authorization', `Bearer ${await token()}`);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).not.toHaveProperty('ok');
  });
});

describe('self-approval through the back doors', () => {
  test('escalation never makes the requester an approver of their own request', async () => {
    // sec is in the security group, which is the last link of every fallback chain.
    const id = (await submit(sec, { entitlement: 'analytics-db:read' })).id;
    const escalated = await until(id, (v) => v.stages[0]?.escalated === true);
    expect(escalated.pendingApprovers).toEqual(expect.arrayContaining(['erin', 'dave']));
    expect(escalated.pendingApprovers).not.toContain(sec);
    const res = await post(sec, `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(res.status).toBe(403);
    expect(res.body.refusal).toBe('SelfApproval');
    expect(await decisions(id)).toBe(0);
    expect((await post(sec, `/v1/requests/${id}/cancel`, {})).status).toBe(200);
  });

  test('a delegate cannot approve their own request on behalf of the person they stand in for', async () => {
    // Frank owns analytics-db and delegates to Grace; Grace asks for write access.
    const id = (await submit('grace', { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-99' } })).id;
    await until(id, (v) => v.pendingApprovers.includes('erin'));
    expect((await post('erin', `/v1/requests/${id}/decisions`, { decision: 'approve' })).status).toBe(200);
    const ownerStage = await until(id, (v) => v.stages[1]?.status === 'open');
    expect(ownerStage.stages[1]?.approvers).toContain('frank');
    expect(ownerStage.stages[1]?.approvers).not.toContain('grace');
    const res = await post('grace', `/v1/requests/${id}/decisions`, { decision: 'approve' });
    expect(res.status).toBe(403);
    expect(res.body.refusal).toBe('SelfApproval');
    expect((await post('grace', `/v1/requests/${id}/cancel`, {})).status).toBe(200);
    await until(id, (v) => v.status === 'cancelled');
  });
});

describe('audit tampering is caught by GET /v1/audit/verify', () => {
  // The attacker is the database owner, past the trigger (a copy has none) and the application's missing rights.
  const owner = new pg.Pool({
    connectionString: process.env.GRANTFLOW_TEST_ADMIN_DATABASE_URL ?? process.env.DATABASE_URL,
    max: 2,
  });
  afterAll(() => owner.end());

  /**
   * Each attack works on a copy of the real chain in a schema of its own, so other suites keep a valid trail. The
   * copy is checkpointed through the API before the attack, as the worker's periodic checkpoint would have done.
   */
  async function attacked(attack: string): Promise<{ app: Express; drop: () => Promise<void> }> {
    const schema = `tamper_${randomBytes(5).toString('hex')}`;
    await owner.query(`CREATE SCHEMA ${schema}`);
    // A plain copy, without constraints, so an attacker's reordering is possible at all.
    await owner.query(`CREATE TABLE ${schema}.audit_events AS SELECT * FROM public.audit_events`);
    await owner.query(`GRANT USAGE ON SCHEMA ${schema} TO grantflow_app`);
    await owner.query(`GRANT SELECT, INSERT ON ${schema}.audit_events TO grantflow_app`);
    const pool = new pg.Pool({
      connectionString: process.env.DATABASE_URL,
      max: 2,
      options: `-c search_path=${schema},public`,
    });
    const app = appFor(pool);
    const checkpoint = await request(app)
      .post('/v1/audit/checkpoints')
      .set('Authorization', await bearer('dave'));
    expect(checkpoint.status).toBe(201);
    await owner.query(`SET search_path = ${schema}; ${attack}; RESET search_path`);
    return {
      app,
      drop: async () => {
        apps.splice(apps.indexOf(app), 1);
        await pool.end();
        await owner.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  }

  test('the untouched chain verifies against a checkpoint, whose key anyone signed in can fetch', async () => {
    expect((await post('dave', '/v1/audit/checkpoints')).status).toBe(201);
    const res = await get('dave', '/v1/audit/verify');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, macChecked: true, checkpoint: { holds: true }, findings: [] });
    const key = await get(amy, '/v1/audit/checkpoints/key');
    expect(key.status).toBe(200);
    expect(key.body).toMatchObject({ algorithm: 'Ed25519', keyId: res.body.checkpoint.keyId });
    expect((await post(amy, '/v1/audit/checkpoints')).status).toBe(403);
  });

  test('an export verifies offline with only the pinned public key, and the verifier agrees with the API', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-export-'));
    try {
      const exported = await get('dave', '/v1/audit/export?format=json');
      expect(exported.status).toBe(200);
      const doc = JSON.parse(exported.text) as {
        checkpoint: { seq: number };
        events: { seq: number; actor: string }[];
      };
      const key = await get('dave', '/v1/audit/checkpoints/key');
      fs.writeFileSync(path.join(dir, 'key.json'), JSON.stringify(key.body));
      fs.writeFileSync(path.join(dir, 'export.json'), exported.text);
      const offline = verifyCli(dir, 'export.json');
      expect(offline.status).toBe(0);
      const api = (await get('dave', '/v1/audit/verify')).body;
      expect(offline.verdict).toMatchObject({ ok: true, keySource: 'pinned', findings: [] });
      // The API has seen events since the export; up to the export's checkpoint both read the same chain.
      expect(offline.verdict.checkpoint).toMatchObject({ seq: doc.checkpoint.seq, holds: true });
      expect(api.head.seq).toBeGreaterThanOrEqual(offline.verdict.head.seq);

      // One event edited in the file after the fact: named by seq, exit code 1.
      const victim = doc.events[3] as { seq: number; actor: string };
      victim.actor = 'mallory';
      fs.writeFileSync(path.join(dir, 'edited.json'), JSON.stringify(doc));
      const edited = verifyCli(dir, 'edited.json');
      expect(edited.status).toBe(1);
      expect(edited.verdict.findings[0]).toMatchObject({ kind: 'changed', seq: victim.seq });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const nth = (n: number) => `(SELECT seq FROM audit_events ORDER BY seq OFFSET ${n} LIMIT 1)`;
  test.each([
    ['one changed byte', `UPDATE audit_events SET actor = actor || 'x' WHERE seq = ${nth(2)}`, 'changed'],
    ['a deleted event', `DELETE FROM audit_events WHERE seq = ${nth(3)}`, 'missing'],
    [
      'two events swapped',
      `UPDATE audit_events SET seq = CASE WHEN seq = ${nth(4)} THEN ${nth(5)} ELSE ${nth(4)} END
        WHERE seq IN (${nth(4)}, ${nth(5)})`,
      'reordered',
    ],
    [
      'the newest event deleted',
      'DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)',
      'tail_cut',
    ],
  ])('%s', async (_name, attack, kind) => {
    const copy = await attacked(attack);
    try {
      const res = await request(copy.app)
        .get('/v1/audit/verify')
        .set('Authorization', await bearer('dave'));
      expect(res.status).toBe(200);
      expect(res.body.ok).toBe(false);
      expect(res.body.findings[0]).toEqual(
        expect.objectContaining({ kind, seq: expect.any(Number), message: expect.any(String) }),
      );
    } finally {
      await copy.drop();
    }
  });
});
