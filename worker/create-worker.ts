import { NativeConnection, Worker, type State, type WorkerOptions } from '@temporalio/worker';
import type { Activities } from '../activities/types';
import { connectorTaskQueue } from '../workflows/request/connector-queue';

/** How many connector calls one worker makes at once unless configured (GRANTFLOW_CONNECTOR_CONCURRENCY). */
export const DEFAULT_CONNECTOR_CONCURRENCY = 16;

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  maxCachedWorkflows?: number;
  /** Connector calls (grants, revokes) this worker makes at once, over all targets. */
  connectorConcurrency?: number;
  /** A pre-built bundle (tests build it once); otherwise the worker bundles `workflows/`. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/** The request workflow's calls to the targets, run on the connector queue. */
const CONNECTOR_ACTIVITIES = ['grantAccess', 'deprovision'] as const;

/**
 * The worker of a task queue (workflows and their activities) and, beside it, the worker of its connector queue
 * (workflows/request/connector-queue.ts): a worker polls for a task only while it has a free slot, so its slots bound
 * the calls at the targets, and a call that waits for one waits in Temporal's queue (visible there as backlog), its
 * attempt not started. Bounded in the activity instead, a call would wait inside its attempt: one that waited past
 * its start-to-close timeout is retried while the first stays queued, and an expiry storm spends revoke attempts on
 * the worker's own queue. A queue of its own, not the worker's activity slots: those are shared with the
 * bookkeeping, which a slow target must not hold up.
 */
export class GrantflowWorker {
  private constructor(
    readonly main: Worker,
    readonly connectors: Worker,
  ) {}

  static async create(deps: WorkerDeps): Promise<GrantflowWorker> {
    const main = await Worker.create({
      connection: deps.connection,
      namespace: deps.namespace,
      taskQueue: deps.taskQueue,
      activities: deps.activities,
      ...(deps.workflowBundle
        ? { workflowBundle: deps.workflowBundle }
        : { workflowsPath: require.resolve('../workflows') }),
      // Bounds worker memory: evicted workflows are replayed from history when they next wake.
      maxCachedWorkflows: deps.maxCachedWorkflows,
      shutdownGraceTime: '10s',
    });
    const connectors = await Worker.create({
      connection: deps.connection,
      namespace: deps.namespace,
      taskQueue: connectorTaskQueue(deps.taskQueue),
      activities: Object.fromEntries(CONNECTOR_ACTIVITIES.map((name) => [name, deps.activities[name]])),
      maxConcurrentActivityTaskExecutions: deps.connectorConcurrency ?? DEFAULT_CONNECTOR_CONCURRENCY,
      shutdownGraceTime: '10s',
    });
    return new GrantflowWorker(main, connectors);
  }

  /** Runs both until shutdown (a signal, or `shutdown()`); one that stops or fails stops the other. */
  async run(): Promise<void> {
    const workers = [this.main, this.connectors];
    const results = await Promise.allSettled(workers.map((w) => w.run().finally(() => this.shutdown())));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  shutdown(): void {
    for (const w of [this.main, this.connectors]) if (w.getState() === 'RUNNING') w.shutdown();
  }

  getState(): State {
    return this.main.getState();
  }
}

export function createWorker(deps: WorkerDeps): Promise<GrantflowWorker> {
  return GrantflowWorker.create(deps);
}
