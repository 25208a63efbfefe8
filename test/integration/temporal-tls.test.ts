/**
 * Worker and API reach Temporal through a TLS-terminating proxy in front of the dev server, configured only through
 * the environment variables a deployment sets: TLS with a private CA, then mTLS with a client certificate. A wrong
 * CA and a missing or untrusted client certificate stop the connection with a sentence that names the setting.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import request from 'supertest';
import { signDevToken } from '../../api/auth';
import { apiEnvSchema, parseEnv, workerEnvSchema } from '../../platform/env';
import { temporalConnectError, temporalConnectionOptions } from '../../platform/temporal';
import { createTestApp } from '../helpers/api';
import { makeCertificates, SERVER_NAME, type TestCertificates } from '../helpers/certs';
import { startEnv, uniqueId } from '../helpers/harness';
import { startTlsProxy, type TlsProxy } from '../helpers/tls-proxy';

jest.setTimeout(120_000);

const SECRET = 'temporal-tls-test-secret-0123456789';
const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/grantflow', GRANTFLOW_WEBHOOK_SECRET: SECRET };

let certs: TestCertificates;
let tlsProxy: TlsProxy;
let mtlsProxy: TlsProxy;

beforeAll(async () => {
  certs = makeCertificates();
  const target = process.env.TEMPORAL_ADDRESS as string;
  tlsProxy = await startTlsProxy({ target, cert: certs.serverCert, key: certs.serverKey });
  mtlsProxy = await startTlsProxy({
    target,
    cert: certs.serverCert,
    key: certs.serverKey,
    clientCa: certs.clientCaCert,
  });
});
afterAll(async () => {
  await tlsProxy?.close();
  await mtlsProxy?.close();
});

/** The worker's and the API's options, each parsed from the environment by its own process schema. */
function optionsFor(vars: Record<string, string>) {
  const worker = temporalConnectionOptions(parseEnv(workerEnvSchema, { ...base, ...vars }));
  const api = temporalConnectionOptions(parseEnv(apiEnvSchema, { ...base, GRANTFLOW_DEV_JWT_SECRET: SECRET, ...vars }));
  expect(api).toEqual(worker);
  return worker;
}

/** Submits an auto-approved request through the API; the worker on the same connection settings provisions it. */
async function roundTrip(title: string, vars: Record<string, string>, proxy: TlsProxy): Promise<void> {
  const before = proxy.sessions();
  const user = `tls-${uniqueId('u').replace(/[^a-z0-9-]/g, '')}`;
  const env = await startEnv({
    title,
    temporal: optionsFor(vars),
    configure: (raw) => {
      raw.directory.users.push({
        id: user,
        name: 'TLS Tester',
        department: 'engineering',
        manager: 'bob',
        groups: ['engineering'],
      });
      return raw;
    },
  });
  try {
    const app = createTestApp(env, SECRET);
    const token = await signDevToken({ userId: user, secret: SECRET });
    const submitted = await request(app)
      .post('/v1/requests')
      .set('Authorization', `Bearer ${token}`)
      .send({ entitlement: 'github:member', justification: 'Reviewing pull requests for the platform team.' });
    expect(submitted.status).toBe(201);
    const view = await env.waitFor(submitted.body.id as string, (v) => v.status === 'active');
    expect(view.grant).toBeDefined();
  } finally {
    await env.stop();
  }
  // Worker and client each opened their own session through the proxy: the only way to the dev server here.
  expect(proxy.sessions() - before).toBeGreaterThanOrEqual(2);
}

async function connectFailure(vars: Record<string, string>): Promise<string> {
  const env = parseEnv(workerEnvSchema, { ...base, ...vars });
  const options = temporalConnectionOptions(env);
  const attempts = [
    NativeConnection.connect(options).then((c) => c.close()),
    Connection.connect({ ...options, connectTimeout: '5s' }).then((c) => c.close()),
  ];
  const messages: string[] = [];
  for (const attempt of attempts) {
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    messages.push((await temporalConnectError(env, err)).message);
  }
  return messages.join('\n');
}

describe('TLS with a private CA', () => {
  const vars = () => ({
    TEMPORAL_ADDRESS: tlsProxy.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
  });

  it('runs a request end to end: API and worker both through the proxy', async () => {
    await roundTrip('tls', vars(), tlsProxy);
  });

  it('refuses a server certificate from another CA, saying which setting to check', async () => {
    const message = await connectFailure({ ...vars(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.wrongCaCert });
    for (const line of message.split('\n')) {
      expect(line).toMatch(
        /^Cannot connect to Temporal at 127\.0\.0\.1:\d+ \(TLS\): the server's certificate is not signed by the CA in TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
      );
    }
  });

  it('refuses plaintext against a TLS server, suggesting TEMPORAL_TLS', async () => {
    const message = await connectFailure({ TEMPORAL_ADDRESS: tlsProxy.address });
    expect(message).toMatch(/\(plaintext\): .*set TEMPORAL_TLS=true/);
  });
});

describe('mTLS: the proxy requires a client certificate from its client CA', () => {
  const vars = () => ({
    TEMPORAL_ADDRESS: mtlsProxy.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
  });

  it('runs a request end to end with the client certificate', async () => {
    await roundTrip('mtls', vars(), mtlsProxy);
  });

  it('refuses a connection without a client certificate, naming the client certificate settings', async () => {
    const refusedBefore = mtlsProxy.refusals().length;
    const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...withoutClient } = vars();
    const message = await connectFailure(withoutClient);
    for (const line of message.split('\n')) {
      expect(line).toMatch(
        /\(TLS\): the server requires a client certificate; set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH/,
      );
    }
    expect(mtlsProxy.refusals().length).toBeGreaterThan(refusedBefore);
  });

  it('refuses a client certificate from a CA the server does not trust', async () => {
    const message = await connectFailure({
      ...vars(),
      TEMPORAL_TLS_CLIENT_CERT_PATH: certs.strangerCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: certs.strangerKey,
    });
    for (const line of message.split('\n')) {
      expect(line).toMatch(/\(mTLS\): the server refused the client certificate in TEMPORAL_TLS_CLIENT_CERT_PATH/);
    }
  });

  it('the API process stops at start-up with that sentence', async () => {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(GRANTFLOW_|OIDC_|TEMPORAL_)/.test(k)),
    );
    const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...withoutClient } = vars();
    // Not spawnSync: the proxy lives in this process and must keep answering while the API tries.
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      cwd: path.join(__dirname, '..', '..'),
      env: {
        ...clean,
        ...withoutClient,
        GRANTFLOW_DEV_JWT_SECRET: SECRET,
        // The suites' audit keys: the API applies the directory before it connects to Temporal, and those events
        // join the shared chain, which every suite verifies.
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('GRANTFLOW_AUDIT_'))),
        // DATABASE_URL is the application's role, which may not migrate.
        GRANTFLOW_MIGRATE_ON_START: 'false',
        PORT: '65531',
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(status).toBe(1);
    expect(stderr).toMatch(
      /Cannot connect to Temporal at 127\.0\.0\.1:\d+ \(TLS\): the server requires a client certificate/,
    );
  });
});
