/**
 * Reading workflow histories as fetchHistory() returns them: `historyStats` counts what a request left behind;
 * `timelineTo` says where its time went, from the server's own timestamps: waits in the task queues and time in the
 * worker, for activities and workflow tasks, up to the moment the grant went live (the workflow task that follows
 * the completion of the n-th activity: grantflow's `provision`, the skeleton's matching no-op).
 */

type RawEvent = Record<string, unknown>;

/**
 * Counts by kind; `activityTypes` by activity name. `activities` counts every activity the workflow ran, scheduled
 * (three events each) or local (one marker each, `localActivities` of them), so a path cannot look cheaper by moving
 * a call from one kind to the other.
 */
export interface HistoryStats {
  events: number;
  activities: number;
  localActivities: number;
  workflowTasks: number;
  timers: number;
  updates: number;
  activityTypes: Record<string, number>;
}

export function historyStats(events: readonly RawEvent[]): HistoryStats {
  const stats: HistoryStats = {
    events: events.length,
    activities: 0,
    localActivities: 0,
    workflowTasks: 0,
    timers: 0,
    updates: 0,
    activityTypes: {},
  };
  for (const e of events) {
    const local = localActivityOf(e);
    if (local) {
      stats.activities += 1;
      stats.localActivities += 1;
      const name = `${local} (local)`;
      stats.activityTypes[name] = (stats.activityTypes[name] ?? 0) + 1;
    }
    const scheduled = e.activityTaskScheduledEventAttributes as { activityType?: { name?: string } } | null | undefined;
    if (scheduled) {
      stats.activities += 1;
      const name = scheduled.activityType?.name ?? '?';
      stats.activityTypes[name] = (stats.activityTypes[name] ?? 0) + 1;
    }
    if (e.workflowTaskCompletedEventAttributes) stats.workflowTasks += 1;
    if (e.timerStartedEventAttributes) stats.timers += 1;
    if (e.workflowExecutionUpdateAcceptedEventAttributes) stats.updates += 1;
  }
  return stats;
}

/** The activity type of a local activity's marker (the SDK records one `core_local_activity` marker each). */
function localActivityOf(e: RawEvent): string | undefined {
  const m = e.markerRecordedEventAttributes as
    { markerName?: string; details?: Record<string, { payloads?: { data?: unknown }[] }> } | null | undefined;
  if (m?.markerName !== 'core_local_activity') return undefined;
  const data = m.details?.data?.payloads?.[0]?.data;
  try {
    const text =
      typeof data === 'string' ? Buffer.from(data, 'base64').toString() : Buffer.from(data as Uint8Array).toString();
    const parsed = JSON.parse(text) as { activityType?: string; activity_type?: string };
    return parsed.activityType ?? parsed.activity_type ?? '?';
  } catch {
    return '?';
  }
}

/** Per activity name: how many ran, and their summed wait in the task queue and time in the worker, ms. */
export type ActivityTimes = Record<string, { count: number; queueMs: number; runMs: number }>;

export function activityTimes(events: readonly RawEvent[]): ActivityTimes {
  const scheduled = new Map<number, { name: string; at: number }>();
  const started = new Map<number, { name: string; at: number }>();
  const out: ActivityTimes = {};
  for (const e of events) {
    const t = timeOf(e);
    const id = num(e.eventId);
    const s = e.activityTaskScheduledEventAttributes as { activityType?: { name?: string } } | null | undefined;
    if (s) scheduled.set(id, { name: s.activityType?.name ?? '?', at: t });
    const st = e.activityTaskStartedEventAttributes as { scheduledEventId?: unknown } | null | undefined;
    if (st) {
      const from = scheduled.get(num(st.scheduledEventId));
      if (from) {
        started.set(id, { name: from.name, at: t });
        const o = (out[from.name] ??= { count: 0, queueMs: 0, runMs: 0 });
        o.queueMs += t - from.at;
      }
    }
    const done = e.activityTaskCompletedEventAttributes as { startedEventId?: unknown } | null | undefined;
    if (done) {
      const from = started.get(num(done.startedEventId));
      const o = from && out[from.name];
      if (from && o) {
        o.count += 1;
        o.runMs += t - from.at;
      }
    }
  }
  return out;
}

export interface Timeline {
  /** Workflow started → the grant is live (its status changes in that workflow task). */
  toActiveMs: number;
  /** Summed over the activities and workflow tasks before that moment. */
  activityQueueMs: number;
  activityRunMs: number;
  taskQueueMs: number;
  taskRunMs: number;
  activities: number;
  workflowTasks: number;
}

function num(x: unknown): number {
  return x === undefined || x === null ? Number.NaN : Number(String(x));
}

function timeOf(e: RawEvent): number {
  const t = e.eventTime as { seconds?: unknown; nanos?: number } | undefined;
  return num(t?.seconds) * 1000 + (t?.nanos ?? 0) / 1e6;
}

export function timelineTo(events: readonly RawEvent[], nthActivity: number): Timeline | undefined {
  const at = new Map<number, number>();
  const result: Timeline = {
    toActiveMs: Number.NaN,
    activityQueueMs: 0,
    activityRunMs: 0,
    taskQueueMs: 0,
    taskRunMs: 0,
    activities: 0,
    workflowTasks: 0,
  };
  const start = events[0] ? timeOf(events[0]) : Number.NaN;
  let completedActivities = 0;
  for (const e of events) {
    const t = timeOf(e);
    at.set(num(e.eventId), t);
    const ref = (attrs: unknown, key: 'scheduledEventId' | 'startedEventId') =>
      at.get(num((attrs as Record<string, unknown>)[key])) ?? t;
    if (e.activityTaskStartedEventAttributes) {
      result.activityQueueMs += t - ref(e.activityTaskStartedEventAttributes, 'scheduledEventId');
    } else if (e.activityTaskCompletedEventAttributes) {
      result.activityRunMs += t - ref(e.activityTaskCompletedEventAttributes, 'startedEventId');
      result.activities += 1;
      completedActivities += 1;
    } else if (e.workflowTaskStartedEventAttributes) {
      result.taskQueueMs += t - ref(e.workflowTaskStartedEventAttributes, 'scheduledEventId');
    } else if (e.workflowTaskCompletedEventAttributes) {
      result.taskRunMs += t - ref(e.workflowTaskCompletedEventAttributes, 'startedEventId');
      result.workflowTasks += 1;
      if (completedActivities >= nthActivity) {
        result.toActiveMs = t - start;
        return result;
      }
    }
  }
  return undefined;
}
