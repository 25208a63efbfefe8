/** What every phase works with: the stack's clients, the two systems under test and small waiting helpers. */
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { getRequestQuery, workflowIdFor } from '../../workflows/messages';
import type { BenchSettings } from './args';
import type { CpuGroupSpec } from './cpu';
import type { UserPool } from './directory';
import type { WorkerChild } from './worker-child';

export interface Bench {
  settings: BenchSettings;
  client: Client;
  /** The bench's own connection to grantflow's database, for counts and EXPLAIN. */
  db: pg.Pool;
  users: UserPool;
  ours: System;
  skeleton: System;
  apiUrl: string;
  /** The webhook receiver standing in for the targets: its URL (GET /ledger) and the calls it had at once. */
  target: { url: string; maxInFlight(): number; resetInFlight(): void };
  token(userId: string): Promise<string>;
  cpuGroups: CpuGroupSpec[];
  log(message: string): void;
}

export interface Submitted {
  id: string;
  status: string;
}

/** One side of a comparison: grantflow through its API, or the skeleton through its HTTP front. */
export interface System {
  name: 'grantflow' | 'skeleton';
  worker: WorkerChild;
  submit(requester: string, entitlement: string, extra?: Record<string, unknown>): Promise<Submitted>;
  decide(id: string, approver: string, decision: 'approve' | 'deny'): Promise<void>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what} answered ${status}: ${body.slice(0, 300)}`);
  }
}

export async function post<T>(url: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token && { Authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new HttpError(res.status, text, `POST ${new URL(url).pathname}`);
  return JSON.parse(text) as T;
}

export async function get<T>(url: string, token: string): Promise<T> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (!res.ok) throw new HttpError(res.status, text, `GET ${new URL(url).pathname}`);
  return JSON.parse(text) as T;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The workflow's own status (the `getRequest` query both workflows answer). */
export async function statusOf(client: Client, id: string): Promise<string> {
  const view = await client.workflow.getHandle(workflowIdFor(id)).query(getRequestQuery);
  return view.status;
}

/**
 * Asks the workflow every `pollMs` until its status passes `done`; how many times it asked. Throws after
 * `timeoutMs`, so nothing waits for ever.
 */
export async function waitForStatus(
  client: Client,
  id: string,
  done: (status: string) => boolean,
  pollMs: number,
  timeoutMs = 60_000,
): Promise<{ status: string; polls: number }> {
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  let last = '';
  for (;;) {
    polls += 1;
    try {
      last = await statusOf(client, id);
      if (done(last)) return { status: last, polls };
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`Request ${id} is still "${last}" after ${timeoutMs} ms.`);
    await sleep(pollMs);
  }
}

/** Waits until the workflow has no activity or workflow task pending: whatever it was doing is done. */
export async function waitQuiet(client: Client, id: string, timeoutMs = 60_000): Promise<void> {
  const handle = client.workflow.getHandle(workflowIdFor(id));
  const deadline = Date.now() + timeoutMs;
  let quietInARow = 0;
  while (quietInARow < 2) {
    const { raw, status } = await handle.describe();
    const quiet = status.name !== 'RUNNING' || ((raw.pendingActivities?.length ?? 0) === 0 && !raw.pendingWorkflowTask);
    quietInARow = quiet ? quietInARow + 1 : 0;
    if (Date.now() > deadline) throw new Error(`Request ${id} still has work pending after ${timeoutMs} ms.`);
    await sleep(25);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time, in order of start. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** Ends the bench's own requests between measurements, so the next one starts on an idle worker. */
export async function terminateAll(client: Client, ids: readonly string[]): Promise<void> {
  await mapLimit(ids, 16, async (id) => {
    await client.workflow
      .getHandle(workflowIdFor(id))
      .terminate('bench: measurement over')
      .catch(() => undefined);
  });
}

/** Waits until a worker runs no activity, twice in a row 200 ms apart (bounded). */
export async function waitWorkerIdle(worker: WorkerChild, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let idle = 0;
  while (idle < 2 && Date.now() < deadline) {
    idle = (await worker.probe()).activitiesInFlight === 0 ? idle + 1 : 0;
    await sleep(200);
  }
}
