/**
 * Records the workflow histories that test/faults/replay.test.ts replays: one request down every path of the
 * lifecycle, run against a real stack (embedded PostgreSQL, Temporal dev server) with SLAs and TTLs made short, each
 * saved as the history's proto JSON in test/faults/histories/<path>.json.
 *
 *   node --import tsx test/helpers/fault-record-histories.ts            # all paths, into histories/v2-lean/
 *   node --import tsx test/helpers/fault-record-histories.ts denied     # some
 *
 * Re-record only on purpose: a fixture is the past that running workflows carry, and the replay test exists to show
 * that new code still accepts it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startStack } from '../../scripts/stack';
import { tempDir } from '../../scripts/postgres';
import { freePort } from '../../scripts/temporal';
import {
  cancelUpdate,
  decideUpdate,
  extendUpdate,
  fulfilUpdate,
  rerouteSignal,
  rerouteUpdate,
  reviewUpdate,
  revokeUpdate,
  type RequestView,
} from '../../workflows/messages';
import type { RequestInput } from '../../domain/model';
import { historyPaths, historyResult, laneHistoryPaths } from './fault-history-json';
import { runRecorder, saveHistory } from './recording';
import { startEnv, withLicensedTool, withSla, type RawConfig, type TestEnv } from './harness';

// Histories of accessRequestV2 with this release's changes (patch `request-2026-12`, asked at the run's start with
// `request-clock`): one bookkeeping step per transition, the connector calls on a queue of their own, the tags search
// attribute, business hours, seats, reroutes. Those recorded before are kept as they are: the first workflow's in
// test/faults/histories/*.json, accessRequestV2's before its own clock in histories/v2/, with the clock in
// histories/v2-clock/.
const HISTORIES = path.join(__dirname, '..', 'faults', 'histories', 'v2-2026-12');

type Status = RequestView['status'];
const is =
  (...statuses: Status[]) =>
  (v: RequestView) =>
    statuses.includes(v.status);

let counter = 0;
const newId = () => `hist-${Date.now().toString(36)}-${++counter}`;

/** One path: drives a request from submission to its end and returns its request id. */
type Path = (env: TestEnv) => Promise<string>;

async function run(
  env: TestEnv,
  requester: string,
  input: Partial<RequestInput> & { entitlement: string },
  drive: (handle: Awaited<ReturnType<TestEnv['submit']>>, id: string) => Promise<void>,
): Promise<string> {
  const id = newId();
  const handle = await env.submit(requester, input, id);
  await drive(handle, id);
  await handle.result();
  return id;
}

const decide = (approver: string, decision: 'approve' | 'deny' = 'approve') => ({
  args: [{ approver, decision }] as [{ approver: string; decision: 'approve' | 'deny' }],
});

export const paths: Record<string, Path> = {
  'auto-approved': (env) =>
    run(env, 'alice', { entitlement: 'github:member', duration: 'PT2S' }, async () => undefined),

  'multi-stage-approved': (env) =>
    run(
      env,
      'alice',
      { entitlement: 'analytics-db:write', duration: 'PT2S', fields: { ticket: 'CHG-1234' } },
      async (handle, id) => {
        await env.waitFor(id, (v) => v.pendingApprovers.includes('bob'));
        await handle.executeUpdate(decideUpdate, decide('bob'));
        await env.waitFor(id, (v) => v.pendingApprovers.includes('grace'));
        await handle.executeUpdate(decideUpdate, decide('grace'));
      },
    ),

  denied: (env) =>
    run(env, 'grace', { entitlement: 'analytics-db:read' }, async (handle, id) => {
      await env.waitFor(id, (v) => v.pendingApprovers.includes('erin'));
      await handle.executeUpdate(decideUpdate, decide('erin', 'deny'));
    }),

  'timed-out-escalated': (env) => run(env, 'frank', { entitlement: 'analytics-db:read' }, async () => undefined),

  cancelled: (env) =>
    run(env, 'carol', { entitlement: 'analytics-db:read' }, async (handle, id) => {
      await env.waitFor(id, is('pending_approval'));
      await handle.executeUpdate(cancelUpdate, { args: [{ by: 'carol', reason: 'no longer needed' }] });
    }),

  revoked: (env) =>
    run(env, 'bob', { entitlement: 'github:member', duration: 'P1D' }, async (handle, id) => {
      await env.waitFor(id, is('active'));
      await handle.executeUpdate(revokeUpdate, { args: [{ by: 'dave', reason: 'left the project' }] });
    }),

  expired: (env) =>
    run(env, 'dave', { entitlement: 'analytics-db:read', duration: 'PT2S' }, async (handle, id) => {
      await env.waitFor(id, (v) => v.pendingApprovers.includes('erin'));
      await handle.executeUpdate(decideUpdate, decide('erin'));
    }),

  'break-glass-reviewed': (env) =>
    run(
      env,
      'alice',
      { entitlement: 'aws-prod:admin', breakGlass: true, fields: { ticket: 'INC-42' }, justification: 'Outage.' },
      async (handle, id) => {
        await env.waitFor(id, (v) => v.status === 'active' && v.reviewState === 'pending');
        await handle.executeUpdate(reviewUpdate, { args: [{ by: 'dave', outcome: 'cleared', comment: 'INC-42' }] });
      },
    ),

  'break-glass-review-overdue': (env) =>
    run(
      env,
      'bob',
      { entitlement: 'aws-prod:admin', breakGlass: true, fields: { ticket: 'INC-7' }, justification: 'Failover.' },
      async () => undefined,
    ),

  'extended-then-revoked': (env) =>
    run(env, 'erin', { entitlement: 'github:member', duration: 'P1D' }, async (handle, id) => {
      await env.waitFor(id, is('active'));
      await handle.executeUpdate(extendUpdate, {
        args: [{ by: 'erin', durationMs: 86_400_000, justification: 'Still onboarding.' }],
      });
      await handle.executeUpdate(revokeUpdate, { args: [{ by: 'erin' }] });
    }),

  'rejected-duplicate': async (env) => {
    const firstId = newId();
    const first = await env.submit('grace', { entitlement: 'github:member', duration: 'P1D' }, firstId);
    await env.waitFor(firstId, is('active'));
    const id = await run(env, 'grace', { entitlement: 'github:member' }, async () => undefined);
    await first.executeUpdate(revokeUpdate, { args: [{ by: 'grace' }] });
    await first.result();
    return id;
  },

  'manual-fulfilled-then-revoked': (env) =>
    run(env, 'alice', { entitlement: 'payroll:viewer' }, async (handle, id) => {
      for (const approver of ['bob', 'carol', 'dave']) {
        await env.waitFor(id, (v) => v.pendingApprovers.includes(approver));
        await handle.executeUpdate(decideUpdate, decide(approver));
      }
      await env.waitFor(id, (v) => v.fulfilment?.task === 'grant');
      await handle.executeUpdate(fulfilUpdate, { args: [{ by: 'carol', comment: 'added' }] });
      await env.waitFor(id, is('active'));
      await handle.executeUpdate(revokeUpdate, { args: [{ by: 'carol' }] });
      await env.waitFor(id, (v) => v.fulfilment?.task === 'revoke');
      await handle.executeUpdate(fulfilUpdate, { args: [{ by: 'carol', comment: 'removed' }] });
    }),
};

/**
 * A lane's own paths, recorded into a set of their own with the policy they need:
 *   node --import tsx test/helpers/fault-record-histories.ts v2-policy
 */
export const lanePaths: Record<string, { paths: Record<string, Path>; configure: (raw: RawConfig) => RawConfig }> = {
  // Issue 10: the only pending approver left (patch `reroute`): a person's reroute signal is refused, the offboarding's
  // reroute from system hands the stage to its fallback, who approves; the grant then expires.
  'v2-reroute': {
    paths: {
      'leaver-rerouted-approved': (env) =>
        run(env, 'alice', { entitlement: 'analytics-db:read', duration: 'PT2S' }, async (handle, id) => {
          await env.waitFor(id, (v) => v.pendingApprovers.includes('bob'));
          await handle.signal(rerouteSignal, { by: 'alice', leaver: 'bob', reason: 'not mine to move' });
          await env.waitFor(id, (v) => v.timeline.some((e) => e.event === 'refused'));
          const rerouted = await handle.executeUpdate(rerouteUpdate, {
            args: [{ by: 'system', leaver: 'bob', reason: 'offboarding: bob left' }],
          });
          if (!rerouted.pendingApprovers.includes('erin')) throw new Error(`rerouted to ${rerouted.pendingApprovers}`);
          await handle.executeUpdate(decideUpdate, decide('erin'));
        }),
    },
    configure: (raw) => raw,
  },
  'v2-policy': {
    paths: {
      'business-hours-timed-out': (env) =>
        run(env, 'frank', { entitlement: 'analytics-db:read' }, async () => undefined),
    },
    configure: (raw) => {
      withSla(raw, { reminders: ['PT1S'], escalateAfter: 'PT2S', deadline: 'PT6S' });
      // Every minute of every day is working time in the approver's zone, so the recording does not wait for a morning.
      raw.policy.calendar = {
        timeZone: 'UTC',
        workingDays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        hours: { from: '00:00', to: '23:59' },
        remindAt: '00:00',
      };
      const medium = raw.policy.rules.find((r: { name: string }) => r.name === 'medium');
      medium.plan[0].sla.clock = 'business';
      return raw;
    },
  },
  // Issue 15, seats (patch `request-2026-12`): a request that waits in line for the only seat of a licence-limited
  // entitlement and is provisioned when the holder's grant is revoked; one cancelled while in line.
  'v2-seats': {
    paths: {
      'seat-waited-then-revoked': async (env) => {
        const holder = await env.submit('alice', { entitlement: 'licensed-tool:seat' }, newId());
        const holderId = holder.workflowId.replace(/^access-request-/, '');
        await env.waitFor(holderId, is('active'));
        return run(env, 'carol', { entitlement: 'licensed-tool:seat' }, async (handle, id) => {
          await env.waitFor(id, (v) => v.seat?.state === 'queued');
          await holder.executeUpdate(revokeUpdate, { args: [{ by: 'dave', reason: 'licence moves on' }] });
          await holder.result();
          await env.waitFor(id, is('active'));
          await handle.executeUpdate(revokeUpdate, { args: [{ by: 'dave', reason: 'left the project' }] });
        });
      },
      'seat-queued-cancelled': async (env) => {
        const holder = await env.submit('alice', { entitlement: 'licensed-tool:seat' }, newId());
        const holderId = holder.workflowId.replace(/^access-request-/, '');
        await env.waitFor(holderId, is('active'));
        const id = await run(env, 'frank', { entitlement: 'licensed-tool:seat' }, async (handle, id) => {
          await env.waitFor(id, (v) => v.seat?.state === 'queued');
          await handle.executeUpdate(cancelUpdate, { args: [{ by: 'frank', reason: 'no longer needed' }] });
        });
        await holder.executeUpdate(revokeUpdate, { args: [{ by: 'dave', reason: 'done' }] });
        await holder.result();
        return id;
      },
    },
    configure: (raw) => {
      withLicensedTool(raw, 'licensed-tool', { limit: 1, whenFull: 'queue', recheckEvery: 'PT1S' });
      return raw;
    },
  },
};

async function main(): Promise<void> {
  const lane = lanePaths[process.argv[2] ?? ''];
  if (lane) return record(path.join(HISTORIES, '..', process.argv[2] as string), lane.paths, [], lane.configure);
  const wanted = process.argv.slice(2);
  const unlisted = Object.keys(paths).filter((name) => !(name in historyPaths));
  if (unlisted.length) throw new Error(`add ${unlisted.join(', ')} to historyPaths in fault-history-json.ts`);
  const unknown = wanted.filter((name) => !(name in paths));
  if (unknown.length) throw new Error(`unknown paths: ${unknown.join(', ')}; known: ${Object.keys(paths).join(', ')}`);
  return record(HISTORIES, paths, wanted, (raw) => {
    withSla(raw, { reminders: ['PT1S'], escalateAfter: 'PT2S', deadline: 'PT6S' });
    const aws = raw.catalog.resources.find((r: { id: string }) => r.id === 'aws-prod');
    aws.entitlements[0].breakGlass.ttl = 'PT3S';
    return raw;
  });
}

async function record(
  dir: string,
  all: Record<string, Path>,
  wanted: string[],
  configure: (raw: RawConfig) => RawConfig,
): Promise<void> {
  const expectations = { ...historyPaths, ...laneHistoryPaths[path.basename(dir)] };
  const dataDir = tempDir('grantflow-histories-');
  const stack = await startStack({ dataDir, pgPort: await freePort(), temporalPort: await freePort(), fast: true });
  process.env.DATABASE_URL = stack.databaseUrl;
  process.env.GRANTFLOW_ANALYTICS_DATABASE_URL = stack.analyticsDatabaseUrl;
  process.env.TEMPORAL_ADDRESS = stack.temporalAddress;
  const env = await startEnv({ title: 'histories', configure });
  try {
    for (const name of wanted.length ? wanted : Object.keys(all)) {
      const id = await (all[name] as Path)(env);
      const history = await env.client.workflow.getHandle(`access-request-${id}`).fetchHistory();
      const ended = historyResult(history);
      const expected = expectations[name];
      if (ended?.status !== expected?.status || ended?.reviewState !== expected?.reviewState) {
        throw new Error(`${name} ended ${JSON.stringify(ended && { s: ended.status, r: ended.reviewState })}`);
      }
      await saveHistory(dir, name, history);
    }
  } finally {
    await env.stop();
    await stack.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

runRecorder(module, main);
