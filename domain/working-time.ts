/*
 * Business-hours arithmetic the workflow can do itself. Time zones, daylight saving and holidays are resolved once,
 * by the activity that evaluates the request (activities/calendar.ts, with luxon), into plain instants: each
 * approver zone's working periods and reminder mornings for the weeks ahead. The workflow counts working time over
 * those instants only, so a replay computes the same deadlines even on a worker whose time-zone rules changed since.
 */

/** One zone's working time, as UTC milliseconds, from when the table was made. */
export interface WorkingZone {
  zone: string;
  /** The approvers who work in this zone. */
  approvers: string[];
  /** Working periods `[start, end)` in order, holidays and days off left out. */
  periods: [number, number][];
  /** The calendar's `remindAt` on each working day, in order. */
  mornings: number[];
}

/** A stage's approvers' working time, attached to a business-hours stage when the policy is evaluated. */
export interface WorkingTime {
  /** What the view shows beside the deadlines, e.g. `business hours (mon, tue … 09:00–17:00) in Europe/Berlin`. */
  calendar: string;
  zones: WorkingZone[];
  /** The table covers [from, until); a stage that would need time beyond it counts wall-clock time instead. */
  from: number;
  until: number;
}

export interface StageTimes {
  escalatesAt?: number;
  deadlineAt: number;
  /** When to remind whom: in each approver's working hours, never at or after the deadline. */
  reminders: { at: number; approvers: string[] }[];
}

/** The instant `ms` of working time after `start` in these periods, or undefined when the table runs out first. */
export function addWorking(periods: readonly [number, number][], start: number, ms: number): number | undefined {
  let left = ms;
  for (const [from, to] of periods) {
    if (to <= start) continue;
    const begin = Math.max(from, start);
    const available = to - begin;
    if (left <= available) return begin + left;
    left -= available;
  }
  return undefined;
}

/** `due` itself when it falls in working hours of the zone; otherwise the zone's next morning after it. */
export function reminderTime(zone: WorkingZone, due: number): number | undefined {
  if (zone.periods.some(([from, to]) => due >= from && due < to)) return due;
  return zone.mornings.find((m) => m > due);
}

/**
 * A business-hours stage's escalation, deadline and reminders, counted from `opened` in each approver's working time;
 * the stage takes the latest, so no approver loses working hours to someone else's time zone. Undefined when the
 * table does not reach far enough (the caller falls back to wall-clock time).
 */
export function stageTimes(
  wt: WorkingTime,
  opened: number,
  sla: { remindersMs: readonly number[]; escalateAfterMs?: number; deadlineMs: number },
): StageTimes | undefined {
  if (opened < wt.from || wt.zones.length === 0) return undefined;
  const after = (ms: number): number | undefined => {
    let latest = -Infinity;
    for (const zone of wt.zones) {
      const t = addWorking(zone.periods, opened, ms);
      if (t === undefined) return undefined;
      latest = Math.max(latest, t);
    }
    return latest;
  };
  const deadlineAt = after(sla.deadlineMs);
  const escalatesAt = sla.escalateAfterMs !== undefined ? after(sla.escalateAfterMs) : undefined;
  if (deadlineAt === undefined || (sla.escalateAfterMs !== undefined && escalatesAt === undefined)) return undefined;

  const byTime = new Map<number, string[]>();
  for (const ms of sla.remindersMs) {
    const due = after(ms);
    if (due === undefined) return undefined;
    for (const zone of wt.zones) {
      const at = reminderTime(zone, due);
      // A reminder that could only come after the deadline is dropped rather than sent at night.
      if (at === undefined || at >= deadlineAt) continue;
      byTime.set(at, [...(byTime.get(at) ?? []), ...zone.approvers]);
    }
  }
  const reminders = [...byTime.entries()]
    .sort(([a], [b]) => a - b)
    .map(([at, approvers]) => ({ at, approvers: [...new Set(approvers)] }));
  return { ...(escalatesAt !== undefined && { escalatesAt }), deadlineAt, reminders };
}
