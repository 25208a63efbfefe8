/**
 * The demo's stand-in for an ITSM / SCIM gateway: it checks each webhook's signature, applies each idempotency key
 * once, remembers who holds what (so `check` can answer) and shows every delivery at `GET /ledger`.
 * Run it with `tsx scripts/webhook-receiver.ts` (PORT, HOST, GRANTFLOW_WEBHOOK_SECRET).
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type Express } from 'express';
import { z } from 'zod';
import {
  IDEMPOTENCY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signBody,
  type WebhookPayload,
} from '../activities/connectors/webhook';
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
  /** How many times this key was delivered; only the first was applied. */
  count: number;
  firstAt: string;
  lastAt: string;
}

export interface ReceiverOptions {
  secret: string;
  /** Receives one object per event; defaults to JSON lines on stdout. */
  log?: (entry: Record<string, unknown>) => void;
}

const jsonLines = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(entry)}\n`);

export function createReceiver({ secret, log = jsonLines }: ReceiverOptions): Express {
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
    const entry = { at, path: req.path, timestamp: req.get(TIMESTAMP_HEADER) };
    if (!signatureMatches(secret, body, req.get(SIGNATURE_HEADER))) {
      log({ ...entry, event: 'rejected', reason: 'signature does not match' });
      res.status(401).json({ error: 'The X-Grantflow-Signature header does not match the body.' });
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

    const key = req.get(IDEMPOTENCY_HEADER);
    if (!key) {
      log({ ...entry, event: 'rejected', reason: 'no idempotency key', ...payload });
      res.status(400).json({ error: 'The Idempotency-Key header is required.' });
      return;
    }
    const seen = ledger.get(key);
    if (seen) {
      seen.count += 1;
      seen.lastAt = at;
      log({ ...entry, event: 'duplicate', key, count: seen.count, ...payload });
      res.json({ duplicate: true, key });
      return;
    }
    ledger.set(key, { key, path: req.path, body: payload, count: 1, firstAt: at, lastAt: at });
    holds.set(holding, payload.action === 'grant');
    log({ ...entry, event: 'applied', key, ...payload });
    res.json({ duplicate: false, key });
  });

  return app;
}

function signatureMatches(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
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
