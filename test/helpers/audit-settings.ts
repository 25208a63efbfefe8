import { generateKeyPairSync, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseKeyring } from '../../activities/audit-chain';
import type { AuditSettings } from '../../activities/audit-settings';

/** The HMAC keys of every suite on the test stack (the global setup and the harness set them). */
export const AUDIT_HMAC_KEYS = 'test-k1:test-audit-hmac-key-0123456789-abcdefghijklmnop';

/** Audit settings held in memory, with a checkpoint file of their own that is only created once used. */
export function testAuditSettings(): AuditSettings {
  return {
    keyring: parseKeyring(AUDIT_HMAC_KEYS, 'test'),
    signingKey: generateKeyPairSync('ed25519').privateKey,
    checkpointFile: path.join(os.tmpdir(), `grantflow-unit-checkpoints-${randomBytes(6).toString('hex')}.jsonl`),
    checkpointIntervalMs: 0,
  };
}
