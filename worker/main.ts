import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { auditSettingsFromEnv, checkpointerFor } from '../activities/audit-settings';
import { startDirectory } from '../directory/start';
import { createPool, migrate } from '../platform/db';
import { loadCampaigns } from '../platform/campaign-files';
import { loadConfig } from '../platform/config-files';
import { parseEnv, workerEnvSchema } from '../platform/env';
import { createLogger } from '../platform/logger';
import { describeTemporalSecurity, temporalConnectError, temporalConnectionOptions } from '../platform/temporal';
import { createWorker } from './create-worker';
import { installRuntime } from './runtime';

async function main(): Promise<void> {
  const env = parseEnv(workerEnvSchema);
  const log = createLogger('worker', env.LOG_LEVEL);
  installRuntime(log);
  const config = loadConfig(env.GRANTFLOW_CONFIG_DIR);
  // The API syncs the schedules; the worker checks the same file so a bad campaigns.yaml stops both at start-up.
  loadCampaigns(env.GRANTFLOW_CONFIG_DIR, config);
  // Before any connection: a missing or bad key stops the process at once, naming the variable.
  const auditSettings = auditSettingsFromEnv(process.env);
  if (env.GRANTFLOW_MIGRATE_ON_START === 'true') await migrate(env.DATABASE_URL, log);
  const pool = createPool(env.DATABASE_URL);
  // The worker signs the chain head periodically; the API signs on demand (and before each JSON export).
  const stopCheckpoints =
    auditSettings.checkpointIntervalMs > 0
      ? checkpointerFor(auditSettings, pool, log).every(auditSettings.checkpointIntervalMs)
      : () => undefined;
  const directory = await startDirectory(pool, config, env.GRANTFLOW_DIRECTORY_SOURCE, log);
  const connection = await NativeConnection.connect(temporalConnectionOptions(env)).catch(async (err: unknown) => {
    throw await temporalConnectError(env, err);
  });
  const worker = await createWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      pool,
      config,
      directory,
      log,
      env: process.env,
      auditSettings,
      notifyWebhookUrl: env.GRANTFLOW_NOTIFY_WEBHOOK_URL,
    }),
    maxCachedWorkflows: env.GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS,
  });
  log.info(
    {
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      security: describeTemporalSecurity(env),
    },
    'worker started',
  );
  // Worker.run() shuts down gracefully on SIGINT/SIGTERM.
  await worker.run();
  stopCheckpoints();
  await pool.end();
  await connection.close();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
