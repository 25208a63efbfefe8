/**
 * `npm run bench:campaign`: access reviews at scale on a stack of its own (embedded PostgreSQL, Temporal dev server).
 *  1. ready: seconds from starting a campaign over --items live grants (written straight into the `requests`
 *     projection, as many requests would leave it) to `open`, and the workflow's history events then and at close;
 *  2. inbox: the reviewer's inbox (first page of 100, over HTTP) at --items items as a ratio to 100 items;
 *  3. apply: --revokes real requests (auto-approved, a real PostgreSQL role each) revoked by one campaign's default,
 *     seconds from the due date to `closed`, as a ratio to one revoke.
 * Writes bench/results/campaign/latest.{json,md}. Options: --items N (default 10000), --revokes N (default 1000).
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import request from 'supertest';
import { parse } from 'yaml';
import { createActivities } from '../activities';
import { parseKeyring } from '../activities/audit-chain';
import type { AuditSettings } from '../activities/audit-settings';
import { createApp } from '../api/app';
import { devAuthenticator, signDevToken } from '../api/auth';
import { parseCampaigns, type CampaignDefinition } from '../domain/campaign';
import { interpolateEnv, parseConfigs } from '../domain/config';
import { createPool } from '../platform/db';
import { createLogger } from '../platform/logger';
import { startStack } from '../scripts/stack';
import { tempDir } from '../scripts/postgres';
import { freePort } from '../scripts/temporal';
import { createWorker } from '../worker/create-worker';
import type { CampaignArgs } from '../workflows/campaign/messages';
import { workflowIdFor } from '../workflows/messages';
import { intOption, median } from './lib/args';
import { machine } from './lib/machine';

const option = (name: string, fallback: number) => intOption(name, fallback);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECRET = 'bench-campaign-secret-0123456789abcdef';

async function main(): Promise<void> {
  const items = option('items', 10_000);
  const revokes = option('revokes', 1000);
  // One grant per holder and entitlement can be open at a time: enough holders for every real revoke.
  const HOLDERS = Math.max(200, revokes);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dir = tempDir('grantflow-bench-campaign-');
  const stack = await startStack({
    dataDir: dir,
    pgPort: await freePort(),
    temporalPort: await freePort(),
    fast: true,
  });
  const log = createLogger('bench', 'silent');
  const root = path.join(__dirname, '..');
  const read = (name: string) =>
    parse(interpolateEnv(fs.readFileSync(path.join(root, 'config', 'demo', `${name}.yaml`), 'utf8'), process.env));
  const raw = { directory: read('directory'), catalog: read('catalog'), policy: read('policy') };
  const holders = Array.from({ length: HOLDERS }, (_, i) => `holder-${i}`);
  raw.directory.users.push(
    ...holders.map((id) => ({ id, name: id, department: 'engineering', manager: 'bob', groups: ['bench'] })),
  );
  raw.policy.rules.unshift({ name: 'bench', when: { entitlements: ['analytics-db:read'] }, plan: 'auto-approve' });
  const config = parseConfigs(raw);
  const auditSettings: AuditSettings = {
    keyring: parseKeyring('bench:bench-campaign-hmac-key-0123456789abcdef', 'bench'),
    signingKey: generateKeyPairSync('ed25519').privateKey,
    checkpointFile: path.join(dir, 'checkpoints.jsonl'),
    checkpointIntervalMs: 0,
  };
  const env = { ...process.env, GRANTFLOW_ANALYTICS_DATABASE_URL: stack.analyticsDatabaseUrl };
  const pool = createPool(stack.databaseUrl, 20);
  const native = await NativeConnection.connect({ address: stack.temporalAddress });
  const taskQueue = 'bench-campaign';
  const worker = await createWorker({
    connection: native,
    namespace: 'default',
    taskQueue,
    activities: createActivities({ pool, config, log, env, auditSettings }),
  });
  const running = worker.run();
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const app = createApp({
    client,
    pool,
    config,
    auth: devAuthenticator({ secret: SECRET, audience: 'grantflow' }),
    log,
    taskQueue,
    auditSettings,
    rateLimitPerMinute: 100_000,
  });
  const grace = `Bearer ${await signDevToken({ userId: 'grace', secret: SECRET })}`;

  const definition = (id: string, over: Partial<CampaignDefinition>): CampaignDefinition =>
    parseCampaigns(
      {
        version: 'bench',
        campaigns: [
          {
            id,
            name: id,
            scope: { entitlements: ['analytics-db:read'], groups: ['bench'] },
            reviewers: { rule: 'resource-owner', fallback: 'group:security' },
            duration: 'PT1H',
            default: 'keep',
            ...over,
          },
        ],
      },
      config,
    ).byId.get(id) as CampaignDefinition;
  const status = async (id: string) =>
    (await pool.query<{ status: string }>('SELECT status FROM campaigns WHERE id = $1', [id])).rows[0]?.status;
  const waitFor = async (id: string, wanted: string, timeoutMs = 600_000) => {
    const deadline = Date.now() + timeoutMs;
    while ((await status(id)) !== wanted) {
      if (Date.now() > deadline) throw new Error(`campaign ${id} never reached ${wanted}`);
      await sleep(50);
    }
  };
  const history = async (id: string) => {
    const d = await client.workflow.getHandle(id).describe();
    return d.historyLength;
  };
  /** Live grants as the projection holds them, one batch per statement; no workflow behind them. */
  const seed = async (prefix: string, n: number) => {
    for (let from = 0; from < n; from += 5000) {
      const count = Math.min(5000, n - from);
      await pool.query(
        `INSERT INTO requests (id, requester, beneficiary, entitlement, resource, status, justification, started_at,
                               expires_at, revision)
         SELECT $1 || g, 'holder-' || (g % $2), 'holder-' || (g % $2), 'analytics-db:read', 'analytics-db', 'active',
                'bench', now() - interval '1 day', now() + interval '30 days', 1
           FROM generate_series($3::int, $4::int) AS g`,
        [prefix, HOLDERS, from, from + count - 1],
      );
    }
  };
  const start = async (def: CampaignDefinition, suffix: string) => {
    const id = `campaign-${def.id}-${suffix}`;
    const args: CampaignArgs = { definition: def, startedBy: 'dave' };
    await client.workflow.start('accessReviewCampaign', { workflowId: id, taskQueue, args: [args] });
    return id;
  };
  const inboxMs = async (id: string) => {
    const times: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t0 = performance.now();
      const res = await request(app).get(`/v1/reviews/inbox?campaign=${id}&limit=100`).set('Authorization', grace);
      if (res.status !== 200 || res.body.items.length === 0) throw new Error(`inbox answered ${res.status}`);
      times.push(performance.now() - t0);
    }
    return median(times);
  };
  const cancel = (id: string) => client.workflow.getHandle(id).signal('cancel', { by: 'dave' });

  try {
    // 1 + 2: a small and a large campaign over seeded grants.
    await seed('small-', 100);
    const small = await start(definition('small', {}), '1');
    await waitFor(small, 'open');
    const smallInbox = await inboxMs(small);
    await cancel(small);
    await waitFor(small, 'cancelled');
    await seed('large-', items - 100);
    const t0 = performance.now();
    const large = await start(definition('large', {}), '1');
    await waitFor(large, 'open');
    const readySeconds = (performance.now() - t0) / 1000;
    const readyHistory = await history(large);
    const largeInbox = await inboxMs(large);
    await cancel(large);
    await waitFor(large, 'cancelled');
    await pool.query("UPDATE requests SET status = 'expired' WHERE justification = 'bench'");

    // 3: real requests revoked by a campaign's default, 1 and then `revokes` of them.
    const applySeconds = async (n: number, round: string) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i += 20) {
        await Promise.all(
          Array.from({ length: Math.min(20, n - i) }, async (_, k) => {
            const requestId = `${round}-${i + k}`;
            ids.push(requestId);
            await client.workflow.start('accessRequestV2', {
              workflowId: workflowIdFor(requestId),
              taskQueue,
              args: [
                {
                  requestId,
                  requester: holders[i + k] as string,
                  input: {
                    entitlement: 'analytics-db:read',
                    justification: 'Bench: a grant the campaign revokes.',
                    duration: 'P1D',
                    fields: {},
                    breakGlass: false,
                  },
                  submittedAt: new Date().toISOString(),
                },
              ],
            });
          }),
        );
      }
      for (;;) {
        const { rows } = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM requests WHERE id = ANY($1) AND status = 'active'",
          [ids],
        );
        if (rows[0]?.n === n) break;
        await sleep(200);
      }
      const def = definition(`apply-${round}`, { duration: 'PT5S', default: 'revoke', maxDefaultRevokeShare: 1 });
      const id = await start(def, '1');
      await waitFor(id, 'applying');
      const t = performance.now();
      await waitFor(id, 'closed');
      const seconds = (performance.now() - t) / 1000;
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM campaign_items WHERE campaign_id = $1 AND outcome = 'revoked'",
        [id],
      );
      if (rows[0]?.n !== n) throw new Error(`${rows[0]?.n} of ${n} revoked`);
      return { seconds, history: await history(id) };
    };
    const one = await applySeconds(1, 'one');
    const many = await applySeconds(revokes, 'many');

    const results = {
      at: new Date().toISOString(),
      machine: machine(),
      items,
      revokes,
      readySeconds,
      readyHistoryEvents: readyHistory,
      inboxMs: { at100: smallInbox, [`at${items}`]: largeInbox, ratio: largeInbox / smallInbox },
      apply: {
        oneSeconds: one.seconds,
        manySeconds: many.seconds,
        ratio: many.seconds / one.seconds,
        perRevokeMs: (many.seconds * 1000) / revokes,
        historyEventsAtClose: many.history,
      },
    };
    const md = [
      '# Access reviews bench',
      '',
      `${results.at}, ${os.cpus().length} cores (shared), \`npm run bench:campaign -- --items ${items} --revokes ${revokes}\``,
      '',
      '| figure | value |',
      '| --- | --- |',
      `| ${items} items: start to open | ${readySeconds.toFixed(1)} s |`,
      `| history events of the campaign's current run at open | ${readyHistory} |`,
      `| inbox, first page of 100, at 100 items | ${smallInbox.toFixed(1)} ms |`,
      `| inbox at ${items} items | ${largeInbox.toFixed(1)} ms (${(largeInbox / smallInbox).toFixed(2)}× the 100-item inbox) |`,
      `| 1 revoke: due to closed | ${one.seconds.toFixed(2)} s |`,
      `| ${revokes} revokes: due to closed | ${many.seconds.toFixed(2)} s (${(many.seconds / one.seconds).toFixed(1)}× one; ${results.apply.perRevokeMs.toFixed(0)} ms each) |`,
      `| history events of the run that applied ${revokes} revokes | ${many.history} |`,
      '',
    ].join('\n');
    const out = path.join(root, 'bench', 'results', 'campaign');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    fs.writeFileSync(path.join(out, 'latest.md'), md);
    process.stdout.write(md);
  } finally {
    // SIGINT/SIGTERM stop the worker by themselves.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await pool.end();
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
