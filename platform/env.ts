import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);
const temporal = {
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('grantflow'),
};
const common = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL'),
  GRANTFLOW_CONFIG_DIR: z.string().min(1).default('config/demo'),
  /** Where identities come from: the YAML file (synced at start-up), SCIM pushes, or LDAP sync. */
  GRANTFLOW_DIRECTORY_SOURCE: z.enum(['yaml', 'scim', 'ldap']).default('yaml'),
  ...temporal,
};

export const workerEnvSchema = z.object({
  ...common,
  GRANTFLOW_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters'),
  /** A Slack-compatible incoming webhook for notifications; unset means notifications go to the log only. */
  GRANTFLOW_NOTIFY_WEBHOOK_URL: z.url().optional(),
  GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
});
export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export const apiEnvSchema = z
  .object({
    ...common,
    PORT: port.default(8080),
    GRANTFLOW_DEV_JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    OIDC_ISSUER: z.url().optional(),
    OIDC_AUDIENCE: z.string().min(1).default('grantflow'),
    OIDC_JWKS_URL: z.url().optional(),
    GRANTFLOW_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && env.GRANTFLOW_DEV_JWT_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['GRANTFLOW_DEV_JWT_SECRET'],
        message: 'must not be set when NODE_ENV=production; use OIDC_ISSUER and OIDC_JWKS_URL',
      });
    }
    if (!env.GRANTFLOW_DEV_JWT_SECRET && !(env.OIDC_ISSUER && env.OIDC_JWKS_URL)) {
      ctx.addIssue({
        code: 'custom',
        path: ['OIDC_ISSUER'],
        message: 'OIDC_ISSUER and OIDC_JWKS_URL are required unless GRANTFLOW_DEV_JWT_SECRET is set (development only)',
      });
    }
  });
export type ApiEnv = z.infer<typeof apiEnvSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses a process's environment, failing with one sentence per bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => {
    const name = String(i.path[0] ?? 'environment');
    const value = env[name];
    const secret = /SECRET|PASSWORD|_URL$/.test(name);
    const shown =
      value === undefined ? 'is not set' : secret ? 'is invalid' : `is ${JSON.stringify(value.slice(0, 60))}`;
    return `${name} ${shown}: ${i.message}.`;
  });
  throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
}
