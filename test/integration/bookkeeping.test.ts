import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createActivities, type Activities } from '../../activities';
import type { BookkeepingStep, RequestProjection } from '../../activities/types';
import { loadConfig } from '../../platform/config-files';
import { createLogger } from '../../platform/logger';

/**
 * The request workflow's bookkeeping (issue 14): one state transition's audit events, projection row and
 * notification outbox rows in one PostgreSQL transaction, idempotent under retries, and notifications sent after the
 * commit, once per key.
 */
const run = randomBytes(4).toString('hex');
let counter = 0;
const newId = () => `bk-${run}-${++counter}`;
// A person of its own: every suite of a run shares the test database, and the open requests these rows describe
// would make another suite's request for the same entitlement a duplicate (`already_requested`).
const person = `bk-person-${run}`;
const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
const config = loadConfig('config/demo');
let pool: pg.Pool;
let activities: Activities;

beforeAll(() => {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 5 });
  activities = createActivities({ pool, config, log });
});
afterAll(() => pool.end());

function projection(requestId: string, revision: number, over: Partial<RequestProjection> = {}): RequestProjection {
  return {
    requestId,
    revision,
    requester: person,
    beneficiary: person,
    entitlement: 'github:member',
    resource: 'github',
    breakGlass: false,
    status: 'provisioning',
    justification: 'Needed for the release work.',
    pendingApprovers: [],
    involved: [],
    submittedAt: '2026-01-01T00:00:00.000Z',
    escalated: false,
    autoApproved: true,
    view: { id: requestId, status: 'provisioning' },
    ...over,
  };
}

function step(requestId: string, revision: number, over: Partial<RequestProjection> = {}): BookkeepingStep {
  return {
    events: [
      {
        eventId: `${requestId}:${revision}:validated`,
        requestId,
        actor: 'system',
        action: 'validated',
        at: '2026-01-01T00:00:01.000Z',
      },
      {
        eventId: `${requestId}:${revision + 1}:auto_approved`,
        requestId,
        actor: 'system',
        action: 'auto_approved',
        at: '2026-01-01T00:00:01.000Z',
      },
    ],
    notifications: [
      {
        key: `${requestId}:active`,
        requestId,
        to: [person],
        subject: 'Access granted',
        text: `${person} has github:member.`,
      },
    ],
    projection: projection(requestId, revision, over),
  };
}

async function written(requestId: string) {
  const events = await pool.query<{ action: string }>(
    'SELECT action FROM audit_events WHERE request_id = $1 ORDER BY seq',
    [requestId],
  );
  const rows = await pool.query<{ revision: number; status: string }>(
    'SELECT revision, status FROM requests WHERE id = $1',
    [requestId],
  );
  const outbox = await pool.query<{ key: string; body: string; sent: boolean }>(
    'SELECT key, body, sent_at IS NOT NULL AS sent FROM notifications WHERE request_id = $1',
    [requestId],
  );
  return { events: events.rows.map((r) => r.action), projection: rows.rows, outbox: outbox.rows };
}

test('a transition whose projection PostgreSQL refuses writes neither its audit events nor its notifications', async () => {
  const id = newId();
  // An unreadable time: PostgreSQL refuses the projection row (SQLSTATE 22007) after the events were appended in
  // the same transaction. Written one after the other (the old bookkeeping), the events would stay.
  await expect(activities.bookkeep(step(id, 1, { submittedAt: 'not a time' }))).rejects.toThrow(/time|date/i);
  expect(await written(id)).toEqual({ events: [], projection: [], outbox: [] });
});

test('a retried or doubled transition is written once: events by id, the row by revision, notifications by key', async () => {
  const id = newId();
  const s = step(id, 1);
  // Twice at once (a retry racing its first attempt) and once more after.
  await Promise.all([activities.bookkeep(s), activities.bookkeep(s)]);
  await activities.bookkeep(s);
  expect(await written(id)).toEqual({
    events: ['validated', 'auto_approved'],
    projection: [{ revision: 1, status: 'provisioning' }],
    outbox: [{ key: `${id}:active`, body: `${person} has github:member.`, sent: true }],
  });
  // An older revision arriving late loses; a newer one wins.
  await activities.bookkeep({ ...step(id, 0), events: [], notifications: [] });
  await activities.bookkeep({ events: [], notifications: [], projection: projection(id, 2, { status: 'active' }) });
  expect((await written(id)).projection).toEqual([{ revision: 2, status: 'active' }]);
});

test('concurrent transitions of many requests share transactions and each is complete', async () => {
  const ids = Array.from({ length: 30 }, () => newId());
  await Promise.all(ids.map((id) => activities.bookkeep(step(id, 1))));
  for (const id of ids) {
    expect(await written(id)).toMatchObject({
      events: ['validated', 'auto_approved'],
      projection: [{ revision: 1 }],
      outbox: [{ sent: true }],
    });
  }
});

describe('with a chat webhook', () => {
  let answers: number[] = [];
  const received: string[] = [];
  const chat = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(body);
      res.writeHead(answers.shift() ?? 200).end('ok');
    });
  });
  beforeAll(() => new Promise<void>((resolve) => chat.listen(0, '127.0.0.1', resolve)));
  afterAll(() => new Promise<void>((resolve) => chat.close(() => resolve())));

  test('the notification is sent after the commit, and a failed send is retried and sent once', async () => {
    const acts = createActivities({
      pool,
      config,
      log,
      notifyWebhookUrl: `http://127.0.0.1:${(chat.address() as AddressInfo).port}/hook`,
    });
    const id = newId();
    answers = [503];
    received.length = 0;
    // The chat is down: the transition is written (its outbox row unsent) and the activity fails, to be retried.
    await expect(acts.bookkeep(step(id, 1))).rejects.toThrow(/503/);
    expect(await written(id)).toMatchObject({
      events: ['validated', 'auto_approved'],
      outbox: [{ key: `${id}:active`, sent: false }],
    });
    await acts.bookkeep(step(id, 1));
    await acts.bookkeep(step(id, 1));
    expect(received).toHaveLength(2); // the refused attempt and the one that went through; not a third
    expect((await written(id)).outbox).toEqual([
      { key: `${id}:active`, body: `${person} has github:member.`, sent: true },
    ]);
    expect((await written(id)).events).toEqual(['validated', 'auto_approved']);
  });
});
