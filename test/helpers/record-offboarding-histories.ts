/**
 * Records the offboarding histories that test/faults/replay-offboarding.test.ts replays, in the style of
 * fault-record-histories.ts: a real stack (embedded PostgreSQL, Temporal dev server), the demo's YAML directory, and
 * one leaver (alice) whose offboarding goes through every step: a revoke held back at the target (a lease of another
 * request) so the offboarding polls, a worker restart while it polls, continue-as-new once the revoke is through,
 * and the handover of her service account with its review. Both runs' histories go to test/faults/histories/offboarding/.
 *
 *   node --import tsx test/helpers/record-offboarding-histories.ts
 *
 * Re-record only on purpose: a fixture is the past that running offboardings carry.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startStack } from '../../scripts/stack';
import { tempDir } from '../../scripts/postgres';
import { freePort } from '../../scripts/temporal';
import { createPool } from '../../platform/db';
import { createDirectoryView } from '../../directory/view';
import { syncYamlDirectory } from '../../directory/yaml';
import { decideUpdate } from '../../workflows/messages';
import {
  getOffboardingQuery,
  offboardingWorkflowId,
  type OffboardingArgs,
  type OffboardingState,
} from '../../workflows/identity/messages';
import { runRecorder, saveHistory } from './recording';
import { startEnv, uniqueId } from './harness';

const HISTORIES = path.join(__dirname, '..', 'faults', 'histories', 'offboarding');

async function main(): Promise<void> {
  const dataDir = tempDir('grantflow-offboarding-histories-');
  const stack = await startStack({ dataDir, pgPort: await freePort(), temporalPort: await freePort(), fast: true });
  process.env.DATABASE_URL = stack.databaseUrl;
  process.env.GRANTFLOW_ANALYTICS_DATABASE_URL = stack.analyticsDatabaseUrl;
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  const pool = createPool(stack.databaseUrl);
  const env = await startEnv({
    title: 'offboarding-histories',
    pool,
    directory: (config) => createDirectoryView(pool, config, 'yaml'),
    lifecycle: true,
  });
  try {
    await syncYamlDirectory(env.pool, env.config.directory);
    // alice holds github:member; her service account svc-ci holds analytics-db:read (approved by bob, her manager).
    const own = uniqueId('h');
    await env.submit('alice', { entitlement: 'github:member', duration: 'P1D' }, own);
    await env.waitFor(own, (v) => v.status === 'active');
    const forAccount = uniqueId('h');
    const handle = await env.submit('alice', { entitlement: 'analytics-db:read', beneficiary: 'svc-ci' }, forAccount);
    await env.waitFor(forAccount, (v) => v.pendingApprovers.includes('bob'));
    await handle.executeUpdate(decideUpdate, { args: [{ approver: 'bob', decision: 'approve' }] });
    await env.waitFor(forAccount, (v) => v.status === 'active');

    // Another request's change of alice's github:member in progress: her revoke waits at the target.
    await env.pool.query(
      `INSERT INTO connector_leases (beneficiary, entitlement, request_id, operation, lease_until)
       VALUES ('alice', 'github:member', 'held-by-the-recorder', 'grant', now() + interval '10 minutes')`,
    );
    const users = env.config.directory.users.map((u) => (u.id === 'alice' ? { ...u, active: false } : u));
    const diff = await syncYamlDirectory(env.pool, { users });
    const { rows } = await env.pool.query<{ version: string }>(
      "SELECT max(version) AS version FROM directory_changes WHERE subject_id = 'alice' AND change = 'deactivated'",
    );
    if (diff.deactivations.join() !== 'alice' || !rows[0]) throw new Error('alice was not deactivated');
    const version = Number(rows[0].version);
    const workflowId = offboardingWorkflowId('alice', version);
    const args: OffboardingArgs = {
      identityId: 'alice',
      version,
      source: 'yaml',
      change: 'deactivated',
      historyLimit: 40,
    };
    const first = await env.client.workflow.start('offboarding', {
      workflowId,
      taskQueue: env.taskQueue,
      args: [args],
    });

    const until = async (predicate: (s: OffboardingState) => boolean) => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
        const s = await first.query(getOffboardingQuery);
        if (predicate(s)) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error('the offboarding did not get there');
    };
    await until((s) => s.phase === 'waiting');
    // A worker restart while it polls: the next task runs on a worker that lost its cache.
    await new Promise((r) => setTimeout(r, 2500));
    await env.restartWorker();
    await new Promise((r) => setTimeout(r, 3500));
    await env.pool.query("DELETE FROM connector_leases WHERE request_id = 'held-by-the-recorder'");

    const done = (await env.client.workflow.getHandle(workflowId).result()) as OffboardingState;
    if (done.phase !== 'completed' || done.handovers.length !== 1) throw new Error(JSON.stringify(done));
    const runs = [
      ['leaver-restart-first-run', env.client.workflow.getHandle(workflowId, first.firstExecutionRunId)],
      ['leaver-restart-continued', env.client.workflow.getHandle(workflowId)],
    ] as const;
    for (const [name, h] of runs) await saveHistory(HISTORIES, name, await h.fetchHistory());
  } finally {
    await env.stop();
    await pool.end();
    await stack.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

runRecorder(module, main);
