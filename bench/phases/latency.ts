/**
 * Decision latency: from the moment the decide call returns to the moment the workflow reports the grant active,
 * one request at a time, grantflow (bob approves analytics-db:read through POST /v1/requests/:id/decisions) against
 * the skeleton (the same update, then the same number of activities). Samples alternate between the two so a drifting
 * machine hurts both alike.
 */
import { workflowIdFor } from '../../workflows/messages';
import { mapLimit, terminateAll, waitForStatus, waitQuiet, type Bench, type System } from '../lib/bench';
import { ratio, summarize, type Summary } from '../lib/stats';
import { activityTimes, type ActivityTimes } from '../lib/timeline';

export interface LatencySide {
  /** Decide call returned → grant active, ms. */
  toActive: Summary;
  /** The decide call itself, ms. */
  decideCall: Summary;
  /** From the requests' histories, per request: each activity's mean wait in the queue and run time, ms. */
  activities: Record<string, { perRequest: number; queueMs: number; runMs: number }>;
}

export interface LatencyResult {
  samples: number;
  pollMs: number;
  grantflow: LatencySide;
  skeleton: LatencySide;
  p50Ratio: number;
  p99Ratio: number;
}

// Back to back queries: one request in flight can afford it, and the delay it adds to a reading is at most this.
const POLL_MS = 2;

export async function latencyPhase(b: Bench): Promise<LatencyResult> {
  const { client } = b;
  const n = b.settings.latencySamples;
  const prepare = async (sys: System): Promise<string[]> =>
    mapLimit(Array.from({ length: n }), 8, async () => {
      const requester = sys.name === 'grantflow' ? b.users.take('l') : 'bench';
      if (!requester) throw new Error('The bench directory has too few latency users.');
      const { id } = await sys.submit(requester, 'analytics-db:read', { duration: 'PT1H' });
      await waitForStatus(client, id, (s) => s === 'pending_approval', 20);
      return id;
    });
  const ids = { grantflow: await prepare(b.ours), skeleton: await prepare(b.skeleton) };
  await mapLimit([...ids.grantflow, ...ids.skeleton], 8, (id) => waitQuiet(client, id));

  const samples = { grantflow: [] as number[], skeleton: [] as number[] };
  const calls = { grantflow: [] as number[], skeleton: [] as number[] };
  const measure = async (sys: System, id: string) => {
    await waitQuiet(client, id);
    const t0 = performance.now();
    await sys.decide(id, 'bob', 'approve');
    const t1 = performance.now();
    await waitForStatus(client, id, (s) => s === 'active', POLL_MS);
    const t2 = performance.now();
    samples[sys.name].push(t2 - t1);
    calls[sys.name].push(t1 - t0);
    // The tail (audit, notification, projection) finishes before the next sample starts.
    await waitQuiet(client, id);
  };
  for (let i = 0; i < n; i++) {
    const order = i % 2 === 0 ? [b.ours, b.skeleton] : [b.skeleton, b.ours];
    for (const sys of order) await measure(sys, ids[sys.name][i] as string);
  }
  await terminateAll(client, [...ids.grantflow, ...ids.skeleton]);
  const activities = {
    grantflow: await meanActivityTimes(b, ids.grantflow),
    skeleton: await meanActivityTimes(b, ids.skeleton),
  };

  const side = (name: 'grantflow' | 'skeleton'): LatencySide => ({
    toActive: summarize(samples[name]),
    decideCall: summarize(calls[name]),
    activities: activities[name],
  });
  const grantflow = side('grantflow');
  const skeleton = side('skeleton');
  return {
    samples: n,
    pollMs: POLL_MS,
    grantflow,
    skeleton,
    p50Ratio: ratio(grantflow.toActive.p50, skeleton.toActive.p50),
    p99Ratio: ratio(grantflow.toActive.p99, skeleton.toActive.p99),
  };
}

/** Per activity name, over the requests' histories: runs per request and mean queue wait and run time. */
async function meanActivityTimes(b: Bench, ids: readonly string[]): Promise<LatencySide['activities']> {
  const all: ActivityTimes[] = await mapLimit(ids, 4, async (id) => {
    const history = await b.client.workflow.getHandle(workflowIdFor(id)).fetchHistory();
    return activityTimes((history.events ?? []) as unknown as Record<string, unknown>[]);
  });
  const sum: ActivityTimes = {};
  for (const times of all) {
    for (const [name, t] of Object.entries(times)) {
      const s = (sum[name] ??= { count: 0, queueMs: 0, runMs: 0 });
      s.count += t.count;
      s.queueMs += t.queueMs;
      s.runMs += t.runMs;
    }
  }
  return Object.fromEntries(
    Object.entries(sum).map(([name, s]) => [
      name,
      { perRequest: s.count / ids.length, queueMs: s.queueMs / s.count, runMs: s.runMs / s.count },
    ]),
  );
}
