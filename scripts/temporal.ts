/**
 * Finds or builds the Temporal CLI and runs its dev server (SQLite, Web UI) with grantflow's search attributes.
 * Order: $TEMPORAL_CLI, `temporal` on PATH, the cached build, then `go install` of the pinned release into the cache.
 * Usage: `tsx scripts/temporal.ts ensure` prints the binary's path (CI calls it to pre-build).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { searchAttributeKeys } from '../workflows/search-attributes';

// v1.5.1 is the newest CLI release whose go.mod has no replace directive, which `go install` refuses.
const CLI_VERSION = 'v1.5.1';
const cacheDir = path.join(
  process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'),
  'grantflow',
  `temporal-${CLI_VERSION}`,
);

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

function works(bin: string): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

export function ensureTemporalCli(log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)): string {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!works(fromEnv)) throw new Error(`TEMPORAL_CLI is "${fromEnv}", which is not a working temporal binary.`);
    return fromEnv;
  }
  const found = onPath('temporal');
  if (found && works(found)) return found;
  const cached = path.join(cacheDir, 'temporal');
  if (fs.existsSync(cached) && works(cached)) return cached;

  log(`Building the Temporal CLI ${CLI_VERSION} from Go modules into ${cacheDir} (a few minutes, once)…`);
  fs.mkdirSync(cacheDir, { recursive: true });
  const build = (extra: NodeJS.ProcessEnv) =>
    execFileSync('go', ['install', `github.com/temporalio/cli/cmd/temporal@${CLI_VERSION}`], {
      env: { ...process.env, GOBIN: cacheDir, CGO_ENABLED: '0', ...extra },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  try {
    build({});
  } catch {
    log('Retrying without the Go checksum database (unreachable here).');
    build({ GOSUMDB: 'off' });
  }
  if (!works(cached)) throw new Error(`The Temporal CLI build did not produce a working binary at ${cached}.`);
  return cached;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Nothing listens on ${host}:${port} after ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface TemporalServerOptions {
  dbFile: string;
  port: number;
  uiPort?: number;
  logFile?: string;
}

/** Starts `temporal server start-dev` and resolves once its frontend accepts connections. */
export async function startTemporalServer(opts: TemporalServerOptions): Promise<ChildProcess> {
  const bin = ensureTemporalCli();
  fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--db-filename', opts.dbFile, '--ip', '127.0.0.1', '--port', String(opts.port)];
  args.push(...(opts.uiPort ? ['--ui-port', String(opts.uiPort)] : ['--headless']));
  args.push('--log-level', 'warn', '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  for (const key of searchAttributeKeys)
    args.push('--search-attribute', `${key.name}=${searchAttributeType(key.type)}`);
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(bin, args, { stdio: ['ignore', out, out] });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`The Temporal dev server exited with code ${code} while starting.`))),
  );
  await Promise.race([waitForPort(opts.port, 60_000), exited]);
  return child;
}

function searchAttributeType(type: string): string {
  const names: Record<string, string> = {
    KEYWORD: 'Keyword',
    KEYWORD_LIST: 'KeywordList',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
    TEXT: 'Text',
    INT: 'Int',
    DOUBLE: 'Double',
  };
  return names[type] ?? type;
}

if (require.main === module && process.argv[2] === 'ensure') {
  process.stdout.write(`${ensureTemporalCli()}\n`);
}
