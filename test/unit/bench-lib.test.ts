import { parseArgs } from '../../bench/lib/args';
import { diffCounters, percentile, ratio, summarize } from '../../bench/lib/stats';
import { activityTimes, historyStats, timelineTo } from '../../bench/lib/timeline';

describe('bench statistics', () => {
  test('percentiles use the nearest rank, so p99 of fewer than 100 samples is the maximum', () => {
    const sorted = Array.from({ length: 10 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(5);
    expect(percentile(sorted, 90)).toBe(9);
    expect(percentile(sorted, 99)).toBe(10);
    expect(percentile([], 50)).toBeNaN();
  });

  test('summaries sort their samples and a ratio of nothing is not a number', () => {
    expect(summarize([30, 10, 20])).toMatchObject({ n: 3, mean: 20, p50: 20, max: 30 });
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNaN();
    expect(ratio(Number.NaN, 2)).toBeNaN();
  });

  test('counter snapshots subtract per name and drop the names that did not move', () => {
    const before = { a: { count: 2, totalMs: 10 }, b: { count: 1, totalMs: 5 } };
    const after = { a: { count: 5, totalMs: 40 }, b: { count: 1, totalMs: 5 }, c: { count: 1, totalMs: 2 } };
    expect(diffCounters(before, after)).toEqual({ a: { count: 3, totalMs: 30 }, c: { count: 1, totalMs: 2 } });
  });
});

describe('bench arguments', () => {
  test('the defaults are the full run the issue asks for', () => {
    const s = parseArgs([], '/out');
    expect(s).toMatchObject({ mode: 'full', levels: [1, 8, 32], open: 10_000, extensions: 500, order: 'ABBA' });
    expect(s.phases).toEqual(['history', 'latency', 'throughput', 'capacity', 'storm']);
  });

  test('--quick scales down and options override it', () => {
    const s = parseArgs(['--quick', '--open', '250', '--levels', '2,4', '--only', 'history,capacity'], '/out');
    expect(s).toMatchObject({ mode: 'quick', open: 250, levels: [2, 4], phases: ['history', 'capacity'] });
    expect(s.extensions).toBeLessThan(500);
  });

  test('bad arguments are refused with a sentence', () => {
    expect(() => parseArgs(['--open', '50'], '/out')).toThrow('--open must be a whole number ≥ 101');
    expect(() => parseArgs(['--levels', '1,x'], '/out')).toThrow('--levels takes whole numbers');
    expect(() => parseArgs(['--only', 'speed'], '/out')).toThrow('--only takes history, latency');
    expect(() => parseArgs(['--fast'], '/out')).toThrow('Unknown argument "--fast"');
  });
});

/** A history event as fetchHistory() gives it: one attributes field, an id and a timestamp. */
function event(id: number, ms: number, kind: string, attrs: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: id,
    eventTime: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
    [`${kind}EventAttributes`]: attrs,
  };
}

describe('bench history reading', () => {
  // Started at 0; workflow task 0→5→10; one activity scheduled at 10, started 14, completed 20; workflow task
  // scheduled 20, started 23, completed 30 (the grant goes live here); a timer afterwards.
  const events = [
    event(1, 1000, 'workflowExecutionStarted'),
    event(2, 1000, 'workflowTaskScheduled'),
    event(3, 1005, 'workflowTaskStarted', { scheduledEventId: 2 }),
    event(4, 1010, 'workflowTaskCompleted', { startedEventId: 3 }),
    event(5, 1010, 'activityTaskScheduled', { activityType: { name: 'provision' } }),
    event(6, 1014, 'activityTaskStarted', { scheduledEventId: 5 }),
    event(7, 1020, 'activityTaskCompleted', { startedEventId: 6 }),
    event(8, 1020, 'workflowTaskScheduled'),
    event(9, 1023, 'workflowTaskStarted', { scheduledEventId: 8 }),
    event(10, 1030, 'workflowTaskCompleted', { startedEventId: 9 }),
    event(11, 1030, 'timerStarted'),
  ];

  test('counts events, activities by name, workflow tasks and timers', () => {
    expect(historyStats(events)).toEqual({
      events: 11,
      activities: 1,
      workflowTasks: 2,
      timers: 1,
      updates: 0,
      localActivities: 0,
      activityTypes: { provision: 1 },
    });
  });

  test("counts a local activity from its marker (the SDK's JSON, with its type), and not a patch marker", () => {
    const payload = (json: unknown) => ({ payloads: [{ data: new TextEncoder().encode(JSON.stringify(json)) }] });
    const marker = (id: number, name: string, details: Record<string, unknown>) =>
      event(id, 1031, 'markerRecorded', { markerName: name, details });
    const withMarkers = [
      ...events,
      marker(12, 'core_patch', { 'patch-data': payload({ id: 'lean-bookkeeping' }) }),
      marker(13, 'core_local_activity', { data: payload({ seq: 1, activity_type: 'evaluateRequest' }) }),
    ];
    expect(historyStats(withMarkers)).toMatchObject({
      events: 13,
      activities: 2,
      localActivities: 1,
      activityTypes: { provision: 1, 'evaluateRequest (local)': 1 },
    });
  });

  test('splits the time to the live grant into queue waits and worker time', () => {
    expect(timelineTo(events, 1)).toEqual({
      toActiveMs: 30,
      activityQueueMs: 4,
      activityRunMs: 6,
      taskQueueMs: 8,
      taskRunMs: 12,
      activities: 1,
      workflowTasks: 2,
    });
    // A history that never got that far has no timeline.
    expect(timelineTo(events, 2)).toBeUndefined();
  });

  test('times each activity by name: its wait in the queue and its run in the worker', () => {
    expect(activityTimes(events)).toEqual({ provision: { count: 1, queueMs: 4, runMs: 6 } });
  });
});
