/**
 * How every process (worker, API, tools) reaches Temporal: a dev server in plaintext, a self-hosted cluster behind
 * TLS or mTLS, or Temporal Cloud with an API key or mTLS. The variable names are the Temporal CLI's own
 * (`TEMPORAL_TLS_CLIENT_CERT_PATH`, …), so an operator's shell that reaches the cluster with `temporal` reaches it
 * with grantflow too.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
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
 * Turns a failed first connection into one sentence that says which setting to check. The SDKs report TLS failures
 * vaguely (the client only says it could not connect before the deadline), so with TLS on the same handshake is
 * replayed with node:tls, which names the certificate problem.
 */
export async function temporalConnectError(env: TemporalEnv, err: unknown): Promise<ConfigError> {
  const raw = errorText(err);
  const where = `Temporal at ${env.TEMPORAL_ADDRESS} (${describeTemporalSecurity(env)})`;
  const hint = usesTls(env) ? tlsHint(env, await probeTls(env), raw) : plaintextHint(raw);
  return new ConfigError(`Cannot connect to ${where}: ${hint}. (${raw.slice(0, 300)})`);
}

function plaintextHint(raw: string): string {
  if (/ECONNREFUSED|Connection refused|dns|ENOTFOUND/i.test(raw))
    return 'check TEMPORAL_ADDRESS and that the server is running';
  return 'the connection failed; if the server expects TLS, set TEMPORAL_TLS=true (and the TEMPORAL_TLS_* files it needs)';
}

function tlsHint(env: TemporalEnv, probe: string | undefined, raw: string): string {
  const text = `${probe ?? ''} ${raw}`;
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|Connection refused/i.test(text)) {
    return 'nothing answers there; check TEMPORAL_ADDRESS and that the server is running';
  }
  if (/ALTNAME|NotValidForName|does not match certificate/i.test(text)) {
    return "the server's certificate does not carry the name asked for; set TEMPORAL_TLS_SERVER_NAME to a name it carries";
  }
  if (/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED|UnknownIssuer|BadSignature/i.test(text)) {
    return env.TEMPORAL_TLS_SERVER_CA_CERT_PATH
      ? "the server's certificate is not signed by the CA in TEMPORAL_TLS_SERVER_CA_CERT_PATH"
      : "the server's certificate is not trusted; set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it";
  }
  if (
    /certificate required|CertificateRequired|alert handshake failure/i.test(text) &&
    !env.TEMPORAL_TLS_CLIENT_CERT_PATH
  ) {
    return 'the server requires a client certificate; set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH';
  }
  if (
    /unknown ca|bad certificate|certificate unknown|UnknownCA|BadCertificate|alert|right after the TLS handshake/i.test(
      text,
    )
  ) {
    return env.TEMPORAL_TLS_CLIENT_CERT_PATH
      ? 'the server refused the client certificate in TEMPORAL_TLS_CLIENT_CERT_PATH (signed by a CA it does not trust?)'
      : 'the server refused the TLS handshake; if it requires a client certificate, set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH';
  }
  if (/wrong version number|packet length|unexpected eof|ECONNRESET/i.test(text)) {
    return 'the server did not answer TLS; is TEMPORAL_ADDRESS a TLS endpoint?';
  }
  if (env.TEMPORAL_API_KEY && /Unauthenticated|PermissionDenied|unauthorized/i.test(text)) {
    return 'the server refused TEMPORAL_API_KEY (or it is not valid for TEMPORAL_NAMESPACE)';
  }
  return 'check TEMPORAL_ADDRESS, the TEMPORAL_TLS_* settings and that the server is running';
}

const PROBE_TIMEOUT_MS = 3000;
// TLS 1.3 finishes the client's side before the server checks the client certificate: wait for its verdict.
const PROBE_SETTLE_MS = 1000;

/** Replays the TLS handshake with the configured files; resolves to the error text, or undefined when it succeeds. */
function probeTls(env: TemporalEnv): Promise<string | undefined> {
  let options: tls.ConnectionOptions;
  try {
    const { tls: config = {} } = temporalConnectionOptions(env);
    const [host = '', port = ''] = env.TEMPORAL_ADDRESS.split(':');
    const servername = config.serverNameOverride ?? (net.isIP(host) ? undefined : host);
    options = {
      host,
      port: Number(port),
      ALPNProtocols: ['h2'],
      ...(servername && { servername }),
      ...(config.serverRootCACertificate && { ca: Buffer.from(config.serverRootCACertificate) }),
      ...(config.clientCertPair && {
        cert: Buffer.from(config.clientCertPair.crt),
        key: Buffer.from(config.clientCertPair.key),
      }),
      // The name check is done below, against the name the SDK would use.
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(servername ?? host, cert),
    };
  } catch (err) {
    return Promise.resolve(errorText(err));
  }
  return new Promise((resolve) => {
    const socket = tls.connect(options);
    const done = (result: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(undefined), PROBE_TIMEOUT_MS);
    socket.once('error', (e: NodeJS.ErrnoException) => done(`${e.code ?? ''} ${e.message}`));
    socket.once('secureConnect', () => {
      // Read once: a server that refuses the client certificate says so with an alert after the handshake.
      socket.once('data', () => done(undefined));
      // Some servers (Node's among them) hang up without an alert when they refuse the client certificate.
      socket.once('close', () => done('closed right after the TLS handshake'));
      setTimeout(() => done(undefined), PROBE_SETTLE_MS);
      socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    });
  });
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(' ← ');
}
