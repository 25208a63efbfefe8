/**
 * Open-request capacity: analytics-db:read requests from distinct synthetic users, all waiting on bob, submitted
 * through the API until N are pending at once (or the time budget runs out). At 100 open, at a few steps between
 * and at the end: bob's inbox latency (GET /v1/approvals), the SQL it runs and its plan, and the worker's RSS.
 */
import { get, sleep, waitWorkerIdle, type Bench } from '../lib/bench';
import { listenToStatements } from '../lib/probes';
import { ratio, summarize, type Summary } from '../lib/stats';

export interface Checkpoint {
  open: number;
  /** Running grantflow workflows pending approval, as Temporal's visibility counts them. */
  temporalPending?: number;
  inboxMs: Summary;
  /** The inbox's SQL statement alone (the API's round trip to PostgreSQL), ms. */
  inboxSqlMs: Summary;
  inboxItems: number;
  plan: string[];
  workerRssMb: number;
  workerHeapMb: number;
  /** The skeleton's worker, idle by then: what the same SDK costs without grantflow's workflows. */
  skeletonRssMb: number;
  atS: number;
}

export interface CapacityResult {
  target: number;
  reached: number;
  budgetS: number;
  stoppedBy: 'target' | 'budget' | 'errors';
  fillSeconds: number;
  submittedPerSecond: number;
  errors: number;
  firstError?: string;
  checkpoints: Checkpoint[];
  inboxP50Ratio: number;
  inboxP99Ratio: number;
  /** grantflow's worker before the first submission of this phase, and the most it used during it. */
  workerRssAtStartMb: number;
  workerMaxRssMb: number;
}

const LANES = 32;
const MAX_ERRORS = 200;
const MB = 1024 * 1024;

export async function capacityPhase(b: Bench): Promise<CapacityResult> {
  const { settings } = b;
  const started = Date.now();
  const budgetEnd = started + settings.openBudgetS * 1000;
  const steps = [...new Set([100, 1000, 5000, settings.open].filter((n) => n <= settings.open))];
  let submitted = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stoppedBy: CapacityResult['stoppedBy'] = 'target';
  let fillMs = 0;
  const checkpoints: Checkpoint[] = [];
  // The worker reports its memory every second; the first report may not have come yet.
  for (let i = 0; i < 30 && !b.ours.worker.memory().latest; i++) await sleep(100);
  b.ours.worker.resetMax();
  const workerRssAtStartMb = (b.ours.worker.memory().latest?.rss ?? 0) / MB;

  for (const step of steps) {
    const segmentStart = Date.now();
    const lane = async () => {
      while (submitted < step && Date.now() < budgetEnd && errors < MAX_ERRORS) {
        const requester = b.users.take('c');
        if (!requester) return;
        submitted += 1;
        try {
          await b.ours.submit(requester, 'analytics-db:read');
        } catch (err) {
          submitted -= 1;
          errors += 1;
          firstError ??= (err as Error).message;
          await sleep(200);
        }
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    fillMs += Date.now() - segmentStart;
    const open = await settle(b, submitted);
    b.log(`  ${open} open after ${Math.round((Date.now() - started) / 1000)} s`);
    checkpoints.push(await checkpoint(b, open, started));
    if (submitted < step) {
      stoppedBy = errors >= MAX_ERRORS ? 'errors' : 'budget';
      break;
    }
  }

  const first = checkpoints[0];
  const last = checkpoints[checkpoints.length - 1];
  return {
    target: settings.open,
    reached: last?.open ?? 0,
    budgetS: settings.openBudgetS,
    stoppedBy,
    fillSeconds: fillMs / 1000,
    submittedPerSecond: submitted / (fillMs / 1000),
    errors,
    firstError,
    checkpoints,
    inboxP50Ratio: first && last ? ratio(last.inboxMs.p50, first.inboxMs.p50) : Number.NaN,
    inboxP99Ratio: first && last ? ratio(last.inboxMs.p99, first.inboxMs.p99) : Number.NaN,
    workerRssAtStartMb,
    workerMaxRssMb: b.ours.worker.memory().maxRss / MB,
  };
}

/** Waits until every submitted request shows as pending for bob in the projection and the worker is idle. */
async function settle(b: Bench, submitted: number): Promise<number> {
  const deadline = Date.now() + 180_000;
  let open = 0;
  while (Date.now() < deadline) {
    const { rows } = await b.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM requests
        WHERE status = 'pending_approval' AND 'bob' = ANY(pending_approvers) AND beneficiary LIKE 'bc%'`,
    );
    open = rows[0]?.n ?? 0;
    if (open >= submitted) break;
    await sleep(500);
  }
  await waitWorkerIdle(b.ours.worker);
  return open;
}

async function checkpoint(b: Bench, open: number, started: number): Promise<Checkpoint> {
  const token = await b.token('bob');
  const url = `${b.apiUrl}/v1/approvals?limit=25`;
  const sql: number[] = [];
  let captured: { text: string; values: unknown[] | undefined } | undefined;
  listenToStatements((text, values, ms) => {
    if (!text.includes('pending_approvers') || !text.includes('ORDER BY submitted_at')) return;
    sql.push(ms);
    captured = { text, values };
  });
  const times: number[] = [];
  let items = 0;
  try {
    for (let i = 0; i < 5; i++) await get(url, token); // warm: connections, caches, plans
    sql.length = 0;
    for (let i = 0; i < b.settings.inboxSamples; i++) {
      const t0 = performance.now();
      const page = await get<{ items: unknown[] }>(url, token);
      times.push(performance.now() - t0);
      items = page.items.length;
    }
  } finally {
    listenToStatements(undefined);
  }
  let plan: string[] = [];
  if (captured) {
    const { rows } = await b.db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS) ${captured.text}`,
      captured.values,
    );
    plan = rows.map((r) => r['QUERY PLAN']);
  }
  let temporalPending: number | undefined;
  try {
    temporalPending = (
      await b.client.workflow.count(`ExecutionStatus = "Running" AND GrantflowStatus = "pending_approval"`)
    ).count;
  } catch {
    temporalPending = undefined;
  }
  // A fresh memory sample, taken after the inbox reads.
  await sleep(1200);
  const memory = b.ours.worker.memory().latest;
  return {
    open,
    temporalPending,
    inboxMs: summarize(times),
    inboxSqlMs: summarize(sql),
    inboxItems: items,
    plan,
    workerRssMb: (memory?.rss ?? 0) / MB,
    workerHeapMb: (memory?.heapUsed ?? 0) / MB,
    skeletonRssMb: (b.skeleton.worker.memory().latest?.rss ?? 0) / MB,
    atS: (Date.now() - started) / 1000,
  };
}
