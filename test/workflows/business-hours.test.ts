import { stageClock } from '../../activities/calendar';
import { calendarSchema } from '../../domain/model';
import type { RequestView } from '../../workflows/messages';
import { rawUser } from '../unit/demo-config';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';

jest.setTimeout(150_000);

// The working day begins at the next full minute (UTC), so a stage opened now waits for it: a business-hours SLA
// counts from there, while a wall-clock one would count from now. The approver's zone is UTC, the calendar's another
// (Kiritimati, 14 hours ahead), so the deadline must come from the approver's zone.
const opensAt = new Date(Math.ceil((Date.now() + 30_000) / 60_000) * 60_000);
const hhmm = (d: Date) => d.toISOString().slice(11, 16);
const from = hhmm(opensAt) < '23:58' ? hhmm(opensAt) : '00:00';
const calendar = {
  timeZone: 'Pacific/Kiritimati',
  workingDays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
  hours: { from, to: '23:59' },
  holidays: [],
  remindAt: from,
};
const SECOND = 1000;
// A person of this test's own, so the request it leaves pending claims nothing other tests ask for.
const ben = uniqueId('ben').replace(/[^a-z0-9-]/g, '');

let env: TestEnv;
beforeAll(async () => {
  env = await startEnv({
    title: 'business-hours',
    configure: (raw) => {
      raw.policy.calendar = calendar;
      rawUser(raw, 'bob').timeZone = 'UTC';
      raw.directory.users.push({ id: ben, name: 'Ben', department: 'engineering', manager: 'bob', groups: [] });
      const medium = raw.policy.rules.find((r: { name: string }) => r.name === 'medium');
      medium.plan[0].sla = { reminders: ['PT4S'], escalateAfter: 'PT8S', deadline: 'PT1H', clock: 'business' };
      return raw;
    },
  });
});
afterAll(async () => {
  await env?.stop();
});

test("a business-hours stage takes its deadlines from the approver's calendar, says which, and escalates then; tags are searchable", async () => {
  const id = uniqueId('bh');
  await env.submit(ben, { entitlement: 'analytics-db:read' }, id);
  const pending = await env.waitFor(id, (v) => v.status === 'pending_approval');
  const stage = pending.stages[0] as RequestView['stages'][number];
  const expected = stageClock({
    openedAt: stage.openedAt as string,
    remindersMs: [4 * SECOND],
    escalateAfterMs: 8 * SECOND,
    deadlineMs: 3600 * SECOND,
    clock: 'business',
    approvers: [{ id: 'bob', timeZone: 'UTC' }],
    calendar: calendarSchema.parse(calendar),
  });
  expect(stage).toMatchObject({
    calendar: `business hours (mon, tue, wed, thu, fri, sat, sun ${from}–23:59) in UTC`,
    escalatesAt: expected.escalatesAt,
    deadlineAt: expected.deadlineAt,
    reminders: expected.reminders,
  });
  const opened = Date.parse(stage.openedAt as string);
  if (from !== '00:00' && opened < opensAt.getTime()) {
    // Counted from the start of bob's working day, not from the opening.
    expect(Date.parse(stage.escalatesAt as string)).toBe(opensAt.getTime() + 8 * SECOND);
  } else {
    // A slow start-up opened the stage within working hours: counted from the opening.
    expect(Date.parse(stage.escalatesAt as string)).toBe(opened + 8 * SECOND);
  }

  const escalated = await env.waitFor(id, (v) => v.stages[0]?.escalated === true, 120_000);
  expect(escalated.stages[0]?.approvers.length).toBeGreaterThan(1);
  const { rows } = await env.pool.query<{ action: string; at: Date }>(
    `SELECT action, at FROM audit_events WHERE request_id = $1 AND action IN ('reminded', 'escalated') ORDER BY seq`,
    [id],
  );
  expect(rows.map((r) => r.action)).toEqual(['reminded', 'escalated']);
  // Neither came before the calendar allowed it (the request's clock is the timer's, never earlier than it was set).
  expect(rows[0]?.at.getTime()).toBeGreaterThanOrEqual(Date.parse(expected.reminders[0]?.at as string));
  expect(rows[1]?.at.getTime()).toBeGreaterThanOrEqual(Date.parse(expected.escalatesAt as string));

  // The tags are search attributes too, so the Temporal UI can filter on them.
  expect(escalated.tags).toEqual({
    type: 'new',
    application: 'analytics-db',
    sensitivity: 'medium',
    urgency: 'normal',
    owners: ['frank'],
  });
  const workflowId = `access-request-${id}`;
  const query = `WorkflowId = '${workflowId}' AND GrantflowTags = 'sensitivity:medium' AND GrantflowTags = 'owner:frank'`;
  const found: string[] = [];
  for (let i = 0; i < 50 && found.length === 0; i++) {
    for await (const w of env.client.workflow.list({ query })) found.push(w.workflowId);
    if (found.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(found).toEqual([workflowId]);
  expect((await env.client.workflow.getHandle(workflowId).describe()).searchAttributes.GrantflowTags).toEqual([
    'type:new',
    'application:analytics-db',
    'sensitivity:medium',
    'urgency:normal',
    'owner:frank',
  ]);
});
