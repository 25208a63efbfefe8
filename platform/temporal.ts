/**
 * How every process (worker, API, tools) reaches Temporal: a dev server in plaintext, a self-hosted cluster behind
 * TLS or mTLS, or Temporal Cloud with an API key or mTLS. The variable names are the Temporal CLI's own
 * (`TEMPORAL_TLS_CLIENT_CERT_PATH`, …), so an operator's shell that reaches the cluster with `temporal` reaches it
 * with grantflow too.
 */
import fs from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import { ConfigError } from './errors';

const hostname = z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name');
const file = z.string().min(1, 'must be a file path');
const flag = z.enum(['true', 'false'], 'must be true or false').transform((v) => v === 'true');

export const temporalEnvShape = {
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('grantflow'),
  /** Unset: TLS is on exactly when a certificate, a CA or an API key is configured. */
  TEMPORAL_TLS: flag.optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: file.optional(),
  TEMPORAL_TLS_SERVER_NAME: hostname.optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: file.optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: file.optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
};

export type TemporalEnv = z.output<z.ZodObject<typeof temporalEnvShape>>;

/** The combinations that cannot work, each refused with a sentence naming the variable to change. */
export function checkTemporalEnv(env: TemporalEnv, ctx: z.RefinementCtx): void {
  const issue = (path: keyof TemporalEnv, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const cert = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const key = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  if (cert && !key)
    issue('TEMPORAL_TLS_CLIENT_KEY_PATH', 'must be set with TEMPORAL_TLS_CLIENT_CERT_PATH (mTLS needs both)');
  if (key && !cert)
    issue('TEMPORAL_TLS_CLIENT_CERT_PATH', 'must be set with TEMPORAL_TLS_CLIENT_KEY_PATH (mTLS needs both)');
  if (env.TEMPORAL_API_KEY && cert) {
    issue('TEMPORAL_API_KEY', 'must not be set with TEMPORAL_TLS_CLIENT_CERT_PATH; authenticate with one of the two');
  }
  if (env.TEMPORAL_TLS === false) {
    const needsTls = [
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
      'TEMPORAL_TLS_SERVER_NAME',
      'TEMPORAL_TLS_CLIENT_CERT_PATH',
      'TEMPORAL_TLS_CLIENT_KEY_PATH',
      'TEMPORAL_API_KEY',
    ] as const;
    for (const name of needsTls) {
      if (env[name]) issue('TEMPORAL_TLS', `must not be false when ${name} is set: it only works over TLS`);
    }
  }
}

/** TLS is on when asked for, or implied by any TLS or API-key setting. */
export function usesTls(env: TemporalEnv): boolean {
  return (
    env.TEMPORAL_TLS ??
    Boolean(
      env.TEMPORAL_TLS_SERVER_CA_CERT_PATH ||
      env.TEMPORAL_TLS_SERVER_NAME ||
      env.TEMPORAL_TLS_CLIENT_CERT_PATH ||
      env.TEMPORAL_API_KEY,
    )
  );
}

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

/** The options both `Connection.connect` (client) and `NativeConnection.connect` (worker) take. */
export function temporalConnectionOptions(env: TemporalEnv): TemporalConnectionOptions {
  if (!usesTls(env)) return { address: env.TEMPORAL_ADDRESS };
  const tls: TLSConfig = {};
  if (env.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = env.TEMPORAL_TLS_SERVER_NAME;
  if (env.TEMPORAL_TLS_SERVER_CA_CERT_PATH) {
    tls.serverRootCACertificate = readPem('TEMPORAL_TLS_SERVER_CA_CERT_PATH', env.TEMPORAL_TLS_SERVER_CA_CERT_PATH);
  }
  if (env.TEMPORAL_TLS_CLIENT_CERT_PATH && env.TEMPORAL_TLS_CLIENT_KEY_PATH) {
    tls.clientCertPair = {
      crt: readPem('TEMPORAL_TLS_CLIENT_CERT_PATH', env.TEMPORAL_TLS_CLIENT_CERT_PATH),
      key: readPem('TEMPORAL_TLS_CLIENT_KEY_PATH', env.TEMPORAL_TLS_CLIENT_KEY_PATH),
    };
  }
  return { address: env.TEMPORAL_ADDRESS, tls, ...(env.TEMPORAL_API_KEY && { apiKey: env.TEMPORAL_API_KEY }) };
}

function readPem(name: string, path: string): Buffer {
  let content: Buffer;
  try {
    content = fs.readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${name} is ${JSON.stringify(path)}: the file cannot be read (${code}).`);
  }
  if (!content.toString('utf8').includes('-----BEGIN ')) {
    throw new ConfigError(`${name} is ${JSON.stringify(path)}: the file is not PEM (no "-----BEGIN" line).`);
  }
  return content;
}

/** How the connection is secured, for the start-up log line (never the key or the API key). */
export function describeTemporalSecurity(env: TemporalEnv): string {
  if (!usesTls(env)) return 'plaintext';
  if (env.TEMPORAL_TLS_CLIENT_CERT_PATH) return 'mTLS';
  return env.TEMPORAL_API_KEY ? 'TLS + API key' : 'TLS';
}

/**
 * Turns a failed first connection into one sentence that says what to check. The SDKs report TLS failures as
 * transport errors several layers deep; the operator needs to know which setting to look at.
 */
export function temporalConnectError(env: TemporalEnv, err: unknown): ConfigError {
  const raw = errorText(err);
  const where = `Temporal at ${env.TEMPORAL_ADDRESS} (${describeTemporalSecurity(env)})`;
  let hint: string;
  if (/certificate|UnknownIssuer|self[- ]signed|unable to verify|BadSignature|CERT_/i.test(raw)) {
    hint = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH
      ? "the server's certificate is not signed by the CA in TEMPORAL_TLS_SERVER_CA_CERT_PATH or does not name the server (TEMPORAL_TLS_SERVER_NAME)"
      : "the server's certificate is not trusted; set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it";
  } else if (/NotValidForName|hostname|altnames|subject alternative/i.test(raw)) {
    hint = "the server's certificate does not name this server; set TEMPORAL_TLS_SERVER_NAME to a name it carries";
  } else if (/handshake|alert|tls|ssl|reset|closed|EOF|h2|protocol/i.test(raw)) {
    hint = env.TEMPORAL_TLS_CLIENT_CERT_PATH
      ? 'the TLS handshake failed; check that the server accepts the client certificate in TEMPORAL_TLS_CLIENT_CERT_PATH'
      : usesTls(env)
        ? 'the TLS handshake failed; if the server requires a client certificate, set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH'
        : 'the connection was closed; if the server expects TLS, set TEMPORAL_TLS=true (and the TEMPORAL_TLS_* files it needs)';
  } else {
    hint = 'check TEMPORAL_ADDRESS and that the server is running';
  }
  return new ConfigError(`Cannot connect to ${where}: ${hint}. (${raw.slice(0, 300)})`);
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(' ← ');
}
