import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { reconcileEvery, runningIn } from '../activities/reconcile';
import { attestSignalsEvery } from '../activities/signal-attest';
import { createActivities } from '../activities';
import { createAuditLog } from '../activities/audit';
import { createNotifier } from '../activities/notify';
import { createMoverActivities } from '../activities/mover';
import { createOffboardingActivities } from '../activities/offboarding';
import { createDirectorySyncActivities } from '../activities/directory-sync';
import { readLdapDirectory } from '../directory/ldap';
import { loadLdapSettings } from '../directory/ldap-settings';
import { sweepLifecycle } from '../directory/lifecycle';
import { ensureDirectorySyncSchedule } from '../directory/sync-schedule';
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
  const activities = createActivities({
    pool,
    config,
    directory,
    log,
    env: process.env,
    auditSettings,
    notifyWebhookUrl: env.GRANTFLOW_NOTIFY_WEBHOOK_URL,
  });
  // Offboardings send requests their revoke, the worker's sweep starts lifecycle runs, and the reconciler asks
  // whether a workflow still runs: all need a client.
  const clientConnection = await Connection.connect(temporalConnectionOptions(env));
  const client = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE });
  const lifecycle = {
    pool,
    directory,
    config,
    audit: createAuditLog(pool, { keyring: auditSettings.keyring }),
    notify: createNotifier({ pool, log, webhookUrl: env.GRANTFLOW_NOTIFY_WEBHOOK_URL }).notify,
  };
  // The LDAP source is pulled here, on the schedule and for the API's on-demand syncs: only the worker holds ldap.yaml.
  const ldap = directory.source === 'ldap' ? loadLdapSettings(env.GRANTFLOW_CONFIG_DIR) : undefined;
  const worker = await createWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    activities: {
      ...activities,
      ...createOffboardingActivities({ ...lifecycle, client }),
      ...createMoverActivities(lifecycle),
      ...(ldap && createDirectorySyncActivities({ pool, directory, read: () => readLdapDirectory(ldap) })),
    },
    maxCachedWorkflows: env.GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS,
    connectorConcurrency: env.GRANTFLOW_CONNECTOR_CONCURRENCY,
  });
  const stopReconciling = reconcileEvery(env.GRANTFLOW_RECONCILE_EVERY_SECONDS * 1000, {
    deps: { pool, config, log, env: process.env, activities, isRunning: runningIn(client) },
    graceMs: env.GRANTFLOW_RECONCILE_GRACE_SECONDS * 1000,
    log,
  });
  const stopAttesting = attestSignalsEvery(env.GRANTFLOW_SIGNAL_ATTEST_SECONDS * 1000, {
    pool,
    client,
    log,
    recordAudit: activities.recordAudit,
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
  if (ldap)
    await ensureDirectorySyncSchedule(client, env.TEMPORAL_TASK_QUEUE, env.GRANTFLOW_LDAP_SYNC_EVERY_SECONDS, log);
  const stopSweeps = sweepLifecycle(
    { pool, client, taskQueue: env.TEMPORAL_TASK_QUEUE, source: directory.source, log },
    env.GRANTFLOW_LEAVER_SWEEP_SECONDS * 1000,
  );
  // Worker.run() shuts down gracefully on SIGINT/SIGTERM.
  await worker.run();
  stopReconciling();
  stopAttesting();
  await stopSweeps();
  await clientConnection.close();
  stopCheckpoints();
  await pool.end();
  await connection.close();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
