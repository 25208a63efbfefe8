import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apiEnvSchema, ConfigError, parseEnv, workerEnvSchema } from '../../platform/env';
import { describeTemporalSecurity, temporalConnectionOptions } from '../../platform/temporal';

const base = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/grantflow',
  GRANTFLOW_WEBHOOK_SECRET: 'a-long-enough-secret',
};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-temporal-env-'));
const pem = path.join(dir, 'file.pem');
fs.writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const notPem = path.join(dir, 'file.txt');
fs.writeFileSync(notPem, 'hello');

const worker = (vars: Record<string, string>) => parseEnv(workerEnvSchema, { ...base, ...vars });
const api = (vars: Record<string, string>) =>
  parseEnv(apiEnvSchema, { ...base, GRANTFLOW_DEV_JWT_SECRET: 'a-long-enough-secret', ...vars });

test('plaintext by default: no TLS options at all', () => {
  const env = worker({});
  expect(temporalConnectionOptions(env)).toEqual({ address: '127.0.0.1:7233' });
  expect(describeTemporalSecurity(env)).toBe('plaintext');
});

test('an API key alone turns TLS on with the system CAs (Temporal Cloud)', () => {
  const env = api({
    TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
    TEMPORAL_NAMESPACE: 'ns.acct',
    TEMPORAL_API_KEY: 'k',
  });
  expect(temporalConnectionOptions(env)).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'k' });
  expect(describeTemporalSecurity(env)).toBe('TLS + API key');
});

test('mTLS reads the CA, the client certificate and key, and the server name', () => {
  const env = worker({
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: pem,
    TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    TEMPORAL_TLS_CLIENT_CERT_PATH: pem,
    TEMPORAL_TLS_CLIENT_KEY_PATH: pem,
  });
  const { tls } = temporalConnectionOptions(env);
  expect(tls?.serverNameOverride).toBe('temporal.internal');
  expect(tls?.serverRootCACertificate?.toString()).toContain('BEGIN CERTIFICATE');
  expect(tls?.clientCertPair?.crt).toBeInstanceOf(Buffer);
  expect(describeTemporalSecurity(env)).toBe('mTLS');
});

test.each([
  [
    { TEMPORAL_TLS_CLIENT_CERT_PATH: pem },
    /TEMPORAL_TLS_CLIENT_KEY_PATH is not set: must be set with TEMPORAL_TLS_CLIENT_CERT_PATH/,
  ],
  [
    { TEMPORAL_TLS_CLIENT_KEY_PATH: pem },
    /TEMPORAL_TLS_CLIENT_CERT_PATH is not set: must be set with TEMPORAL_TLS_CLIENT_KEY_PATH/,
  ],
  [
    { TEMPORAL_API_KEY: 'secret-key', TEMPORAL_TLS_CLIENT_CERT_PATH: pem, TEMPORAL_TLS_CLIENT_KEY_PATH: pem },
    /TEMPORAL_API_KEY is invalid: must not be set with TEMPORAL_TLS_CLIENT_CERT_PATH/,
  ],
  [
    { TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'secret-key' },
    /TEMPORAL_TLS is "false": must not be false when TEMPORAL_API_KEY is set/,
  ],
  [
    { TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_CA_CERT_PATH: pem },
    /must not be false when TEMPORAL_TLS_SERVER_CA_CERT_PATH is set/,
  ],
  [{ TEMPORAL_TLS: 'yes' }, /TEMPORAL_TLS is "yes": must be true or false/],
  [{ TEMPORAL_TLS_SERVER_NAME: 'bad name' }, /TEMPORAL_TLS_SERVER_NAME is "bad name": must be a host name/],
])('a bad combination stops worker and API with a sentence: %j', (vars, message) => {
  expect(() => worker(vars)).toThrow(message);
  expect(() => api(vars)).toThrow(message);
});

test('the API key is never echoed', () => {
  let error: unknown;
  try {
    worker({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'do-not-print-me' });
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as Error).message).not.toContain('do-not-print-me');
});

test('unreadable or non-PEM files are named with the variable', () => {
  const missing = worker({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'nope.pem') });
  expect(() => temporalConnectionOptions(missing)).toThrow(
    /TEMPORAL_TLS_SERVER_CA_CERT_PATH is ".*nope\.pem": the file cannot be read \(ENOENT\)\./,
  );
  const garbage = worker({ TEMPORAL_TLS_CLIENT_CERT_PATH: pem, TEMPORAL_TLS_CLIENT_KEY_PATH: notPem });
  expect(() => temporalConnectionOptions(garbage)).toThrow(/TEMPORAL_TLS_CLIENT_KEY_PATH is ".*": the file is not PEM/);
});
