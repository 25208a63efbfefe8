/**
 * The jest side of the fault tests: starts test/helpers/fault-controller.ts as a child process, sends it commands
 * (kill the worker, restart Temporal, stop PostgreSQL, …), and talks to the stack the way users do: the HTTP API with
 * dev tokens, plus direct reads of PostgreSQL, Temporal and the webhook receiver to check the outcome.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { signDevToken } from '../../api/auth';
import type { LedgerEntry } from '../../scripts/webhook-receiver';
import type { ControllerOptions, ControllerState, ProcessExit, RoleStatement } from './fault-controller';

const root = path.join(__dirname, '..', '..');
const WEBHOOK_SECRET = 'fault-webhook-secret-0123456789';
const JWT_SECRET = 'fault-jwt-secret-0123456789abcdef';
const COMMAND_TIMEOUT_MS = 150_000;

/** A JSON body as the API sent it; tests read the fields they expect. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** The three configuration documents as plain objects, for a test to adjust. */
export type RawConfig = { directory: Json; catalog: Json; policy: Json };

export interface FaultStackOptions {
  title: string;
  /** Synthetic users u001…uNNN (engineers whose manager is bob), beside the demo organisation. */
  users?: number;
  /** Adjusts the demo configuration before it is written (the receiver URL stays a `${VAR}` the worker fills in). */
  configure?: (raw: RawConfig) => RawConfig;
}

export interface ApiAnswer<T = Json> {
  status: number;
  headers: Headers;
  body: T;
}

export interface FaultStack {
  state: ControllerState;
  configDir: string;
  taskQueue: string;
  /** grantflow's database. */
  db: pg.Pool;
  /** The provisioning target of the postgres-role connector. */
  analytics: pg.Pool;
  temporal: Client;
  /** Set once stop() begins: loops that poll the stack end with it. */
  readonly stopped: boolean;
  command<T = unknown>(cmd: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Starts a worker process; resolves with its name once it polls. */
  startWorker(): Promise<string>;
  killWorkers(): Promise<void>;
  api<T = Json>(
    method: string,
    url: string,
    /** `base`: another API instance's URL (startAnotherApi); default the stack's API. */
    opts?: { as?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number; base?: string },
  ): Promise<ApiAnswer<T>>;
  ledger(): Promise<LedgerEntry[]>;
  roleStatements(): Promise<RoleStatement[]>;
  exits(): Promise<ProcessExit[]>;
  /** The end of a child's log (`worker-1`, `api`, `temporal`, `postgres`, `controller`). */
  logTail(name: string, chars?: number): Promise<string>;
  stop(): Promise<void>;
}

export function synthId(n: number): string {
  return `u${String(n).padStart(3, '0')}`;
}

/** The demo configuration plus synthetic users, written as the three YAML files to a temporary folder. */
export function writeConfigDir(opts: FaultStackOptions): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-fault-config-'));
  const read = (name: string) => parse(fs.readFileSync(path.join(root, 'config', 'demo', `${name}.yaml`), 'utf8'));
  const raw: RawConfig = { directory: read('directory'), catalog: read('catalog'), policy: read('policy') };
  for (let i = 1; i <= (opts.users ?? 0); i++) {
    const id = synthId(i);
    raw.directory.users.push({
      id,
      name: `User ${id}`,
      department: 'engineering',
      manager: 'bob',
      groups: ['engineering'],
    });
  }
  const adjusted = opts.configure ? opts.configure(raw) : raw;
  for (const name of ['directory', 'catalog', 'policy'] as const) {
    fs.writeFileSync(path.join(dir, `${name}.yaml`), stringify(adjusted[name]));
  }
  return dir;
}

export async function startFaultStack(opts: FaultStackOptions): Promise<FaultStack> {
  const configDir = writeConfigDir(opts);
  const taskQueue = `fault-${opts.title.replace(/[^a-zA-Z0-9]+/g, '-')}-${process.pid}-${Date.now().toString(36)}`;
  const options: ControllerOptions = {
    configDir,
    taskQueue,
    webhookSecret: WEBHOOK_SECRET,
    jwtSecret: JWT_SECRET,
    keep: process.env.FAULT_KEEP === '1',
  };
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/helpers/fault-controller.ts', JSON.stringify(options)],
    {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));

  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    if (!line.startsWith('@@fault ')) return;
    const msg = JSON.parse(line.slice('@@fault '.length)) as {
      id: number;
      ok: boolean;
      result?: unknown;
      error?: string;
    };
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.ok) waiter.resolve(msg.result);
    else waiter.reject(new Error(`fault controller: ${msg.error}`));
  });
  child.once('exit', (code) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`The fault controller exited (${code}): ${stderr.slice(-2000)}`));
    pending.clear();
  });

  const call = <T>(id: number, cmd: string, args: Record<string, unknown> | undefined, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`fault controller: ${cmd} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (id !== 0) child.stdin?.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });

  let state: ControllerState;
  try {
    state = await call<ControllerState>(0, 'start', undefined, COMMAND_TIMEOUT_MS);
  } catch (err) {
    await endChild(child);
    fs.rmSync(configDir, { recursive: true, force: true });
    throw err;
  }
  const command = <T>(cmd: string, args?: Record<string, unknown>, timeoutMs = COMMAND_TIMEOUT_MS) =>
    call<T>(nextId++, cmd, args, timeoutMs);

  const pool = (url: string) => {
    const p = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    p.on('error', () => undefined); // PostgreSQL restarts under some tests
    return p;
  };
  const db = pool(state.databaseUrl);
  const analytics = pool(state.analyticsDatabaseUrl);
  const connection = await Connection.connect({ address: state.temporalAddress });
  const temporal = new Client({ connection });

  const tokens = new Map<string, Promise<string>>();
  const token = (user: string) => {
    let t = tokens.get(user);
    if (!t) {
      t = signDevToken({ userId: user, secret: JWT_SECRET, ttl: '1h' });
      tokens.set(user, t);
    }
    return t;
  };

  let stopped = false;
  return {
    get stopped() {
      return stopped;
    },
    state,
    configDir,
    taskQueue,
    db,
    analytics,
    temporal,
    command,
    async startWorker() {
      return (await command<{ name: string }>('startWorker')).name;
    },
    async killWorkers() {
      await command('killWorkers');
    },
    async api(method, url, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      if (o.as) headers.Authorization = `Bearer ${await token(o.as)}`;
      if (o.body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(`${o.base ?? state.apiUrl}${url}`, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, body: body as never };
    },
    async ledger() {
      const res = await fetch(`${state.receiverUrl}/ledger`, { signal: AbortSignal.timeout(10_000) });
      return ((await res.json()) as { deliveries: LedgerEntry[] }).deliveries;
    },
    roleStatements: () => command<RoleStatement[]>('roleStatements'),
    exits: () => command<ProcessExit[]>('exits'),
    logTail: (name, chars = 4000) => command<string>('logTail', { name, chars }),
    async stop() {
      stopped = true;
      await Promise.allSettled([db.end(), analytics.end(), connection.close()]);
      child.stdin?.write(`${JSON.stringify({ id: nextId++, cmd: 'shutdown' })}\n`);
      await endChild(child);
      fs.rmSync(configDir, { recursive: true, force: true });
    },
  };
}

async function endChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const force = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(force);
}
