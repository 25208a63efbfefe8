/**
 * Lifecycle throughput: a closed loop of N clients, each submitting an auto-approved github:member request over
 * HTTP and waiting until its grant is active before submitting the next. Completions counted in a measured window
 * after a warm-up, grantflow and the skeleton alternately at each level; the probes say where the time went.
 */
import os from 'node:os';
import { cpuDelta, cpuSnapshot, type CpuSnapshot } from '../lib/cpu';
import { workflowIdFor } from '../../workflows/messages';
import { mapLimit, sleep, terminateAll, waitForStatus, waitWorkerIdle, type Bench, type System } from '../lib/bench';
import type { Counters, ProbeSnapshot } from '../lib/probes';
import { diffCounters, ratio, summarize, type Summary } from '../lib/stats';
import { timelineTo, type Timeline } from '../lib/timeline';
import { SHAPES } from '../skeleton/messages';

const MAX_WARMUP_MS = 60_000;
const TIMELINE_SAMPLES = 12;

export interface RunResult {
  system: 'grantflow' | 'skeleton';
  inFlight: number;
  /** The warm-up this run needed: until every lane had finished a request, and at least warmupS. */
  warmupS: number;
  windowS: number;
  completions: number;
  perSecond: number;
  latencyMs: Summary;
  errors: number;
  firstError?: string;
  pollsPerCompletion: number;
  /** Stopped early because the synthetic users ran out. */
  exhausted: boolean;
  /** CPU ms per completed request, by process group, and the whole machine's (everyone's) CPU use. */
  cpuMsPerCompletion: Record<string, number>;
  machineBusyPercent: number;
  worker: { activities: Counters; statements: Counters; connections: Counters; cpuMs: number };
  server: ServerTimes;
}

/**
 * From sampled histories (the server's timestamps): workflow start → grant live, and the part of it spent waiting
 * in task queues and running in the worker, per request (means over the samples).
 */
export interface ServerTimes {
  samples: number;
  toActiveMs: Summary;
  activityQueueMs: number;
  activityRunMs: number;
  taskQueueMs: number;
  taskRunMs: number;
}

export interface LevelResult {
  inFlight: number;
  pollMs: number;
  grantflow: { perSecond: number; completions: number; latencyP50: number; latencyP99: number };
  skeleton: { perSecond: number; completions: number; latencyP50: number; latencyP99: number };
  ratio: number;
  /**
   * CPU milliseconds per completed request, all of the stack's processes together (API and clients, worker,
   * Temporal, PostgreSQL), and the skeleton's / grantflow's: the throughput ratio a CPU-bound machine of one's own
   * would give, much less sensitive than completions per second to other people's load on a shared one.
   */
  cpuMsPerRequest: { grantflow: number; skeleton: number };
  cpuRatio: number;
}

export interface ThroughputResult {
  levels: LevelResult[];
  runs: RunResult[];
  minRatio: number;
}

export async function throughputPhase(b: Bench): Promise<ThroughputResult> {
  const runs: RunResult[] = [];
  const levels: LevelResult[] = [];
  for (const inFlight of b.settings.levels) {
    const order = b.settings.order === 'ABBA' ? [b.ours, b.skeleton, b.skeleton, b.ours] : [b.ours, b.skeleton];
    const mine: RunResult[] = [];
    for (const sys of order) {
      const run = await closedLoop(b, sys, inFlight);
      b.log(
        `  ${String(inFlight).padStart(2)} in flight  ${sys.name.padEnd(9)} ${run.perSecond.toFixed(1).padStart(6)}/s ` +
          `p50 ${Math.round(run.latencyMs.p50)} ms${run.errors ? `, ${run.errors} errors` : ''}`,
      );
      mine.push(run);
      runs.push(run);
    }
    const side = (name: 'grantflow' | 'skeleton') => {
      const rs = mine.filter((r) => r.system === name);
      const completions = rs.reduce((s, r) => s + r.completions, 0);
      const seconds = rs.reduce((s, r) => s + r.windowS, 0);
      const cpuMs = rs.reduce((s, r) => s + stackCpuMs(r), 0);
      return {
        cpuMsPerRequest: cpuMs / completions,
        perSecond: completions / seconds,
        completions,
        latencyP50: Math.max(...rs.map((r) => r.latencyMs.p50)),
        latencyP99: Math.max(...rs.map((r) => r.latencyMs.p99)),
      };
    };
    const { cpuMsPerRequest: oursCpu, ...grantflow } = side('grantflow');
    const { cpuMsPerRequest: skeletonCpu, ...skeleton } = side('skeleton');
    levels.push({
      inFlight,
      pollMs: b.settings.pollMs(inFlight),
      grantflow,
      skeleton,
      ratio: ratio(grantflow.perSecond, skeleton.perSecond),
      cpuMsPerRequest: { grantflow: oursCpu, skeleton: skeletonCpu },
      cpuRatio: ratio(skeletonCpu, oursCpu),
    });
  }
  return { levels, runs, minRatio: Math.min(...levels.map((l) => l.ratio)) };
}

/** The CPU a run's stack used in its window (the machine's total, which holds other people's work, left out). */
function stackCpuMs(run: RunResult): number {
  return Object.entries(run.cpuMsPerCompletion)
    .filter(([group]) => group !== 'machine')
    .reduce((s, [, perRequest]) => s + (Number.isFinite(perRequest) ? perRequest * run.completions : 0), 0);
}

async function closedLoop(b: Bench, sys: System, inFlight: number): Promise<RunResult> {
  const { client, settings } = b;
  const pollMs = settings.pollMs(inFlight);
  const started = Date.now();
  // Warm until every lane has finished a request (the loop is in its steady state), and at least warmupS.
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  const warmLimit = started + MAX_WARMUP_MS;
  const ids: string[] = [];
  const measured: string[] = [];
  const latencies: number[] = [];
  let done = 0;
  let polls = 0;
  let errors = 0;
  let firstError: string | undefined;
  let exhausted = false;
  let before: { cpu: CpuSnapshot; probe: ProbeSnapshot } | undefined;
  let openWindow: () => void = () => undefined;
  const windowOpened = new Promise<void>((resolve) => (openWindow = resolve));
  const snap = async () => ({ cpu: cpuSnapshot(b.cpuGroups), probe: await sys.worker.probe() });
  const maybeOpen = () => {
    const now = Date.now();
    if (windowStart !== Number.POSITIVE_INFINITY) return;
    if ((done >= inFlight && now >= started + settings.warmupS * 1000) || now >= warmLimit) {
      windowStart = now;
      windowEnd = now + settings.windowS * 1000;
      openWindow();
    }
  };
  const ticker = setInterval(maybeOpen, 50);
  const opening = windowOpened.then(async () => {
    before = await snap();
  });
  const closing = windowOpened.then(async () => {
    await sleep(windowEnd - Date.now());
    return snap();
  });

  const lane = async () => {
    while (Date.now() < windowEnd) {
      const requester = sys.name === 'grantflow' ? b.users.take('t') : 'bench';
      if (!requester) {
        exhausted = true;
        return;
      }
      const t0 = Date.now();
      try {
        const { id } = await sys.submit(requester, 'github:member', { duration: 'PT1H' });
        ids.push(id);
        const waited = await waitForStatus(client, id, (s) => s === 'active', pollMs, 60_000);
        const t1 = Date.now();
        done += 1;
        if (t1 >= windowStart && t1 < windowEnd) {
          polls += waited.polls;
          latencies.push(t1 - t0);
          measured.push(id);
        }
      } catch (err) {
        errors += 1;
        firstError ??= (err as Error).message;
        await sleep(100);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  clearInterval(ticker);
  // Every lane gave up (users ran out, or errors only): close the window now.
  maybeOpen();
  if (windowStart === Number.POSITIVE_INFINITY) {
    windowStart = Date.now();
    windowEnd = windowStart;
    openWindow();
  }
  await opening;
  const after = await closing;
  const first = before as NonNullable<typeof before>;

  await terminateAll(client, ids);
  await waitWorkerIdle(sys.worker);
  const timelines = await sampleTimelines(b, measured);

  const completions = measured.length;
  const cpu = cpuDelta(first.cpu, after.cpu);
  const windowMs = Math.max(1, windowEnd - windowStart);
  const perCompletion = Object.fromEntries(
    Object.entries(cpu)
      .filter(([k]) => k !== 'machine')
      .map(([k, v]) => [k, completions ? v / completions : Number.NaN]),
  );
  return {
    system: sys.name,
    inFlight,
    warmupS: (windowStart - started) / 1000,
    windowS: windowMs / 1000,
    completions,
    perSecond: completions / (windowMs / 1000),
    latencyMs: summarize(latencies),
    errors,
    firstError,
    pollsPerCompletion: completions ? polls / completions : Number.NaN,
    exhausted,
    cpuMsPerCompletion: perCompletion,
    machineBusyPercent: ((cpu.machine ?? 0) / (windowMs * os.availableParallelism())) * 100,
    worker: {
      activities: diffCounters(first.probe.activities, after.probe.activities),
      statements: diffCounters(first.probe.statements, after.probe.statements),
      connections: diffCounters(first.probe.connections, after.probe.connections),
      cpuMs: after.probe.cpuMs - first.probe.cpuMs,
    },
    server: timelines,
  };
}

/** Server-side timelines of up to TIMELINE_SAMPLES measured requests, spread over the window. */
async function sampleTimelines(b: Bench, ids: readonly string[]): Promise<ServerTimes> {
  const step = Math.max(1, Math.floor(ids.length / TIMELINE_SAMPLES));
  const picked = ids.filter((_, i) => i % step === 0).slice(0, TIMELINE_SAMPLES);
  // The scheduled activities up to the live grant (local ones leave markers, not completions).
  const nth = SHAPES.autoApproved.validate + SHAPES.autoApproved.provision + SHAPES.autoApproved.beside;
  const timelines = (
    await mapLimit(picked, 4, async (id) => {
      const history = await b.client.workflow.getHandle(workflowIdFor(id)).fetchHistory();
      return timelineTo((history.events ?? []) as unknown as Record<string, unknown>[], nth);
    })
  ).filter((t): t is Timeline => t !== undefined);
  const mean = (pick: (t: Timeline) => number) =>
    timelines.length ? timelines.reduce((s, t) => s + pick(t), 0) / timelines.length : Number.NaN;
  return {
    samples: timelines.length,
    toActiveMs: summarize(timelines.map((t) => t.toActiveMs)),
    activityQueueMs: mean((t) => t.activityQueueMs),
    activityRunMs: mean((t) => t.activityRunMs),
    taskQueueMs: mean((t) => t.taskQueueMs),
    taskRunMs: mean((t) => t.taskRunMs),
  };
}
