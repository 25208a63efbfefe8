import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';

export default async function globalTeardown(): Promise<void> {
  const child = (globalThis as Record<string, unknown>).__grantflowStack as ChildProcess | undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  if (process.env.GRANTFLOW_TEST_STACK) fs.rmSync(process.env.GRANTFLOW_TEST_STACK, { force: true });
  if (process.env.GRANTFLOW_AUDIT_CHECKPOINT_FILE)
    fs.rmSync(process.env.GRANTFLOW_AUDIT_CHECKPOINT_FILE, { force: true });
  delete process.env.GRANTFLOW_TEST_STACK;
}
