import { DateTime, Interval } from 'luxon';
import type { Config } from '../domain/config';
import type { Calendar, Evaluation, ResolvedStage, Weekday } from '../domain/model';
import type { WorkingTime } from '../domain/working-time';

/*
 * Business-hours arithmetic over an approver's calendar and time zone, with luxon (time-zone rules from the
 * platform's ICU database, daylight-saving gaps and overlaps handled). It lives beside the activities, not in
 * domain/, because the workflow bundle must not carry a date library: the workflow asks an activity for a stage's
 * times when the stage opens, and the answer, recorded in history, replays the same even if the zone rules change.
 */

const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
/** A calendar with no working time for this long is a configuration mistake, not a reason to loop forever. */
const SEARCH_DAYS = 366 * 2;

export interface Approver {
  id: string;
  /** From the directory; absent: the calendar's zone. */
  timeZone?: string;
}

export interface StageClockInput {
  /** When the stage opened (ISO-8601). */
  openedAt: string;
  remindersMs: number[];
  escalateAfterMs?: number;
  deadlineMs: number;
  /** `business`: the durations count working time of each approver's calendar; absent: wall-clock time. */
  clock?: 'business';
  approvers: Approver[];
  /** The policy calendar; absent: wall-clock time and reminders whenever they fall. */
  calendar?: Calendar;
  /** Break-glass ignores calendars: its clock is the wall clock and reminders come when due. */
  breakGlass?: boolean;
}

export interface StageClock {
  clock: 'wall' | 'business';
  /** What the view shows beside the deadlines, e.g. `business hours (mon–fri 09:00–17:00) in Europe/Berlin`. */
  calendar: string;
  escalatesAt?: string;
  deadlineAt: string;
  /** When to remind whom: in each approver's working hours, never after the deadline. */
  reminders: { at: string; approvers: string[] }[];
}

/**
 * A stage's escalation, deadline and reminders. With a business clock each approver's own working time is counted
 * and the stage takes the latest, so no approver loses working hours to someone else's time zone.
 */
export function stageClock(input: StageClockInput): StageClock {
  const opened = DateTime.fromISO(input.openedAt, { zone: 'utc' });
  if (!opened.isValid) throw new Error(`openedAt "${input.openedAt}" is not an ISO-8601 time`);
  const calendar = input.breakGlass ? undefined : input.calendar;
  const business = calendar !== undefined && input.clock === 'business';
  const zones = [...new Set(input.approvers.map((a) => zoneOf(a, calendar)))];
  if (zones.length === 0) zones.push(calendar?.timeZone ?? 'UTC');

  const after = (ms: number): DateTime =>
    business && calendar
      ? latest(zones.map((zone) => addWorkingTime(opened, ms, calendar, zone)))
      : opened.plus({ milliseconds: ms });
  const deadline = after(input.deadlineMs);
  const escalates = input.escalateAfterMs !== undefined ? after(input.escalateAfterMs) : undefined;

  const reminders = new Map<string, string[]>();
  for (const ms of input.remindersMs) {
    const due = after(ms);
    for (const approver of input.approvers) {
      const at = calendar ? nextReminderTime(due, calendar, zoneOf(approver, calendar)) : due;
      // A reminder that could only come after the deadline is dropped rather than sent at night.
      if (at >= deadline) continue;
      const key = iso(at);
      reminders.set(key, [...(reminders.get(key) ?? []), approver.id]);
    }
  }
  return {
    clock: business ? 'business' : 'wall',
    calendar: business && calendar ? describe(calendar, zones) : 'wall clock (UTC)',
    ...(escalates && { escalatesAt: iso(escalates) }),
    deadlineAt: iso(deadline),
    reminders: [...reminders.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([at, approvers]) => ({ at, approvers })),
  };
}

/**
 * What the workflow's activity answers when a stage opens: the stage's times for the people who may decide now
 * (their time zones from the directory) under the policy calendar.
 */
export function clockForStage(
  config: Config,
  input: { openedAt: string; stage: ResolvedStage; approvers?: string[]; breakGlass?: boolean },
): StageClock {
  const { stage } = input;
  return stageClock({
    openedAt: input.openedAt,
    remindersMs: stage.remindersMs,
    ...(stage.escalateAfterMs !== undefined && { escalateAfterMs: stage.escalateAfterMs }),
    deadlineMs: stage.deadlineMs,
    ...(stage.clock && { clock: stage.clock }),
    approvers: (input.approvers ?? stage.approvers).map((id) => {
      const timeZone = config.users.get(id)?.timeZone;
      return { id, ...(timeZone !== undefined && { timeZone }) };
    }),
    ...(config.policy.calendar && { calendar: config.policy.calendar }),
    ...(input.breakGlass !== undefined && { breakGlass: input.breakGlass }),
  });
}

/** How far ahead a business-hours stage's working time is resolved: later stages of a plan open weeks after it. */
export const WORKING_TIME_DAYS = 120;

/**
 * The working time a business-hours stage needs, resolved to instants (domain/working-time.ts says why): each
 * approver zone's working periods and reminder mornings from `from` for `days` days. Undefined for a stage that
 * counts wall-clock time, for break-glass, and without a policy calendar.
 */
export function workingTimeFor(
  config: Config,
  stage: ResolvedStage,
  from: string,
  opts: { breakGlass?: boolean; days?: number } = {},
): WorkingTime | undefined {
  const calendar = config.policy.calendar;
  if (!calendar || stage.clock !== 'business' || opts.breakGlass) return undefined;
  const start = DateTime.fromISO(from, { zone: 'utc' });
  if (!start.isValid) throw new Error(`"${from}" is not an ISO-8601 time`);
  const end = start.plus({ days: opts.days ?? WORKING_TIME_DAYS });
  const byZone = new Map<string, string[]>();
  for (const id of stage.approvers) {
    const timeZone = config.users.get(id)?.timeZone;
    const zone = zoneOf({ id, ...(timeZone !== undefined && { timeZone }) }, calendar);
    byZone.set(zone, [...(byZone.get(zone) ?? []), id]);
  }
  if (byZone.size === 0) byZone.set(calendar.timeZone, []);
  const [hour = 9, minute = 0] = calendar.remindAt.split(':').map(Number);
  const zones = [...byZone.entries()].map(([zone, approvers]) => {
    const periods: [number, number][] = [];
    const mornings: number[] = [];
    // From the local day before, so a period that began before `from` in a zone behind UTC is not lost.
    for (let day = start.setZone(zone).startOf('day').minus({ days: 1 }); day < end; day = day.plus({ days: 1 })) {
      const hours = workingHours(day, calendar);
      if (!hours?.start || !hours.end) continue;
      const [a, b] = [
        Math.max(hours.start.toMillis(), start.toMillis()),
        Math.min(hours.end.toMillis(), end.toMillis()),
      ];
      if (a < b) periods.push([a, b]);
      const morning = day.set({ hour, minute }).toMillis();
      if (morning >= start.toMillis() && morning < end.toMillis()) mornings.push(morning);
    }
    return { zone, approvers, periods, mornings };
  });
  return {
    calendar: describe(
      calendar,
      zones.map((z) => z.zone),
    ),
    zones,
    from: start.toMillis(),
    until: end.toMillis(),
  };
}

/** The evaluation with each business-hours stage's working time attached, from `now` (when the first one opens). */
export function withWorkingTime(evaluation: Evaluation, config: Config, now: string): Evaluation {
  if (!evaluation.valid || evaluation.plan.kind !== 'stages') return evaluation;
  const stages = evaluation.plan.stages.map((stage) => {
    const workingTime = workingTimeFor(config, stage, now);
    return workingTime ? { ...stage, workingTime } : stage;
  });
  return { ...evaluation, plan: { ...evaluation.plan, stages } };
}

/** The instant `ms` of working time after `start`, counted in `zone` on the calendar's working days and hours. */
export function addWorkingTime(start: DateTime, ms: number, calendar: Calendar, zone: string): DateTime {
  let left = ms;
  let day = start.setZone(zone).startOf('day');
  for (let i = 0; i < SEARCH_DAYS; i += 1, day = day.plus({ days: 1 })) {
    const hours = workingHours(day, calendar);
    if (!hours) continue;
    const from = hours.start && hours.start > start ? hours.start : start;
    if (!hours.end || from >= hours.end) continue;
    const available = hours.end.toMillis() - from.toMillis();
    if (left <= available) return from.plus({ milliseconds: left }).setZone('utc');
    left -= available;
  }
  throw new Error(`the calendar has no working time in ${SEARCH_DAYS} days after ${iso(start)} in ${zone}`);
}

/** `due` itself when it falls in working hours in `zone`; otherwise `remindAt` on the next working day. */
export function nextReminderTime(due: DateTime, calendar: Calendar, zone: string): DateTime {
  const local = due.setZone(zone);
  const today = workingHours(local.startOf('day'), calendar);
  if (today?.contains(local)) return due;
  const [hour = 9, minute = 0] = calendar.remindAt.split(':').map(Number);
  let day = local.startOf('day');
  for (let i = 0; i < SEARCH_DAYS; i += 1, day = day.plus({ days: 1 })) {
    if (!workingHours(day, calendar)) continue;
    const at = day.set({ hour, minute });
    if (at > local) return at.setZone('utc');
  }
  throw new Error(`the calendar has no working day in ${SEARCH_DAYS} days after ${iso(due)} in ${zone}`);
}

/** The working hours of a local day, or undefined on a day off (weekend or holiday). */
function workingHours(day: DateTime, calendar: Calendar): Interval | undefined {
  const weekday = WEEKDAYS[day.weekday - 1];
  if (!weekday || !calendar.workingDays.includes(weekday)) return undefined;
  if (calendar.holidays.includes(day.toISODate() ?? '')) return undefined;
  const at = (time: string) => {
    const [hour = 0, minute = 0] = time.split(':').map(Number);
    return day.set({ hour, minute });
  };
  return Interval.fromDateTimes(at(calendar.hours.from), at(calendar.hours.to));
}

function zoneOf(approver: Approver, calendar: Calendar | undefined): string {
  return approver.timeZone ?? calendar?.timeZone ?? 'UTC';
}

function latest(times: DateTime[]): DateTime {
  return times.reduce((a, b) => (b > a ? b : a));
}

function describe(calendar: Calendar, zones: string[]): string {
  const days = calendar.workingDays.join(', ');
  return `business hours (${days} ${calendar.hours.from}–${calendar.hours.to}) in ${zones.join(', ')}`;
}

function iso(t: DateTime): string {
  return t.toUTC().toISO({ suppressMilliseconds: false }) ?? '';
}
