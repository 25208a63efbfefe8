/**
 * The demo's stand-in for an ITSM / SCIM gateway, and the reference for gateway authors: it checks each webhook's v2
 * signature (timestamp, idempotency key and body), refuses calls older than 5 minutes and an idempotency key already
 * applied with another body, applies each key once, remembers who holds what (so `check` can answer) and shows every
 * delivery at `GET /ledger`. Run it with `tsx scripts/webhook-receiver.ts` (PORT, HOST, GRANTFLOW_WEBHOOK_SECRET).
 */
import { createHash } from 'node:crypto';
import express, { type Express } from 'express';
import { z } from 'zod';
import { IDEMPOTENCY_HEADER, type WebhookPayload } from '../activities/connectors/webhook';
import {
  checkV2,
  SIGNATURE_HEADER,
  TOLERANCE_SECONDS,
  V1_SIGNATURE_HEADER,
} from '../activities/connectors/webhook-signature';
import { parseEnv } from '../platform/env';

const payloadSchema = z.object({
  action: z.enum(['grant', 'revoke', 'check']),
  requestId: z.string().min(1),
  entitlement: z.string().min(1),
  beneficiary: z.string().min(1),
  target: z.string().min(1),
  expiresAt: z.string().nullable(),
}) satisfies z.ZodType<WebhookPayload>;

export interface LedgerEntry {
  key: string;
  path: string;
  body: WebhookPayload;
  /** SHA-256 of the raw body first applied under this key: the same key with another body is refused. */
  bodyHash: string;
  /** How many times this key was delivered; only the first was applied. */
  count: number;
  firstAt: string;
  lastAt: string;
}

export interface ReceiverOptions {
  secret: string;
  /** Receives one object per event; defaults to JSON lines on stdout. */
  log?: (entry: Record<string, unknown>) => void;
  /** The clock, in Unix seconds (tests move it). */
  now?: () => number;
  toleranceSeconds?: number;
}

const jsonLines = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(entry)}\n`);

export function createReceiver({
  secret,
  log = jsonLines,
  now = () => Math.floor(Date.now() / 1000),
  toleranceSeconds = TOLERANCE_SECONDS,
}: ReceiverOptions): Express {
  const ledger = new Map<string, LedgerEntry>();
  // What the gateway's target system holds: one flag per path, beneficiary and target.
  const holds = new Map<string, boolean>();
  const app = express();
  app.disable('x-powered-by');

  app.get('/ledger', (_req, res) => {
    const deliveries = [...ledger.values()];
    res.json({ count: deliveries.length, deliveries });
  });

  app.post('/{*path}', express.raw({ type: () => true, limit: '64kb' }), (req, res) => {
    const at = new Date().toISOString();
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const key = req.get(IDEMPOTENCY_HEADER) ?? '';
    const entry = { at, path: req.path };
    // v1 signed the body only: a captured call could be replayed at any time, so this receiver no longer takes it.
    if (!req.get(SIGNATURE_HEADER) && req.get(V1_SIGNATURE_HEADER)) {
      log({ ...entry, event: 'rejected', reason: 'v1 signature' });
      res.status(401).json({
        error: `Only ${SIGNATURE_HEADER} (v2) is accepted: the v1 ${V1_SIGNATURE_HEADER} header does not cover the timestamp or the idempotency key.`,
      });
      return;
    }
    const check = checkV2(secret, req.get(SIGNATURE_HEADER), key, body, now(), toleranceSeconds);
    if (!check.ok) {
      log({ ...entry, event: 'rejected', reason: check.reason });
      res.status(401).json({ error: `Refused: ${check.reason}.` });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      json = undefined;
    }
    const parsed = payloadSchema.safeParse(json);
    if (!parsed.success) {
      log({ ...entry, event: 'rejected', reason: 'malformed payload' });
      res.status(400).json({ error: 'The body is not a grantflow webhook payload.', issues: parsed.error.issues });
      return;
    }
    const payload = parsed.data;
    const holding = `${req.path}|${payload.beneficiary}|${payload.target}`;

    if (payload.action === 'check') {
      const granted = holds.get(holding) ?? false;
      log({ ...entry, event: 'check', ...payload, granted });
      res.json({ granted });
      return;
    }

    if (!key) {
      log({ ...entry, event: 'rejected', reason: 'no idempotency key', ...payload });
      res.status(400).json({ error: 'The Idempotency-Key header is required.' });
      return;
    }
    const bodyHash = createHash('sha256').update(body).digest('hex');
    const seen = ledger.get(key);
    if (seen && seen.bodyHash !== bodyHash) {
      log({ ...entry, event: 'rejected', reason: 'idempotency key reused with another body', key, ...payload });
      // 422, not 409: nothing will make this key mean another call, so the sender must not retry.
      res.status(422).json({ error: `Idempotency-Key "${key}" was already applied with a different body.` });
      return;
    }
    if (seen) {
      seen.count += 1;
      seen.lastAt = at;
      log({ ...entry, event: 'duplicate', key, count: seen.count, ...payload });
      res.json({ duplicate: true, key });
      return;
    }
    ledger.set(key, { key, path: req.path, body: payload, bodyHash, count: 1, firstAt: at, lastAt: at });
    holds.set(holding, payload.action === 'grant');
    log({ ...entry, event: 'applied', key, ...payload });
    res.json({ duplicate: false, key });
  });

  return app;
}

const envSchema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(8090),
  HOST: z.string().min(1).default('127.0.0.1'),
  GRANTFLOW_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters'),
});

if (require.main === module) {
  try {
    const env = parseEnv(envSchema);
    createReceiver({ secret: env.GRANTFLOW_WEBHOOK_SECRET }).listen(env.PORT, env.HOST, (err?: Error) => {
      if (err) {
        process.stderr.write(`Cannot listen on ${env.HOST}:${env.PORT}: ${err.message}\n`);
        process.exit(1);
      }
      jsonLines({ at: new Date().toISOString(), event: 'listening', url: `http://${env.HOST}:${env.PORT}` });
    });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
