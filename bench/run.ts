/**
 * `npm run bench`: starts its own stack (embedded PostgreSQL, the Temporal dev server) on free ports in a temporary
 * folder, grantflow's worker and the skeleton's as child processes, the API, the skeleton's HTTP front and the
 * webhook receiver in this process on 127.0.0.1; then measures history cost, decision latency, lifecycle throughput
 * and open-request capacity, prints a table and writes bench/results/latest.{json,md}. See bench/README.md.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../api/app';
import { devAuthenticator, signDevToken } from '../api/auth';
import { loadConfig } from '../platform/config-files';
import { createPool } from '../platform/db';
import { createLogger } from '../platform/logger';
import { tempDir } from '../scripts/postgres';
import { startStack, type Stack } from '../scripts/stack';
import { ensureTemporalCli, freePort } from '../scripts/temporal';
import { createReceiver } from '../scripts/webhook-receiver';
import { parseArgs, type BenchSettings, type Phase } from './lib/args';
import { post, type Bench, type Submitted, type System } from './lib/bench';
import { UserPool, writeBenchConfig, type Purpose } from './lib/directory';
import { machine, versions } from './lib/machine';
import { probePostgres } from './lib/probes';
import { consoleTable, markdown, pathTargets, profileOf, type Results } from './lib/report';
import { startWorkerChild, type WorkerChild } from './lib/worker-child';
import { capacityPhase } from './phases/capacity';
import { historyPhase } from './phases/history';
import { latencyPhase } from './phases/latency';
import { stormPhase } from './phases/storm';
import { throughputPhase } from './phases/throughput';
import { createSkeletonApp } from './skeleton/server';

const root = path.join(__dirname, '..');
const JWT_SECRET = 'grantflow-bench-secret-0123456789';
const WEBHOOK_SECRET = 'grantflow-bench-webhook-secret-0123';
const QUEUES = { grantflow: 'bench-grantflow', skeleton: 'bench-skeleton' };
const HISTORY_USERS = 12;

const t0 = Date.now();
/** Stops whatever main() has started so far; main() sets it up first thing, so a failure anywhere can call it. */
let stopEverything: () => Promise<void> = async () => undefined;
const say = (msg: string) =>
  process.stdout.write(`[${String(Math.round((Date.now() - t0) / 1000)).padStart(4)} s] ${msg}\n`);

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function settingsRecord(s: BenchSettings, extra: Record<string, unknown>): Record<string, unknown> {
  const { pollMs, ...rest } = s;
  return { ...rest, pollMs: Object.fromEntries(s.levels.map((n) => [n, pollMs(n)])), ...extra };
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2), path.join(__dirname, 'results'));
  const startMachine = machine();
  say(`grantflow bench, ${settings.mode} run (${startMachine.cpus} CPUs, load ${startMachine.loadAverage.join(' ')})`);
  const dataDir = tempDir('grantflow-bench-');
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });

  const cleanups: (() => Promise<unknown>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (stopEverything = () =>
    (cleaning ??= (async () => {
      for (const fn of cleanups.reverse())
        await fn().catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
      if (!settings.keep) fs.rmSync(dataDir, { recursive: true, force: true });
      else say(`Kept ${dataDir}`);
    })()));
  const abort = (why: string, code: number) => {
    say(why);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => abort('Interrupted; stopping everything.', 130));
  process.once('SIGTERM', () => abort('Terminated; stopping everything.', 143));
  const watchdog = setTimeout(
    () => abort(`The run passed its ${settings.deadlineS} s limit; stopping everything.`, 2),
    settings.deadlineS * 1000,
  );

  // Statements of the API (and the bench's own) are timed too: the inbox phase reads them.
  probePostgres();
  say(`Starting PostgreSQL and the Temporal dev server in ${dataDir}`);
  const temporalBin = ensureTemporalCli(say);
  const stack: Stack = await startStack({
    dataDir,
    pgPort: await freePort(),
    temporalPort: await freePort(),
    fast: false,
  });
  cleanups.push(() => stack.stop());

  // The calls the stand-in target has in hand at once (the storm phase checks the connector's bound).
  const receiverApp = createReceiver({ secret: WEBHOOK_SECRET, log: () => undefined });
  let inFlight = 0;
  let maxInFlight = 0;
  const receiver = http.createServer((req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once('close', () => (inFlight -= 1));
    receiverApp(req, res);
  });
  const receiverUrl = await listen(receiver);
  cleanups.push(() => new Promise((r) => receiver.close(r)));

  const counts: Record<Purpose, number> = {
    h: HISTORY_USERS,
    l: settings.latencySamples,
    t: settings.throughputUsers,
    c: settings.open,
    s: settings.storm.grants + 5,
  };
  const configDir = path.join(dataDir, 'config');
  // The audit keys and checkpoints of this run, shared by the worker child and the API in this process.
  const auditEnv = {
    GRANTFLOW_AUDIT_HMAC_KEYS_FILE: path.join(dataDir, 'audit', 'hmac-keys'),
    GRANTFLOW_AUDIT_SIGNING_KEY_FILE: path.join(dataDir, 'audit', 'checkpoint-signing-key.pem'),
    GRANTFLOW_AUDIT_CHECKPOINT_FILE: path.join(dataDir, 'audit', 'checkpoints.jsonl'),
  };
  Object.assign(process.env, auditEnv);
  writeBenchConfig(path.join(root, 'config', 'demo'), configDir, counts);
  const configEnv = { ...process.env, GRANTFLOW_WEBHOOK_RECEIVER_URL: receiverUrl };
  const config = loadConfig(configDir, configEnv);

  say('Starting the grantflow and skeleton workers (bundling their workflows)');
  const workerEnv = (mode: 'grantflow' | 'skeleton'): NodeJS.ProcessEnv => ({
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    BENCH_WORKER_MODE: mode,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_TASK_QUEUE: QUEUES[mode],
    DATABASE_URL: stack.databaseUrl,
    GRANTFLOW_CONFIG_DIR: configDir,
    GRANTFLOW_WORKER_MAX_CACHED_WORKFLOWS: String(settings.maxCachedWorkflows),
    GRANTFLOW_CONNECTOR_CONCURRENCY: String(settings.storm.connectorConcurrency),
    GRANTFLOW_WEBHOOK_SECRET: WEBHOOK_SECRET,
    GRANTFLOW_WEBHOOK_RECEIVER_URL: receiverUrl,
    GRANTFLOW_ANALYTICS_DATABASE_URL: stack.analyticsDatabaseUrl,
    ...auditEnv,
  });
  const workers: WorkerChild[] = [];
  cleanups.push(() => Promise.all(workers.map((w) => w.stop())));
  const [oursWorker, skeletonWorker] = await Promise.all(
    (['grantflow', 'skeleton'] as const).map(async (mode) => {
      const w = await startWorkerChild(mode, workerEnv(mode), path.join(logDir, `${mode}-worker.log`));
      workers.push(w);
      return w;
    }),
  );

  const connection = await Connection.connect({ address: stack.temporalAddress });
  cleanups.push(() => connection.close());
  const client = new Client({ connection });
  const apiPool = createPool(stack.databaseUrl);
  const db = createPool(stack.databaseUrl, 2);
  cleanups.push(
    () => apiPool.end(),
    () => db.end(),
  );
  const app = createApp({
    client,
    pool: apiPool,
    config,
    auth: devAuthenticator({ secret: JWT_SECRET, audience: 'grantflow' }),
    log: createLogger('api', 'warn'),
    taskQueue: QUEUES.grantflow,
    // One approver makes hundreds of decisions here; the limit is for people.
    rateLimitPerMinute: 1_000_000,
  });
  const apiServer = http.createServer(app);
  const apiUrl = await listen(apiServer);
  const skeletonServer = http.createServer(createSkeletonApp(client, QUEUES.skeleton));
  const skeletonUrl = await listen(skeletonServer);
  for (const server of [apiServer, skeletonServer]) {
    cleanups.push(
      () =>
        new Promise((r) => {
          server.close(r);
          server.closeAllConnections();
        }),
    );
  }

  const tokens = new Map<string, Promise<string>>();
  const token = (userId: string) => {
    let t = tokens.get(userId);
    if (!t) {
      t = signDevToken({ userId, secret: JWT_SECRET, ttl: '2h' });
      tokens.set(userId, t);
    }
    return t;
  };
  const ours: System = {
    name: 'grantflow',
    worker: oursWorker as WorkerChild,
    submit: async (requester, entitlement, extra = {}) =>
      post<Submitted>(
        `${apiUrl}/v1/requests`,
        { justification: 'Bench: measuring grantflow under load', ...extra, entitlement },
        await token(requester),
      ),
    decide: async (id, approver, decision) => {
      await post(`${apiUrl}/v1/requests/${id}/decisions`, { decision }, await token(approver));
    },
  };
  const skeleton: System = {
    name: 'skeleton',
    worker: skeletonWorker as WorkerChild,
    submit: async (requester, entitlement) => post<Submitted>(`${skeletonUrl}/requests`, { requester, entitlement }),
    decide: async (id, approver, decision) => {
      await post(`${skeletonUrl}/requests/${id}/decisions`, { approver, decision });
    },
  };
  const bench: Bench = {
    settings,
    client,
    db,
    users: new UserPool(counts),
    ours,
    skeleton,
    apiUrl,
    target: {
      url: receiverUrl,
      maxInFlight: () => maxInFlight,
      resetInFlight: () => (maxInFlight = inFlight),
    },
    token,
    cpuGroups: [
      { name: 'bench+API', pid: process.pid },
      { name: 'worker', pid: ours.worker.pid },
      { name: 'skeleton worker', pid: skeleton.worker.pid },
      { name: 'temporal', pid: stack.temporal.pid as number },
      { name: 'postgres', command: 'postgres' },
    ],
    log: say,
  };

  const pgVersion = (await db.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version;
  const results: Results = {
    generatedAt: new Date().toISOString(),
    mode: settings.mode,
    durationS: 0,
    problems: [],
    machine: startMachine,
    loadAverageAtEnd: [],
    versions: versions(temporalBin, `PostgreSQL ${pgVersion ?? 'unknown'}`),
    settings: settingsRecord(settings, {
      workerOptions: `createWorker(): maxCachedWorkflows ${settings.maxCachedWorkflows}, other Worker options the SDK defaults`,
      workerProcesses: 'one per system, each a child process (node --import tsx bench/worker.ts)',
      logLevel: 'warn (API and worker)',
      apiPoolMax: 10,
      workerPoolMax: 10,
      postgres: 'embedded, durable (fsync on, synchronous_commit on), max_connections 200',
      temporal: 'temporal server start-dev, SQLite with journal_mode=wal, synchronous=normal',
      rateLimitPerMinute: 1_000_000,
      syntheticUsers: counts,
      taskQueues: QUEUES,
    }),
  };

  const phase = async <T>(id: Phase, name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!settings.phases.includes(id)) return undefined;
    say(`${name}…`);
    const started = Date.now();
    try {
      const value = await fn();
      say(`${name} done in ${Math.round((Date.now() - started) / 1000)} s`);
      return value;
    } catch (err) {
      const message = `${name} failed: ${err instanceof Error ? err.message : String(err)}`;
      results.problems.push(message);
      say(message);
      return undefined;
    }
  };

  const history = await phase('history', 'History cost', () => historyPhase(bench));
  if (history) {
    Object.assign(results, pathTargets(history));
    const e = history.extended;
    if (e) {
      results.historyCost = {
        value: e.maxEventsPerRun,
        unit: 'events in the largest run of a grant extended many times',
        target: 'bounded: ≤ 2100 events per run (continue-as-new past 2000), every extension applied once',
        met: e.maxEventsPerRun <= 2100 && e.applied === e.requested && e.failures === 0,
        details: history,
      };
    }
  }
  const latency = await phase('latency', 'Decision latency', () => latencyPhase(bench));
  if (latency) {
    results.decisionLatency = {
      value: latency.p50Ratio,
      unit: 'ratio of p50 (decide call returned → grant active), grantflow / skeleton',
      target: '≤ 1.5 at p50 and at p99 (p99Ratio in details)',
      met: latency.p50Ratio <= 1.5 && latency.p99Ratio <= 1.5,
      details: latency,
    };
  }
  const throughput = await phase('throughput', 'Lifecycle throughput', () => throughputPhase(bench));
  if (throughput) {
    results.lifecycleThroughput = {
      value: throughput.minRatio,
      unit: 'ratio of completions per second, grantflow / skeleton (the lowest over the levels)',
      target: '≥ 0.7 at every level',
      met: throughput.minRatio >= 0.7,
      details: { ...throughput, profile: throughput.runs.map(profileOf) },
    };
  }
  // Before capacity, which leaves its open requests running.
  const storm = await phase('storm', 'Expiry storm', () => stormPhase(bench));
  if (storm) {
    results.expiryStorm = {
      value: storm.ratio,
      unit: `ratio: ${storm.grants} grants ending in the same minute, first expiry → last revoke at the target, / a lone grant's expiry → revoke (p50)`,
      target: `≤ grants / connector concurrency (${storm.allowedRatio}), every grant revoked, ≤ ${storm.connectorConcurrency} calls at the target at once`,
      met:
        storm.ratio <= storm.allowedRatio &&
        storm.grants === storm.requested &&
        storm.revokedAtTarget === storm.grants &&
        storm.maxInFlightAtTarget <= storm.connectorConcurrency,
      details: storm,
    };
  }

  const capacity = await phase('capacity', 'Open-request capacity', () => capacityPhase(bench));
  if (capacity) {
    results.openRequestCapacity = {
      value: capacity.reached,
      unit: 'requests pending approval at once',
      target: `${settings.open} open, with bob's inbox at N within 2 × its p50 at 100`,
      met: capacity.reached >= settings.open && capacity.inboxP50Ratio <= 2,
      details: { ...capacity, maxCachedWorkflows: settings.maxCachedWorkflows },
    };
  }

  results.durationS = (Date.now() - t0) / 1000;
  results.loadAverageAtEnd = machine().loadAverage;
  fs.mkdirSync(settings.outDir, { recursive: true });
  fs.writeFileSync(path.join(settings.outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(settings.outDir, 'latest.md'), markdown(results));
  process.stdout.write(`\n${consoleTable(results)}\n\n`);
  say(`Wrote ${path.relative(process.cwd(), path.join(settings.outDir, 'latest.json'))} and latest.md`);
  clearTimeout(watchdog);
  await cleanup();
  process.exit(results.problems.length ? 1 : 0);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopEverything().catch(() => undefined);
  process.exit(1);
});
