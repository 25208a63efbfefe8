/**
 * Where the audit chain's keys and checkpoints come from: the environment or files, never the database.
 * Outside production a missing key file is created (with a fresh random key) so `npm run dev` works from nothing;
 * in production every key must be provided.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { parseKeyring, type AuditKeyring } from './audit-chain';
import { createCheckpointer, fileSink, type Checkpointer } from './audit-checkpoints';
import type pg from 'pg';
import type { Logger } from '../platform/logger';

export interface AuditSettings {
  keyring: AuditKeyring;
  signingKey: KeyObject;
  checkpointFile: string;
  /** 0: no periodic checkpoints (on demand only). */
  checkpointIntervalMs: number;
}

export const AUDIT_DEFAULTS = {
  hmacKeysFile: '.grantflow/audit/hmac-keys',
  signingKeyFile: '.grantflow/audit/checkpoint-signing-key.pem',
  checkpointFile: '.grantflow/audit/checkpoints.jsonl',
  checkpointIntervalSeconds: 30,
};

export class AuditSettingsError extends Error {
  override name = 'AuditSettingsError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads the audit settings; fails with a sentence naming the variable when one is missing or wrong. */
export function auditSettingsFromEnv(env: Env): AuditSettings {
  const production = env.NODE_ENV === 'production';
  const keyring = (() => {
    const inline = env.GRANTFLOW_AUDIT_HMAC_KEYS;
    if (inline) return parse(() => parseKeyring(inline, 'GRANTFLOW_AUDIT_HMAC_KEYS'));
    const file = env.GRANTFLOW_AUDIT_HMAC_KEYS_FILE || AUDIT_DEFAULTS.hmacKeysFile;
    const text = readOrCreate(file, production, 'GRANTFLOW_AUDIT_HMAC_KEYS_FILE', () => {
      const id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
      return `# grantflow audit HMAC keys, "<id>:<secret>" one per line; the first signs new events.\n${id}:${randomBytes(32).toString('base64url')}\n`;
    });
    return parse(() => parseKeyring(text, file));
  })();
  const signingKey = (() => {
    const inline = env.GRANTFLOW_AUDIT_SIGNING_KEY;
    const file = env.GRANTFLOW_AUDIT_SIGNING_KEY_FILE || AUDIT_DEFAULTS.signingKeyFile;
    const pem = inline
      ? inline
      : readOrCreate(file, production, 'GRANTFLOW_AUDIT_SIGNING_KEY_FILE', () =>
          generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        );
    const where = inline ? 'GRANTFLOW_AUDIT_SIGNING_KEY' : file;
    const key = parse(() => createPrivateKey(pem), `${where}: not a PEM private key`);
    if (key.asymmetricKeyType !== 'ed25519') throw new AuditSettingsError(`${where}: must be an Ed25519 private key.`);
    return key;
  })();
  const interval = Number(env.GRANTFLOW_AUDIT_CHECKPOINT_INTERVAL_SECONDS ?? AUDIT_DEFAULTS.checkpointIntervalSeconds);
  if (!Number.isFinite(interval) || interval < 0) {
    throw new AuditSettingsError('GRANTFLOW_AUDIT_CHECKPOINT_INTERVAL_SECONDS must be a number of seconds, 0 or more.');
  }
  return {
    keyring,
    signingKey,
    checkpointFile: env.GRANTFLOW_AUDIT_CHECKPOINT_FILE || AUDIT_DEFAULTS.checkpointFile,
    checkpointIntervalMs: interval * 1000,
  };
}

export function checkpointerFor(settings: AuditSettings, pool: pg.Pool, log?: Logger): Checkpointer {
  return createCheckpointer({
    pool,
    signingKey: settings.signingKey,
    sink: fileSink(settings.checkpointFile),
    ...(log && { log }),
  });
}

function parse<T>(fn: () => T, prefix?: string): T {
  try {
    return fn();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new AuditSettingsError(prefix ? `${prefix}.` : message);
  }
}

function readOrCreate(file: string, production: boolean, variable: string, create: () => string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (production) {
    throw new AuditSettingsError(`${variable}: ${file} does not exist; in production the audit keys must be provided.`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written aside and linked into place: when the API and the worker start together, one creates the key and the
  // other reads the whole of it, never a half-written file.
  const aside = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(aside, create(), { mode: 0o600 });
  try {
    fs.linkSync(aside, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(aside, { force: true });
  }
  return fs.readFileSync(file, 'utf8');
}
