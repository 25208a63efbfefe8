import { clockForStage, stageClock, type StageClockInput } from '../../activities/calendar';
import { calendarSchema } from '../../domain/model';
import { demoConfig } from './demo-config';

const HOUR = 3_600_000;
const berlin = calendarSchema.parse({ timeZone: 'Europe/Berlin', hours: { from: '09:00', to: '17:00' } });
const stage = (overrides: Partial<StageClockInput>): StageClockInput => ({
  openedAt: '2026-11-27T15:00:00Z', // Friday 16:00 in Berlin
  remindersMs: [],
  escalateAfterMs: 8 * HOUR,
  deadlineMs: 24 * HOUR,
  clock: 'business',
  approvers: [{ id: 'bob' }],
  calendar: berlin,
  ...overrides,
});

describe('business-hours SLAs', () => {
  it("escalates on the approver's next working day: Friday 16:00 plus 8 working hours is Monday 16:00", () => {
    const clock = stageClock(stage({}));
    expect(clock.clock).toBe('business');
    expect(clock.escalatesAt).toBe('2026-11-30T15:00:00.000Z');
    // 1 h on Friday, 8 on Monday, 8 on Tuesday, 7 on Wednesday.
    expect(clock.deadlineAt).toBe('2026-12-02T15:00:00.000Z');
    expect(clock.calendar).toBe('business hours (mon, tue, wed, thu, fri 09:00–17:00) in Europe/Berlin');
  });

  it('skips holidays from the calendar', () => {
    const calendar = calendarSchema.parse({ ...berlin, holidays: ['2026-11-30'] });
    expect(stageClock(stage({ calendar })).escalatesAt).toBe('2026-12-01T15:00:00.000Z');
  });

  it('starts counting at the next working morning when the stage opens at night or at a weekend', () => {
    const clock = stageClock(stage({ openedAt: '2026-11-28T02:00:00Z', escalateAfterMs: 2 * HOUR }));
    expect(clock.escalatesAt).toBe('2026-11-30T10:00:00.000Z'); // Monday 11:00 in Berlin
  });

  it("counts each approver's own zone and takes the latest, so nobody loses working hours", () => {
    const clock = stageClock(
      stage({ approvers: [{ id: 'bob' }, { id: 'nora', timeZone: 'America/New_York' }], escalateAfterMs: 2 * HOUR }),
    );
    // Berlin: Friday 16-17 and Monday 9-10. New York (10:00 there on Friday): Friday 10:00-12:00.
    expect(clock.escalatesAt).toBe('2026-11-30T09:00:00.000Z');
    expect(clock.calendar).toContain('in Europe/Berlin, America/New_York');
  });

  it('follows daylight-saving changes of the zone', () => {
    // New York leaves summer time on Sunday 1 November 2026: Friday ends at 21:00 UTC, Monday starts at 14:00 UTC.
    const clock = stageClock(
      stage({
        openedAt: '2026-10-30T20:00:00Z',
        escalateAfterMs: 2 * HOUR,
        approvers: [{ id: 'nora', timeZone: 'America/New_York' }],
      }),
    );
    expect(clock.escalatesAt).toBe('2026-11-02T15:00:00.000Z');
  });

  it('counts wall-clock time for a stage without a business clock', () => {
    const clock = stageClock(stage({ clock: undefined }));
    expect(clock).toMatchObject({
      clock: 'wall',
      calendar: 'wall clock (UTC)',
      escalatesAt: '2026-11-27T23:00:00.000Z',
      deadlineAt: '2026-11-28T15:00:00.000Z',
    });
  });
});

describe('reminders', () => {
  it("arrive in each approver's working morning, not at night", () => {
    const clock = stageClock(
      stage({
        clock: undefined,
        openedAt: '2026-11-24T20:00:00Z',
        remindersMs: [8 * HOUR], // due 04:00 UTC: 05:00 in Berlin, 23:00 in New York
        escalateAfterMs: undefined,
        deadlineMs: 72 * HOUR,
        approvers: [{ id: 'bob' }, { id: 'nora', timeZone: 'America/New_York' }],
      }),
    );
    expect(clock.reminders).toEqual([
      { at: '2026-11-25T08:00:00.000Z', approvers: ['bob'] }, // 09:00 in Berlin
      { at: '2026-11-25T14:00:00.000Z', approvers: ['nora'] }, // 09:00 in New York
    ]);
  });

  it('come when due inside working hours, and are dropped when the morning is past the deadline', () => {
    const due = stageClock(stage({ clock: undefined, openedAt: '2026-11-24T09:00:00Z', remindersMs: [HOUR] }));
    expect(due.reminders).toEqual([{ at: '2026-11-24T10:00:00.000Z', approvers: ['bob'] }]);
    const late = stageClock(
      stage({ clock: undefined, openedAt: '2026-11-24T20:00:00Z', remindersMs: [HOUR], deadlineMs: 6 * HOUR }),
    );
    expect(late.reminders).toEqual([]);
  });

  it('break-glass ignores calendars: wall clock, reminders when due', () => {
    const clock = stageClock(
      stage({ breakGlass: true, openedAt: '2026-11-28T02:00:00Z', remindersMs: [HOUR], escalateAfterMs: 2 * HOUR }),
    );
    expect(clock).toMatchObject({
      clock: 'wall',
      escalatesAt: '2026-11-28T04:00:00.000Z',
      reminders: [{ at: '2026-11-28T03:00:00.000Z', approvers: ['bob'] }],
    });
  });
});

describe('calendars in the configuration', () => {
  const withCalendar = demoConfig((raw) => {
    raw.policy.calendar = { timeZone: 'Europe/Berlin', holidays: ['2026-12-25'] };
    const medium = raw.policy.rules.find((r) => r.name === 'medium');
    if (!medium || medium.plan === 'auto-approve') throw new Error('no medium rule');
    medium.plan[0]!.sla.clock = 'business';
    raw.directory.users.find((u) => u.id === 'bob')!.timeZone = 'America/New_York';
  });

  it("takes each approver's time zone from the directory", () => {
    const clock = clockForStage(withCalendar, {
      openedAt: '2026-11-27T15:00:00Z', // Friday 10:00 in New York
      stage: {
        name: 'manager',
        quorum: 'any',
        approvers: ['bob'],
        fallback: [],
        required: 1,
        remindersMs: [],
        escalateAfterMs: 8 * HOUR,
        deadlineMs: 72 * HOUR,
        clock: 'business',
      },
    });
    expect(clock.escalatesAt).toBe('2026-11-30T15:00:00.000Z'); // Monday 10:00 in New York
    expect(clock.calendar).toContain('America/New_York');
  });

  it('refuses a business clock without a calendar, a break-glass review on business hours and an unknown zone', () => {
    expect(() =>
      demoConfig((raw) => {
        raw.directory.users[0]!.timeZone = 'Mars/Olympus';
      }),
    ).toThrow('directory.yaml: users[0].timeZone: must be an IANA time zone such as Europe/Berlin or America/New_York');
    expect(() =>
      demoConfig((raw) => {
        raw.policy.rules[1]!.plan = [
          { name: 'x', approvers: ['manager'], sla: { deadline: 'PT8H', clock: 'business' } },
        ];
        raw.policy.breakGlassReview.sla.clock = 'business';
        delete raw.policy.calendar;
      }),
    ).toThrow(
      /breakGlassReview\.sla\.clock: break-glass ignores calendars[\s\S]*rules\[1\]\.plan\[0\]\.sla\.clock: a business-hours SLA needs a policy calendar/,
    );
    expect(() =>
      demoConfig((raw) => {
        raw.policy.calendar = { hours: { from: '09:00', to: '17:00' }, remindAt: '07:00' };
      }),
    ).toThrow(/calendar\.remindAt: remindAt must be within working hours/);
  });
});
