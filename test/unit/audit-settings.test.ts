import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseKeyring } from '../../activities/audit-chain';
import { auditSettingsFromEnv } from '../../activities/audit-settings';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-audit-settings-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const files = (name: string) => ({
  GRANTFLOW_AUDIT_HMAC_KEYS_FILE: path.join(dir, name, 'hmac-keys'),
  GRANTFLOW_AUDIT_SIGNING_KEY_FILE: path.join(dir, name, 'signing.pem'),
  GRANTFLOW_AUDIT_CHECKPOINT_FILE: path.join(dir, name, 'checkpoints.jsonl'),
});

describe('the HMAC keyring', () => {
  test('the first key is current; comments, blank lines and commas separate keys', () => {
    const ring = parseKeyring(
      '# rotated 2026-12, "<id>:<secret>", newest first\nk2:second-key-0123456789abcdefghijklmnopq, k1:first-key-0123456789abcdefghijklmnopqr\n\n',
      'test',
    );
    expect(ring.current).toBe('k2');
    expect([...ring.keys.keys()]).toEqual(['k2', 'k1']);
  });

  test.each([
    ['', /no key is given/],
    ['k1', /each entry must be "<key id>:<secret>"/],
    ['k 1:first-key-0123456789abcdefghijklmnopqr', /key id of letters/],
    ['k1:short', /secret of key "k1" must be at least 32 bytes/],
    ['k1:first-key-0123456789abcdefghijklmnopqr,k1:first-key-0123456789abcdefghijklmnopqr', /"k1" appears twice/],
  ])('refuses %j', (text, message) => {
    expect(() => parseKeyring(text, 'GRANTFLOW_AUDIT_HMAC_KEYS')).toThrow(message);
  });
});

describe('audit settings from the environment', () => {
  test('outside production, missing key files are created once and then kept', () => {
    const env = { NODE_ENV: 'development', ...files('dev') };
    const first = auditSettingsFromEnv(env);
    const again = auditSettingsFromEnv(env);
    expect(again.keyring.current).toBe(first.keyring.current);
    expect(again.keyring.keys.get(again.keyring.current)).toEqual(first.keyring.keys.get(first.keyring.current));
    expect(again.signingKey.export({ type: 'pkcs8', format: 'pem' })).toBe(
      first.signingKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    expect(fs.statSync(env.GRANTFLOW_AUDIT_HMAC_KEYS_FILE).mode & 0o777).toBe(0o600);
    expect(first.checkpointIntervalMs).toBe(30_000);
  });

  test('in production, a missing key is named rather than made up', () => {
    expect(() => auditSettingsFromEnv({ NODE_ENV: 'production', ...files('prod') })).toThrow(
      /GRANTFLOW_AUDIT_HMAC_KEYS_FILE: .* does not exist; in production the audit keys must be provided/,
    );
    expect(fs.existsSync(path.join(dir, 'prod'))).toBe(false);
  });

  test('a signing key that is not Ed25519, or not a key, is refused', () => {
    const base = { NODE_ENV: 'production', GRANTFLOW_AUDIT_HMAC_KEYS: 'k1:first-key-0123456789abcdefghijklmnopqr' };
    expect(() => auditSettingsFromEnv({ ...base, GRANTFLOW_AUDIT_SIGNING_KEY: 'not a pem' })).toThrow(
      /GRANTFLOW_AUDIT_SIGNING_KEY: not a PEM private key/,
    );
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => auditSettingsFromEnv({ ...base, GRANTFLOW_AUDIT_SIGNING_KEY: pem })).toThrow(/must be an Ed25519/);
  });
});
