import { z } from 'zod';
import { ConfigError } from './errors';
import { checkTemporalEnv, temporalEnvShape } from './temporal';

export { ConfigError };

const port = z.coerce.number().int().min(1).max(65535);
// The audit chain's keys and checkpoints (activities/audit-settings.ts reads and checks them, and says what is wrong).
const audit = {
  /** HMAC keys, `<id>:<secret>` comma- or line-separated, the first current; or a file of them. */
  GRANTFLOW_AUDIT_HMAC_KEYS: z.string().optional(),
  GRANTFLOW_AUDIT_HMAC_KEYS_FILE: z.string().optional(),
  /** The checkpoints' Ed25519 private key (PEM), or a file holding it. */
  GRANTFLOW_AUDIT_SIGNING_KEY: z.string().optional(),
  GRANTFLOW_AUDIT_SIGNING_KEY_FILE: z.string().optional(),
  GRANTFLOW_AUDIT_CHECKPOINT_FILE: z.string().optional(),
  GRANTFLOW_AUDIT_CHECKPOINT_INTERVAL_SECONDS: z.coerce.number().min(0).optional(),
};
const common = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL'),
  GRANTFLOW_CONFIG_DIR: z.string().min(1).default('config/demo'),
  /** Where identities come from: the YAML file (synced at start-up), SCIM pushes, or LDAP sync. */
  GRANTFLOW_DIRECTORY_SOURCE: z.enum(['yaml', 'scim', 'ldap']).default('yaml'),
  /** `false` when migrations run as a step of their own, with the owner's role (DATABASE_URL is the app's role). */
  GRANTFLOW_MIGRATE_ON_START: z.enum(['true', 'false']).default('true'),
  ...temporalEnvShape,
  ...audit,
};

export const workerEnvSchema = z
  .object({
    ...common,
    GRANTFLOW_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters'),
    /** Also send the deprecated, replayable v1 signature, for a gateway that has not moved to v2 (this release only). */
    GRANTFLOW_WEBHOOK_SIGNATURE_V1: z.enum(['true', 'false']).default('false'),
    /** A Slack-compatible incoming webhook for notifications; unset means notifications go to the log only. */
    GRANTFLOW_NOTIFY_WEBHOOK_URL: z.url().optional(),
    GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
    /** How many connector calls (grants, revokes, checks) the worker makes at once, over all targets. */
    GRANTFLOW_CONNECTOR_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
    /** How often the worker looks for grants that outlived their workflow and for drift at the targets; 0: never. */
    GRANTFLOW_RECONCILE_EVERY_SECONDS: z.coerce.number().int().min(0).default(600),
    /** How often the worker attests signals with the Temporal client identity that sent them; 0: never. */
    GRANTFLOW_SIGNAL_ATTEST_SECONDS: z.coerce.number().int().min(0).default(60),
    /** How long past its end a live grant waits for its workflow before the reconciler ends it. */
    GRANTFLOW_RECONCILE_GRACE_SECONDS: z.coerce.number().int().min(60).default(3600),
    /** How often the worker starts the lifecycle runs no writer started (a leaver in directory.yaml, a lost start). */
    GRANTFLOW_LEAVER_SWEEP_SECONDS: z.coerce.number().int().min(1).default(30),
    /** With the LDAP source: the Temporal Schedule's interval for the sync; 0 means on demand only. */
    GRANTFLOW_LDAP_SYNC_EVERY_SECONDS: z.coerce.number().int().min(0).default(900),
  })
  .superRefine(checkTemporalEnv);
export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export const apiEnvSchema = z
  .object({
    ...common,
    PORT: port.default(8080),
    GRANTFLOW_DEV_JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    OIDC_ISSUER: z.url().optional(),
    OIDC_AUDIENCE: z.string().min(1).default('grantflow'),
    /** Unset: the key set URL comes from the issuer's discovery document. */
    OIDC_JWKS_URL: z.url().optional(),
    OIDC_IDENTITY_CLAIM: z.enum(['sub', 'email', 'preferred_username']).default('sub'),
    OIDC_JWKS_CACHE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
    OIDC_JWKS_COOLDOWN_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
    GRANTFLOW_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60),
    /** The portal's OIDC client (a public client: authorization code + PKCE); without it, no portal in OIDC mode. */
    GRANTFLOW_PORTAL_CLIENT_ID: z.string().min(1).optional(),
    GRANTFLOW_PORTAL_SCOPE: z.string().min(1).default('openid profile email'),
    /** Where people reach the portal (links in Slack messages); default http://127.0.0.1:PORT. */
    GRANTFLOW_PORTAL_URL: z.url().optional(),
    /** Slack approvals, on when both are set: the bot token (xoxb-) and the app's signing secret. */
    SLACK_BOT_TOKEN: z.string().min(1).optional(),
    SLACK_SIGNING_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Slack's Web API base URL (a stand-in in tests); default Slack's own. */
    GRANTFLOW_SLACK_API_URL: z.url().optional(),
  })
  .superRefine((env, ctx) => {
    checkTemporalEnv(env, ctx);
    if (env.NODE_ENV === 'production' && env.GRANTFLOW_DEV_JWT_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['GRANTFLOW_DEV_JWT_SECRET'],
        message: 'must not be set when NODE_ENV=production; use OIDC_ISSUER',
      });
    }
    if (Boolean(env.SLACK_BOT_TOKEN) !== Boolean(env.SLACK_SIGNING_SECRET)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.SLACK_BOT_TOKEN ? 'SLACK_SIGNING_SECRET' : 'SLACK_BOT_TOKEN'],
        message: 'Slack approvals need both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET',
      });
    }
    if (!env.GRANTFLOW_DEV_JWT_SECRET && !env.OIDC_ISSUER) {
      ctx.addIssue({
        code: 'custom',
        path: ['OIDC_ISSUER'],
        message: 'OIDC_ISSUER is required unless GRANTFLOW_DEV_JWT_SECRET is set (development only)',
      });
    }
    if (env.NODE_ENV === 'production') {
      // Keys fetched in the clear could be swapped on the way: a forged key set is a forged identity.
      for (const name of ['OIDC_ISSUER', 'OIDC_JWKS_URL'] as const) {
        const value = env[name];
        if (value && !value.startsWith('https://')) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'must be an https:// URL when NODE_ENV=production' });
        }
      }
    }
  });
export type ApiEnv = z.infer<typeof apiEnvSchema>;

/** Parses a process's environment, failing with one sentence per bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => {
    const name = String(i.path[0] ?? 'environment');
    const value = env[name];
    const secret = /SECRET|PASSWORD|_KEY$|_URL$/.test(name);
    const shown =
      value === undefined ? 'is not set' : secret ? 'is invalid' : `is ${JSON.stringify(value.slice(0, 60))}`;
    return `${name} ${shown}: ${i.message}.`;
  });
  throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
}
