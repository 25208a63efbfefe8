import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');
function run(script: string, env: NodeJS.ProcessEnv) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DATABASE_URL|GRANTFLOW_|OIDC_|TEMPORAL_)/.test(k)),
  );
  return spawnSync(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...clean, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('the worker stops at once on a bad environment, naming the variable', () => {
  const result = run('worker/main.ts', { DATABASE_URL: 'not-a-url', GRANTFLOW_WEBHOOK_SECRET: 'a-long-enough-secret' });
  expect(result.status).toBe(1);
  expect(result.stderr).toMatch(/DATABASE_URL is invalid: must be a postgres:\/\/ connection URL/);
});

test('the worker stops on a bad configuration file, naming the file, path and problem', () => {
  const result = run('worker/main.ts', {
    DATABASE_URL: process.env.DATABASE_URL,
    GRANTFLOW_WEBHOOK_SECRET: 'a-long-enough-secret',
    GRANTFLOW_CONFIG_DIR: path.join(root, 'test', 'fixtures', 'bad-config'),
  });
  expect(result.status).toBe(1);
  expect(result.stderr).toMatch(/directory\.yaml: users\[0\]\.manager: unknown user "nobody"/);
});

test('the API stops at once without any way to authenticate', () => {
  const result = run('api/main.ts', { DATABASE_URL: process.env.DATABASE_URL, NODE_ENV: 'production' });
  expect(result.status).toBe(1);
  expect(result.stderr).toMatch(/OIDC_ISSUER is not set/);
});

test('the worker stops at once in production without audit keys, naming the variable', () => {
  const result = run('worker/main.ts', {
    NODE_ENV: 'production',
    DATABASE_URL: process.env.DATABASE_URL,
    GRANTFLOW_WEBHOOK_SECRET: 'a-long-enough-secret',
    GRANTFLOW_AUDIT_HMAC_KEYS_FILE: path.join(root, 'test', 'fixtures', 'no-such-hmac-keys'),
  });
  expect(result.status).toBe(1);
  expect(result.stderr).toMatch(
    /GRANTFLOW_AUDIT_HMAC_KEYS_FILE: .* does not exist; in production the audit keys must be provided/,
  );
});
