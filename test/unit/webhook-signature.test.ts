import { checkV2, signV2, TOLERANCE_SECONDS } from '../../activities/connectors/webhook-signature';

// The README's test vector for gateway authors, computed independently with
//   printf 'v2\n1767225600\nreq-42:grant\n%s' "$BODY" | openssl dgst -sha256 -hmac 'whsec-test-vector-0123456789abcdef'
const vector = {
  secret: 'whsec-test-vector-0123456789abcdef',
  timestamp: 1767225600,
  key: 'req-42:grant',
  body: '{"action":"grant","requestId":"req-42","entitlement":"github:member","beneficiary":"alice","target":"member","expiresAt":"2026-01-08T00:00:00.000Z"}',
  header: 'v=2,t=1767225600,sig=a2614a662ef6566e358a1f810e51d51728f67d2925627cb23cc722b251957244',
};
const body = Buffer.from(vector.body, 'utf8');

test('signs the documented test vector', () => {
  expect(signV2(vector.secret, vector.timestamp, vector.key, vector.body)).toBe(vector.header);
});

test('accepts the vector within 5 minutes either side', () => {
  for (const now of [vector.timestamp, vector.timestamp + TOLERANCE_SECONDS, vector.timestamp - TOLERANCE_SECONDS]) {
    expect(checkV2(vector.secret, vector.header, vector.key, body, now)).toEqual({ ok: true, timestamp: 1767225600 });
  }
});

test.each([
  ['stale', vector.header, vector.key, body, vector.timestamp + 301, /is 301 s old/],
  ['from the future', vector.header, vector.key, body, vector.timestamp - 301, /dated 301 s ahead/],
  ['another idempotency key', vector.header, 'req-42:revoke', body, vector.timestamp, /does not match/],
  ['another body', vector.header, vector.key, Buffer.from(`${vector.body} `), vector.timestamp, /does not match/],
  [
    'a re-dated timestamp',
    vector.header.replace('t=1767225600', 't=1767225900'),
    vector.key,
    body,
    vector.timestamp + 600,
    /does not match/,
  ],
  ['version 1', 'v=1,t=1767225600,sig=' + 'a'.repeat(64), vector.key, body, vector.timestamp, /not version 2/],
  ['malformed', 'v=2,t=soon,sig=zz', vector.key, body, vector.timestamp, /malformed/],
  ['missing', undefined, vector.key, body, vector.timestamp, /missing/],
] as const)('refuses %s', (_name, header, key, raw, now, reason) => {
  const result = checkV2(vector.secret, header, key, raw, now);
  expect(result.ok).toBe(false);
  expect(result.ok ? '' : result.reason).toMatch(reason);
});
