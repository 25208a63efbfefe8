import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { startDirectory } from '../directory/start';
import { loadConfig } from '../platform/config-files';
import { createPool, migrate } from '../platform/db';
import { apiEnvSchema, parseEnv } from '../platform/env';
import { createLogger } from '../platform/logger';
import { createApp } from './app';
import { authenticatorFromEnv } from './auth';
import { createScimTokens } from './scim/tokens';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const env = parseEnv(apiEnvSchema);
  const log = createLogger('api', env.LOG_LEVEL);
  const config = loadConfig(env.GRANTFLOW_CONFIG_DIR);
  await migrate(env.DATABASE_URL, log);
  const pool = createPool(env.DATABASE_URL);
  const directory = await startDirectory(pool, config, env.GRANTFLOW_DIRECTORY_SOURCE, log);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const app = createApp({
    client,
    pool,
    config,
    directory,
    scim: { enabled: env.GRANTFLOW_DIRECTORY_SOURCE === 'scim', tokens: createScimTokens(pool) },
    auth: authenticatorFromEnv(env),
    log,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    rateLimitPerMinute: env.GRANTFLOW_RATE_LIMIT_PER_MINUTE,
  });
  const server: Server = app.listen(env.PORT, () => {
    log.info({ port: env.PORT, temporal: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE }, 'api listening');
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
      void Promise.allSettled([connection.close(), pool.end()]).then(() => {
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
