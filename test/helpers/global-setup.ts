import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import type { StackState } from '../../scripts/stack';
import { AUDIT_HMAC_KEYS } from './audit-settings';

const statePath = path.join(os.tmpdir(), `grantflow-test-stack-${process.pid}.json`);

/** Starts a real PostgreSQL and Temporal dev server once for the workflow and integration suites. */
export default async function globalSetup(): Promise<void> {
  if (process.env.GRANTFLOW_TEST_STACK) return; // already started for another project in this run
  fs.rmSync(statePath, { force: true });
  const root = path.join(__dirname, '..', '..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/stack.ts', '--test', '--state', statePath], {
    cwd: root,
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  (globalThis as Record<string, unknown>).__grantflowStack = child;
  const deadline = Date.now() + 180_000;
  while (!fs.existsSync(statePath)) {
    if (child.exitCode !== null) throw new Error(`The test stack exited with code ${child.exitCode}.`);
    if (Date.now() > deadline) throw new Error('The test stack did not start within 3 minutes.');
    await new Promise((r) => setTimeout(r, 200));
  }
  const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as StackState;
  process.env.GRANTFLOW_TEST_STACK = statePath;
  process.env.DATABASE_URL = state.databaseUrl;
  process.env.GRANTFLOW_TEST_ADMIN_DATABASE_URL = state.adminDatabaseUrl;
  process.env.GRANTFLOW_ANALYTICS_DATABASE_URL = state.analyticsDatabaseUrl;
  process.env.TEMPORAL_ADDRESS = state.temporalAddress;
  // Every suite writes the one chain of the test database with the same HMAC keys, and none writes key files into the
  // clone; the harness gives each file a signing key and checkpoint file of its own on top.
  process.env.GRANTFLOW_AUDIT_HMAC_KEYS = AUDIT_HMAC_KEYS;
  process.env.GRANTFLOW_AUDIT_SIGNING_KEY = generateKeyPairSync('ed25519')
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  process.env.GRANTFLOW_AUDIT_CHECKPOINT_FILE = path.join(
    os.tmpdir(),
    `grantflow-test-checkpoints-${process.pid}.jsonl`,
  );
}
