import fc from 'fast-check';
import { stageClock, workingTimeFor, WORKING_TIME_DAYS } from '../../activities/calendar';
import type { Config } from '../../domain/config';
import { calendarSchema, type Calendar, type ResolvedStage } from '../../domain/model';
import { stageTimes } from '../../domain/working-time';
import { demoConfig } from './demo-config';

// The workflow counts business hours over instants the evaluating activity resolved (domain/working-time.ts); these
// tests hold that arithmetic against the luxon reference (activities/calendar.ts stageClock) on fixed clocks.

const HOUR = 3_600_000;
const demo = demoConfig();
const ZONES: Record<string, string | undefined> = {
  bob: undefined,
  nora: 'America/New_York',
  ravi: 'Asia/Kolkata',
  kim: 'Australia/Sydney',
};
const calendarOf = (holidays: string[] = []): Calendar =>
  calendarSchema.parse({ timeZone: 'Europe/Berlin', hours: { from: '09:00', to: '17:00' }, holidays });

function configWith(calendar: Calendar): Config {
  const users = new Map(demo.users);
  for (const [id, timeZone] of Object.entries(ZONES)) {
    users.set(id, { id, name: id, groups: [], active: true, kind: 'human', ...(timeZone && { timeZone }) });
  }
  return { ...demo, users, policy: { ...demo.policy, calendar } };
}

function stage(approvers: string[], sla: { remindersMs?: number[]; escalateAfterMs?: number; deadlineMs: number }) {
  const spec: ResolvedStage = {
    name: 'manager',
    quorum: 'any',
    approvers,
    fallback: [],
    required: 1,
    remindersMs: sla.remindersMs ?? [],
    deadlineMs: sla.deadlineMs,
    ...(sla.escalateAfterMs !== undefined && { escalateAfterMs: sla.escalateAfterMs }),
    clock: 'business',
  };
  return spec;
}

/** What the workflow computes: the table made at `evaluatedAt`, the stage opened at `openedAt`. */
function workflowTimes(config: Config, spec: ResolvedStage, evaluatedAt: string, openedAt: string) {
  const wt = workingTimeFor(config, spec, evaluatedAt);
  if (!wt) throw new Error('no working time');
  const times = stageTimes(wt, Date.parse(openedAt), spec);
  if (!times) return undefined;
  const iso = (t: number) => new Date(t).toISOString();
  return {
    calendar: wt.calendar,
    escalatesAt: times.escalatesAt !== undefined ? iso(times.escalatesAt) : undefined,
    deadlineAt: iso(times.deadlineAt),
    reminders: times.reminders.map((r) => ({ at: iso(r.at), approvers: [...r.approvers].sort() })),
  };
}

function reference(config: Config, spec: ResolvedStage, openedAt: string) {
  const c = stageClock({
    openedAt,
    remindersMs: spec.remindersMs,
    ...(spec.escalateAfterMs !== undefined && { escalateAfterMs: spec.escalateAfterMs }),
    deadlineMs: spec.deadlineMs,
    clock: 'business',
    approvers: spec.approvers.map((id) => ({ id, ...(ZONES[id] && { timeZone: ZONES[id] }) })),
    ...(config.policy.calendar && { calendar: config.policy.calendar }),
  });
  return {
    calendar: c.calendar,
    escalatesAt: c.escalatesAt,
    deadlineAt: c.deadlineAt,
    // Two reminders due the same morning go out once.
    reminders: c.reminders.map((r) => ({ at: r.at, approvers: [...new Set(r.approvers)].sort() })),
  };
}

describe("the workflow's business-hours deadlines", () => {
  const config = configWith(calendarOf(['2026-12-24', '2026-12-25']));

  it("escalate on the approver's next working day on a fixed clock: Friday 16:00 + 8 h is Monday 16:00 in Berlin", () => {
    const spec = stage(['bob'], { escalateAfterMs: 8 * HOUR, deadlineMs: 24 * HOUR, remindersMs: [2 * HOUR] });
    const friday = '2026-11-27T15:00:00.000Z';
    expect(workflowTimes(config, spec, friday, friday)).toEqual({
      calendar: 'business hours (mon, tue, wed, thu, fri 09:00–17:00) in Europe/Berlin',
      escalatesAt: '2026-11-30T15:00:00.000Z',
      deadlineAt: '2026-12-02T15:00:00.000Z',
      // Due Monday 10:00, inside working hours.
      reminders: [{ at: '2026-11-30T09:00:00.000Z', approvers: ['bob'] }],
    });
  });

  it('skip holidays and follow a daylight-saving change of the approver’s zone', () => {
    // Wednesday 23 December 16:00 in Berlin: the 24th and 25th are holidays, then the weekend; 1 h + 8 h on Monday.
    const spec = stage(['bob'], { escalateAfterMs: 2 * HOUR, deadlineMs: 9 * HOUR });
    expect(workflowTimes(config, spec, '2026-12-23T15:00:00Z', '2026-12-23T15:00:00Z')).toMatchObject({
      escalatesAt: '2026-12-28T09:00:00.000Z',
      deadlineAt: '2026-12-28T16:00:00.000Z',
    });
    // New York leaves summer time on Sunday 1 November 2026: Friday ends at 21:00 UTC, Monday starts at 14:00 UTC.
    const nora = stage(['nora'], { escalateAfterMs: 2 * HOUR, deadlineMs: 24 * HOUR });
    expect(workflowTimes(config, nora, '2026-10-30T20:00:00Z', '2026-10-30T20:00:00Z')?.escalatesAt).toBe(
      '2026-11-02T15:00:00.000Z',
    );
  });

  it('agree with the reference for any opening, zones, SLA and reminders, also for a stage opened days later', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 360 * 24 * 60 }),
        fc.integer({ min: 0, max: 20 * 24 * 60 }),
        fc.subarray(Object.keys(ZONES), { minLength: 1 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 3 }),
        (evaluatedMin, laterMin, approvers, escalateH, extraH, remindersH) => {
          const evaluatedAt = new Date(start + evaluatedMin * 60_000).toISOString();
          const openedAt = new Date(start + (evaluatedMin + laterMin) * 60_000).toISOString();
          const spec = stage(approvers, {
            escalateAfterMs: escalateH * HOUR,
            deadlineMs: (escalateH + extraH) * HOUR,
            remindersMs: remindersH.map((h) => h * HOUR),
          });
          expect(workflowTimes(config, spec, evaluatedAt, openedAt)).toEqual(reference(config, spec, openedAt));
        },
      ),
      { seed: 20261202, numRuns: 40 },
    );
  });

  it('are not computed beyond the resolved weeks (the workflow then counts wall-clock time), nor without a calendar', () => {
    const spec = stage(['bob'], { deadlineMs: 8 * HOUR });
    const wt = workingTimeFor(config, spec, '2026-11-27T15:00:00Z');
    expect(wt && stageTimes(wt, wt.until - HOUR, spec)).toBeUndefined();
    expect(wt && stageTimes(wt, wt.from - 1, spec)).toBeUndefined();
    expect(wt && wt.until - wt.from).toBe(WORKING_TIME_DAYS * 24 * HOUR);
    expect(workingTimeFor(config, { ...spec, clock: undefined }, '2026-11-27T15:00:00Z')).toBeUndefined();
    expect(workingTimeFor(config, spec, '2026-11-27T15:00:00Z', { breakGlass: true })).toBeUndefined();
    const noCalendar = { ...config, policy: { ...config.policy, calendar: undefined } };
    expect(workingTimeFor(noCalendar, spec, '2026-11-27T15:00:00Z')).toBeUndefined();
  });
});
