import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { dispatchLifecycle } from '../directory/lifecycle';
import { startDirectory } from '../directory/start';
import { directorySyncRunner } from '../directory/sync-schedule';
import { loadCampaigns } from '../platform/campaign-files';
import { loadConfig } from '../platform/config-files';
import { createPool, migrate } from '../platform/db';
import { apiEnvSchema, parseEnv } from '../platform/env';
import { createLogger } from '../platform/logger';
import { auditSettingsFromEnv } from '../activities/audit-settings';
import { describeTemporalSecurity, temporalConnectError, temporalConnectionOptions } from '../platform/temporal';
import { createApp } from './app';
import { syncCampaignSchedules } from './campaign-schedules';
import { authenticatorFromEnv } from './auth';
import { portalSignInFromEnv } from './portal';
import { createSlack } from './slack/client';
import { createSlackMessenger } from './slack/messenger';
import { createScimTokens } from './scim/tokens';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const env = parseEnv(apiEnvSchema);
  const log = createLogger('api', env.LOG_LEVEL);
  const config = loadConfig(env.GRANTFLOW_CONFIG_DIR);
  const campaigns = loadCampaigns(env.GRANTFLOW_CONFIG_DIR, config);
  // Before any connection: a missing or bad key stops the process at once, naming the variable.
  const auditSettings = auditSettingsFromEnv(process.env);
  if (env.GRANTFLOW_MIGRATE_ON_START === 'true') await migrate(env.DATABASE_URL, log);
  const pool = createPool(env.DATABASE_URL);
  const directory = await startDirectory(pool, config, env.GRANTFLOW_DIRECTORY_SOURCE, log);
  const connection = await Connection.connect(temporalConnectionOptions(env)).catch(async (err: unknown) => {
    throw await temporalConnectError(env, err);
  });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  await syncCampaignSchedules(client, campaigns, env.TEMPORAL_TASK_QUEUE, log);
  const signIn = portalSignInFromEnv(env);
  if (!signIn) log.warn('no portal: OIDC is configured but GRANTFLOW_PORTAL_CLIENT_ID is not');
  const slack =
    env.SLACK_BOT_TOKEN && env.SLACK_SIGNING_SECRET
      ? createSlack(
          {
            botToken: env.SLACK_BOT_TOKEN,
            signingSecret: env.SLACK_SIGNING_SECRET,
            portalUrl: env.GRANTFLOW_PORTAL_URL ?? `http://127.0.0.1:${env.PORT}`,
            apiUrl: env.GRANTFLOW_SLACK_API_URL,
          },
          config,
        )
      : undefined;
  const messenger = slack && createSlackMessenger({ pool, slack, log });
  messenger?.start();
  const app = createApp({
    client,
    pool,
    config,
    directory,
    scim: {
      enabled: env.GRANTFLOW_DIRECTORY_SOURCE === 'scim',
      tokens: createScimTokens(pool),
      // A leaver pushed over SCIM is offboarded at once; the worker's sweep catches a start that failed here.
      afterChange: async () => {
        await dispatchLifecycle({ pool, client, taskQueue: env.TEMPORAL_TASK_QUEUE, source: 'scim', log });
      },
    },
    // The email claim is looked up in the live directory, not the one read at start-up.
    auth: authenticatorFromEnv(env, async () => (await directory.current()).users),
    log,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    rateLimitPerMinute: env.GRANTFLOW_RATE_LIMIT_PER_MINUTE,
    auditSettings,
    campaigns,
    // POST /v1/directory/sync runs the pull in the worker (which holds ldap.yaml) and waits for it.
    ...(directory.source === 'ldap' && { directorySync: directorySyncRunner(client, pool, env.TEMPORAL_TASK_QUEUE) }),
    ...(signIn && { portal: { signIn } }),
    ...(slack && { slack }),
  });
  const server: Server = app.listen(env.PORT, () => {
    const temporal = { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE };
    log.info({ port: env.PORT, temporal, security: describeTemporalSecurity(env) }, 'api listening');
  });
  // Slow clients must not hold sockets open indefinitely.
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api stopping: finishing requests in flight');
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
    server.close(() => {
      clearTimeout(force);
      void Promise.allSettled([messenger?.stop(), connection.close()])
        .then(() => Promise.allSettled([pool.end()]))
        .then(() => {
          log.info('api stopped');
          process.exit(0);
        });
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
