/**
 * Webhook signatures. v2 (current) signs the timestamp and the idempotency key with the body, so a captured call
 * cannot be replayed later (the receiver refuses stale timestamps) nor its key reused for another body:
 *
 *   Grantflow-Signature: v=2,t=<unix seconds>,sig=<hex HMAC-SHA256(secret, "v2\n" + t + "\n" + key + "\n" + body)>
 *
 * `key` is the Idempotency-Key header (empty for `check` calls, which change nothing). v1 (`X-Grantflow-Signature:
 * sha256=<hex HMAC of the body>`) covers the body only and is sent only when a deployment opts in for the one
 * release it takes a gateway to move to v2 (GRANTFLOW_WEBHOOK_SIGNATURE_V1=true).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Grantflow-Signature';
/** Deprecated: body-only, replayable. */
export const V1_SIGNATURE_HEADER = 'X-Grantflow-Signature';
/** How old (or how far ahead) a v2 timestamp may be: Stripe's and Slack's tolerance. */
export const TOLERANCE_SECONDS = 300;

function mac(secret: string, timestamp: number, key: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`v2\n${timestamp}\n${key}\n`, 'utf8').update(body).digest('hex');
}

/** The v2 header value for one call. */
export function signV2(secret: string, timestamp: number, key: string, body: string | Buffer): string {
  return `v=2,t=${timestamp},sig=${mac(secret, timestamp, key, body)}`;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>` (v1). */
export function signV1(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

/** Checks a v2 header against the call as received, at `nowSeconds`. */
export function checkV2(
  secret: string,
  header: string | undefined,
  key: string,
  body: Buffer,
  nowSeconds: number,
  toleranceSeconds = TOLERANCE_SECONDS,
): SignatureCheck {
  if (!header) return { ok: false, reason: `the ${SIGNATURE_HEADER} header is missing` };
  const fields = new Map<string, string>();
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  if (fields.get('v') !== '2') return { ok: false, reason: `the ${SIGNATURE_HEADER} header is not version 2` };
  const t = Number(fields.get('t'));
  const sig = fields.get('sig') ?? '';
  if (!Number.isSafeInteger(t) || !/^[0-9a-f]{64}$/.test(sig)) {
    return { ok: false, reason: `the ${SIGNATURE_HEADER} header is malformed (v=2,t=<seconds>,sig=<64 hex>)` };
  }
  const expected = Buffer.from(mac(secret, t, key, body), 'utf8');
  if (!timingSafeEqual(expected, Buffer.from(sig, 'utf8'))) {
    return { ok: false, reason: 'the signature does not match the timestamp, idempotency key and body' };
  }
  // Checked after the signature, so an unsigned timestamp cannot probe the window.
  const age = nowSeconds - t;
  if (age > toleranceSeconds) return { ok: false, reason: `the call is ${age} s old (at most ${toleranceSeconds} s)` };
  if (-age > toleranceSeconds) {
    return { ok: false, reason: `the call is dated ${-age} s ahead (at most ${toleranceSeconds} s)` };
  }
  return { ok: true, timestamp: t };
}
