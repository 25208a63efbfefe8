/**
 * History cost: the events each path of a request leaves in Temporal, read back with fetchHistory(), and a grant
 * extended many times, which must stay bounded by continuing as new (workflows/access-request.ts, past 2000 events).
 */
import type { Client } from '@temporalio/client';
import { extendUpdate, workflowIdFor } from '../../workflows/messages';
import { post, sleep, terminateAll, waitForStatus, waitQuiet, type Bench, type System } from '../lib/bench';
import { summarize, type Summary } from '../lib/stats';
import { historyStats, type HistoryStats } from '../lib/timeline';

export interface PathResult extends HistoryStats {
  path: string;
  how: string;
  status: string;
  closed: boolean;
}

export interface ExtendedResult {
  requested: number;
  /** Extensions the grant shows at the end (each applied once, whatever the retries). */
  applied: number;
  retries: number;
  failures: number;
  runs: number;
  eventsPerRun: number[];
  maxEventsPerRun: number;
  totalEvents: number;
  msPerExtension: Summary;
}

export interface HistoryResult {
  paths: PathResult[];
  /** The many-extensions run; absent with `--extensions 0`. */
  /** Activities up to the live grant (the skeleton must run as many as grantflow), and the events they leave. */
  shapeCheck: { path: string; grantflow: number; skeleton: number; grantflowEvents: number; skeletonEvents: number }[];
  extended?: ExtendedResult;
}

type RawEvent = Record<string, unknown>;

async function eventsOf(client: Client, id: string, runId?: string): Promise<RawEvent[]> {
  const history = await client.workflow.getHandle(workflowIdFor(id), runId).fetchHistory();
  return (history.events ?? []) as unknown as RawEvent[];
}

/** Every run of a request, newest first, found by walking back through `continuedExecutionRunId`. */
async function runsOf(client: Client, id: string): Promise<RawEvent[][]> {
  const runs: RawEvent[][] = [];
  let runId: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const events = await eventsOf(client, id, runId);
    runs.push(events);
    const started = events[0]?.workflowExecutionStartedEventAttributes as
      { continuedExecutionRunId?: string } | undefined;
    runId = started?.continuedExecutionRunId || undefined;
    if (!runId) break;
  }
  return runs;
}

async function waitClosed(client: Client, id: string, timeoutMs = 90_000): Promise<string> {
  const handle = client.workflow.getHandle(workflowIdFor(id));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') return status.name;
    if (Date.now() > deadline) throw new Error(`Request ${id} is still running after ${timeoutMs} ms.`);
    await sleep(100);
  }
}

export async function historyPhase(b: Bench): Promise<HistoryResult> {
  const { client, ours, skeleton } = b;
  const user = () => {
    const id = b.users.take('h');
    if (!id) throw new Error('The bench directory has too few history users.');
    return id;
  };
  const message = async (id: string, what: string, by: string, body: unknown) =>
    post(`${b.apiUrl}/v1/requests/${id}/${what}`, body, await b.token(by));
  const is = (status: string) => (s: string) => s === status;
  const pending = async (sys: System, requester: string, extra: Record<string, unknown> = {}) => {
    const { id } = await sys.submit(requester, 'analytics-db:read', extra);
    await waitForStatus(client, id, is('pending_approval'), 20);
    await waitQuiet(client, id);
    return id;
  };
  const active = async (sys: System, requester: string, extra: Record<string, unknown>) => {
    const { id } = await sys.submit(requester, String(extra.entitlement ?? 'github:member'), extra);
    await waitForStatus(client, id, is('active'), 20);
    await waitQuiet(client, id);
    return id;
  };
  const open: string[] = [];

  const scenarios: { path: string; how: string; closes: boolean; run: () => Promise<string> }[] = [
    {
      path: 'auto-approved',
      closes: false,
      how: 'github:member, until the grant is active',
      run: async () => active(ours, user(), { duration: 'PT1H' }),
    },
    {
      path: 'approved',
      closes: false,
      how: 'analytics-db:read approved by bob, until active',
      run: async () => {
        const id = await pending(ours, user(), { duration: 'PT1H' });
        await ours.decide(id, 'bob', 'approve');
        await waitForStatus(client, id, is('active'), 20);
        await waitQuiet(client, id);
        return id;
      },
    },
    {
      path: 'denied',
      closes: true,
      how: 'analytics-db:read denied by bob',
      run: async () => {
        const id = await pending(ours, user());
        await ours.decide(id, 'bob', 'deny');
        return id;
      },
    },
    {
      path: 'cancelled',
      closes: true,
      how: 'analytics-db:read cancelled by its requester while pending',
      run: async () => {
        const requester = user();
        const id = await pending(ours, requester);
        await message(id, 'cancel', requester, { reason: 'bench' });
        return id;
      },
    },
    {
      path: 'revoked',
      closes: true,
      how: 'github:member auto-approved, then revoked by its holder',
      run: async () => {
        const requester = user();
        const id = await active(ours, requester, { duration: 'PT1H' });
        await message(id, 'revoke', requester, { reason: 'bench' });
        return id;
      },
    },
    {
      path: 'expired',
      closes: true,
      how: 'github:member auto-approved for PT3S',
      run: async () => active(ours, user(), { duration: 'PT3S' }),
    },
    {
      path: 'extended',
      closes: false,
      how: 'github:member auto-approved for PT1H, extended once by PT30M (within the no-approval allowance)',
      run: async () => {
        const requester = user();
        const id = await active(ours, requester, { duration: 'PT1H' });
        const answer = await message(id, 'extend', requester, {
          duration: 'PT30M',
          justification: 'bench: one extension',
        });
        if ((answer as { outcome?: string }).outcome !== 'extended') {
          throw new Error(`The bench extension was not applied at once: ${JSON.stringify(answer)}`);
        }
        await waitQuiet(client, id);
        return id;
      },
    },
    {
      path: 'break-glass',
      closes: true,
      how: 'aws-prod:admin break-glass for PT5S, cleared by dave, expired',
      run: async () => {
        const id = await active(ours, user(), {
          entitlement: 'aws-prod:admin',
          breakGlass: true,
          duration: 'PT5S',
          fields: { ticket: 'INC-42' },
        });
        await message(id, 'review', 'dave', { outcome: 'cleared', comment: 'bench' });
        return id;
      },
    },
  ];

  const paths = await Promise.all(
    scenarios.map(async (s) => {
      const id = await s.run();
      const closed = s.closes ? (await waitClosed(client, id)) !== 'RUNNING' : false;
      if (!closed) open.push(id);
      const final = await waitForStatus(client, id, () => true, 20);
      return { path: s.path, how: s.how, status: final.status, closed, ...historyStats(await eventsOf(client, id)) };
    }),
  );
  b.log(`  paths: ${paths.map((p) => `${p.path} ${p.events}`).join(', ')} events`);

  // The skeleton's histories, to check it runs the activities grantflow does up to the live grant.
  const skelAuto = await active(skeleton, 'bench', { duration: 'PT1H' });
  const skelStage = await pending(skeleton, 'bench');
  await skeleton.decide(skelStage, 'bob', 'approve');
  await waitForStatus(client, skelStage, is('active'), 20);
  await waitQuiet(client, skelStage);
  open.push(skelAuto, skelStage);
  const skeletonStats = async (id: string) => historyStats(await eventsOf(client, id));
  const shapeCheck = await Promise.all(
    [
      { path: 'auto-approved', skeletonId: skelAuto },
      { path: 'approved', skeletonId: skelStage },
    ].map(async ({ path, skeletonId }) => {
      const ours = paths.find((p) => p.path === path);
      const skel = await skeletonStats(skeletonId);
      return {
        path,
        grantflow: ours?.activities ?? Number.NaN,
        skeleton: skel.activities,
        grantflowEvents: ours?.events ?? Number.NaN,
        skeletonEvents: skel.events,
      };
    }),
  );

  const extended = b.settings.extensions > 0 ? await extendMany(b, user()) : undefined;
  await terminateAll(client, open);
  return { paths, shapeCheck, extended };
}

async function extendMany(b: Bench, requester: string): Promise<ExtendedResult> {
  const { client } = b;
  const { id } = await b.ours.submit(requester, 'github:member', { duration: 'P1D' });
  await waitForStatus(client, id, (s) => s === 'active', 20);
  await waitQuiet(client, id);
  const handle = client.workflow.getHandle(workflowIdFor(id));
  const times: number[] = [];
  let retries = 0;
  let failures = 0;
  const started = Date.now();
  for (let i = 1; i <= b.settings.extensions; i++) {
    const t0 = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        // The update id makes a retry of the same extension count once.
        await handle.executeUpdate(extendUpdate, {
          args: [{ by: requester, durationMs: 1000, justification: 'bench: extension' }],
          updateId: `bench-extend-${i}`,
        });
        break;
      } catch (err) {
        if (attempt >= 5) {
          failures += 1;
          b.log(`  extension ${i} failed: ${(err as Error).message}`);
          break;
        }
        retries += 1;
        await sleep(200);
      }
    }
    times.push(performance.now() - t0);
    if (i % 100 === 0) b.log(`  ${i} extensions (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  await waitQuiet(client, id);
  const view = await handle.query('getRequest');
  const runs = (await runsOf(client, id)).reverse();
  await terminateAll(client, [id]);
  const eventsPerRun = runs.map((r) => r.length);
  return {
    requested: b.settings.extensions,
    applied: (view as { grant?: { extensions?: number } }).grant?.extensions ?? Number.NaN,
    retries,
    failures,
    runs: runs.length,
    eventsPerRun,
    maxEventsPerRun: Math.max(...eventsPerRun),
    totalEvents: eventsPerRun.reduce((s, n) => s + n, 0),
    msPerExtension: summarize(times),
  };
}
