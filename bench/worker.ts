/**
 * A bench worker process, started by bench/run.ts with an IPC channel: `grantflow` runs the product's worker (real
 * activities, the configuration in GRANTFLOW_CONFIG_DIR) as worker/main.ts does; `skeleton` runs the skeleton
 * workflow with no-op activities. Both report their memory every second and their probes on request, and stop when
 * asked or when the bench goes away.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createActivities } from '../activities';
import { createPool } from '../platform/db';
import { loadConfig } from '../platform/config-files';
import { parseEnv } from '../platform/env';
import { createLogger } from '../platform/logger';
import { createWorker, type GrantflowWorker } from '../worker/create-worker';
import { probePostgres, snapshot, timeActivities } from './lib/probes';
import * as skeletonActivities from './skeleton/activities';

const envSchema = z.object({
  BENCH_WORKER_MODE: z.enum(['grantflow', 'skeleton']),
  TEMPORAL_ADDRESS: z.string().min(1),
  TEMPORAL_TASK_QUEUE: z.string().min(1),
  DATABASE_URL: z.string().optional(),
  GRANTFLOW_CONFIG_DIR: z.string().optional(),
  GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0),
  GRANTFLOW_CONNECTOR_CONCURRENCY: z.coerce.number().int().min(1).optional(),
  LOG_LEVEL: z.string().default('warn'),
});

export type ToWorker = { type: 'probe'; id: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready'; pid: number }
  | { type: 'memory'; rss: number; heapUsed: number; at: number }
  | { type: 'probe'; id: number; snapshot: ReturnType<typeof snapshot> };

function send(message: FromWorker): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const env = parseEnv(envSchema);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  probePostgres();
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  let pool: ReturnType<typeof createPool> | undefined;
  let worker: Worker | GrantflowWorker;
  if (env.BENCH_WORKER_MODE === 'grantflow') {
    if (!env.DATABASE_URL || !env.GRANTFLOW_CONFIG_DIR)
      throw new Error('DATABASE_URL and GRANTFLOW_CONFIG_DIR are required.');
    const log = createLogger('worker', env.LOG_LEVEL);
    pool = createPool(env.DATABASE_URL);
    worker = await createWorker({
      connection,
      namespace: 'default',
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      activities: timeActivities(
        createActivities({
          pool,
          config: loadConfig(env.GRANTFLOW_CONFIG_DIR),
          log,
          env: process.env,
        }),
      ),
      maxCachedWorkflows: env.GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS,
      connectorConcurrency: env.GRANTFLOW_CONNECTOR_CONCURRENCY,
    });
  } else {
    // The options createWorker sets, so the two workers differ only in their workflows and activities.
    worker = await Worker.create({
      connection,
      namespace: 'default',
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      workflowsPath: require.resolve('./skeleton/workflows'),
      activities: timeActivities(skeletonActivities),
      maxCachedWorkflows: env.GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS,
      shutdownGraceTime: '10s',
    });
  }

  const memory = setInterval(() => {
    const m = process.memoryUsage();
    send({ type: 'memory', rss: m.rss, heapUsed: m.heapUsed, at: Date.now() });
  }, 1000);
  process.on('message', (message: ToWorker) => {
    if (message.type === 'probe') send({ type: 'probe', id: message.id, snapshot: snapshot() });
    if (message.type === 'stop') worker.shutdown();
  });
  // The bench died or closed the channel: stop rather than linger.
  process.on('disconnect', () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  });

  const running = worker.run();
  send({ type: 'ready', pid: process.pid });
  await running;
  clearInterval(memory);
  await pool?.end();
  await connection.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
