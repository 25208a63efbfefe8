/**
 * The infrastructure of the embedded stack: PostgreSQL (or DATABASE_URL), the Temporal dev server, migrations and
 * the demo analytics database. `npm run dev` uses it with fixed ports and a persistent folder; the test suites run
 * it as `tsx scripts/stack.ts --test --state <file>` with free ports and a throw-away folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { Connection } from '@temporalio/client';
import { migrate } from '../platform/db';
import { ensureDatabase, startEmbeddedPostgres, tempDir, type RunningPostgres } from './postgres';
import { freePort, startTemporalServer } from './temporal';

export interface StackOptions {
  dataDir: string;
  pgPort: number;
  temporalPort: number;
  uiPort?: number;
  fast?: boolean;
  /** Use this PostgreSQL instead of the embedded one. */
  databaseUrl?: string;
  log?: (msg: string) => void;
}

export interface StackState {
  /** The application's role (grantflow_app): no UPDATE, DELETE or TRUNCATE on the audit trail. */
  databaseUrl: string;
  /** The owner's role, which migrates (and which tests use to play an attacker with superuser rights). */
  adminDatabaseUrl: string;
  analyticsDatabaseUrl: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  pgPort: number;
  temporalPort: number;
  dataDir: string;
}

export interface Stack extends StackState {
  postgres?: RunningPostgres;
  temporal: ChildProcess;
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const log = opts.log ?? (() => undefined);
  fs.mkdirSync(opts.dataDir, { recursive: true });
  let postgres: RunningPostgres | undefined;
  let databaseUrl = opts.databaseUrl;
  let analyticsDatabaseUrl: string;
  if (databaseUrl) {
    const url = new URL(databaseUrl);
    url.pathname = '/analytics';
    analyticsDatabaseUrl = url.toString();
    await ensureDatabase(databaseUrl, 'analytics');
  } else {
    log(`Starting PostgreSQL on 127.0.0.1:${opts.pgPort} (data in ${path.join(opts.dataDir, 'postgres')})`);
    postgres = await startEmbeddedPostgres({
      dataDir: path.join(opts.dataDir, 'postgres'),
      port: opts.pgPort,
      fast: opts.fast,
    });
    await ensureDatabase(postgres.url('postgres'), 'grantflow');
    await ensureDatabase(postgres.url('postgres'), 'analytics');
    databaseUrl = postgres.url('grantflow');
    analyticsDatabaseUrl = postgres.url('analytics');
  }
  const adminDatabaseUrl = databaseUrl;
  await migrate(adminDatabaseUrl);
  // The embedded server is ours: the API and the worker log in as the application's role, as a deployment should.
  // A PostgreSQL given by URL is someone else's to set up (see the README's "Evidence" section).
  if (postgres) databaseUrl = await enableAppRole(adminDatabaseUrl, postgres.url('grantflow'));
  await seedAnalytics(analyticsDatabaseUrl);

  log(`Starting the Temporal dev server on 127.0.0.1:${opts.temporalPort}`);
  const temporal = await startTemporalServer({
    dbFile: path.join(opts.dataDir, 'temporal.db'),
    port: opts.temporalPort,
    uiPort: opts.uiPort,
    logFile: path.join(opts.dataDir, 'temporal.log'),
  });
  const temporalAddress = `127.0.0.1:${opts.temporalPort}`;
  await waitForNamespace(temporalAddress);

  const stop = async () => {
    await stopChild(temporal);
    await postgres?.stop();
  };
  return {
    databaseUrl,
    adminDatabaseUrl,
    analyticsDatabaseUrl,
    temporalAddress,
    temporalUiUrl: opts.uiPort ? `http://127.0.0.1:${opts.uiPort}` : undefined,
    pgPort: opts.pgPort,
    temporalPort: opts.temporalPort,
    dataDir: opts.dataDir,
    postgres,
    temporal,
    stop,
  };
}

const APP_ROLE = 'grantflow_app';
const APP_PASSWORD = 'grantflow_app';

/** Lets the migrations' grantflow_app role log in (embedded default only) and returns its URL. */
async function enableAppRole(adminUrl: string, ownerUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${APP_ROLE} LOGIN PASSWORD '${APP_PASSWORD}'`);
  } finally {
    await client.end();
  }
  const url = new URL(ownerUrl);
  url.username = APP_ROLE;
  url.password = APP_PASSWORD;
  return url.toString();
}

async function seedAnalytics(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Two processes may seed at once (dev restarts); serialise them.
    await client.query('SELECT pg_advisory_lock(42)');
    await client.query(fs.readFileSync(path.join(__dirname, 'analytics-seed.sql'), 'utf8'));
  } finally {
    await client.end();
  }
}

export async function waitForNamespace(address: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const statePath = args[args.indexOf('--state') + 1];
  if (!args.includes('--test') || !statePath) throw new Error('usage: tsx scripts/stack.ts --test --state <file>');
  const stack = await startStack({
    dataDir: tempDir('grantflow-test-'),
    pgPort: await freePort(),
    temporalPort: await freePort(),
    fast: true,
    databaseUrl: process.env.TEST_DATABASE_URL,
  });
  const { postgres: _p, temporal: _t, stop: _s, ...state } = stack;
  fs.writeFileSync(statePath, JSON.stringify(state satisfies StackState));
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void stack.stop().finally(() => {
      fs.rmSync(stack.dataDir, { recursive: true, force: true });
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // The test runner may die without tearing down: stop with it.
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
