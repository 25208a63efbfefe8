import { apiEnvSchema, ConfigError, parseEnv, workerEnvSchema } from '../../platform/env';

const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/grantflow' };

test('a worker environment with defaults parses', () => {
  const env = parseEnv(workerEnvSchema, { ...base, GRANTFLOW_WEBHOOK_SECRET: 'a-long-enough-secret' });
  expect(env.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
  expect(env.GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS).toBe(1000);
});

test('each bad variable is named with what was expected, secrets are not echoed', () => {
  let error: unknown;
  try {
    parseEnv(workerEnvSchema, {
      DATABASE_URL: 'mysql://x',
      GRANTFLOW_WEBHOOK_SECRET: 'short',
      TEMPORAL_ADDRESS: 'nohost',
    });
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ConfigError);
  const message = (error as Error).message;
  expect(message).toMatch(/DATABASE_URL is invalid: must be a postgres:\/\/ connection URL\./);
  expect(message).toMatch(/GRANTFLOW_WEBHOOK_SECRET is invalid: must be at least 16 characters\./);
  expect(message).toMatch(/TEMPORAL_ADDRESS is "nohost": must be host:port\./);
  expect(message).not.toContain('short');
  expect(message).not.toContain('mysql');
});

test('a missing variable is named as not set', () => {
  expect(() => parseEnv(workerEnvSchema, { GRANTFLOW_WEBHOOK_SECRET: 'a-long-enough-secret' })).toThrow(
    /DATABASE_URL is not set/,
  );
});

test('the API refuses development tokens in production and needs OIDC settings', () => {
  expect(() =>
    parseEnv(apiEnvSchema, { ...base, NODE_ENV: 'production', GRANTFLOW_DEV_JWT_SECRET: 'a-long-enough-secret' }),
  ).toThrow(/GRANTFLOW_DEV_JWT_SECRET is invalid: must not be set when NODE_ENV=production/);
  expect(() => parseEnv(apiEnvSchema, { ...base, NODE_ENV: 'production' })).toThrow(/OIDC_ISSUER is not set/);
  const env = parseEnv(apiEnvSchema, {
    ...base,
    NODE_ENV: 'production',
    OIDC_ISSUER: 'https://id.example.com',
    OIDC_JWKS_URL: 'https://id.example.com/jwks',
  });
  expect(env.OIDC_AUDIENCE).toBe('grantflow');
});
