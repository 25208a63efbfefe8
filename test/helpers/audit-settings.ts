import { generateKeyPairSync, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseKeyring } from '../../activities/audit-chain';
import type { AuditSettings } from '../../activities/audit-settings';

/** Audit settings held in memory, with a checkpoint file of their own that is only created once used. */
export function testAuditSettings(): AuditSettings {
  return {
    keyring: parseKeyring('unit-k1:unit-test-audit-key-0123456789abcdefghij', 'test'),
    signingKey: generateKeyPairSync('ed25519').privateKey,
    checkpointFile: path.join(os.tmpdir(), `grantflow-unit-checkpoints-${randomBytes(6).toString('hex')}.jsonl`),
    checkpointIntervalMs: 0,
  };
}
