import type { Express } from 'express';
import { createApp, type AppDeps } from '../../api/app';
import { devAuthenticator } from '../../api/auth';
import { PostgresRateLimitStore } from '../../api/rate-limit';
import { createLogger } from '../../platform/logger';
import { uniqueId, type TestEnv } from './harness';

/** The API in-process over a test environment's Temporal client, pool and task queue, with dev tokens signed by `secret`. */
export function createTestApp(env: TestEnv, secret: string, overrides: Partial<AppDeps> = {}): Express {
  return createApp({
    client: env.client,
    pool: env.pool,
    config: env.config,
    auth: devAuthenticator({ secret, audience: 'grantflow' }),
    log: createLogger('api-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
    taskQueue: env.taskQueue,
    rateLimitPerMinute: 1000,
    // Counted in PostgreSQL as in production, under a scope of this app's own: suites sharing the test database (and
    // its users) never spend each other's budget.
    rateLimitStore: new PostgresRateLimitStore(env.pool, uniqueId('writes')),
    ...overrides,
  });
}
