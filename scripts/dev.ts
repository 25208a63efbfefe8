/**
 * `npm run dev`: the whole stack on embedded defaults. PostgreSQL (or DATABASE_URL), the Temporal dev server with its
 * Web UI, migrations, the webhook receiver, the worker and the API. Ctrl-C stops everything it started; data stays in
 * .grantflow/ for the next start (requests and running workflows included).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DEV_DEFAULT_SECRET, signDevToken } from '../api/auth';
import { parseEnv } from '../platform/env';
import { startStack, stopChild, type Stack } from './stack';
import { waitForPort } from './temporal';

const devEnvSchema = z.object({
  GRANTFLOW_DATA_DIR: z.string().min(1).default('.grantflow'),
  GRANTFLOW_PG_PORT: z.coerce.number().int().min(1).max(65535).default(5433),
  GRANTFLOW_TEMPORAL_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  GRANTFLOW_TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  GRANTFLOW_RECEIVER_PORT: z.coerce.number().int().min(1).max(65535).default(8090),
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')
    .optional(),
  GRANTFLOW_DEV_JWT_SECRET: z.string().min(16).default(DEV_DEFAULT_SECRET),
  GRANTFLOW_WEBHOOK_SECRET: z.string().min(16).default('grantflow-dev-webhook-secret'),
});

const root = path.join(__dirname, '..');
// The terminal (or a pipe) may be gone by the time we stop: losing a line must not stop the shutdown.
process.stdout.on('error', () => undefined);
const say = (msg: string) => process.stdout.write(`${msg}\n`);

async function main(): Promise<void> {
  const env = parseEnv(devEnvSchema);
  const dataDir = path.resolve(root, env.GRANTFLOW_DATA_DIR);
  fs.mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
  fs.chmodSync(dataDir, 0o755);

  const children: ChildProcess[] = [];
  const started: { stack?: Stack } = {};
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('\nStopping…');
    // The API and the receiver first, so no new work arrives; then the worker (it drains); then the servers.
    const [receiver, worker, api] = children;
    await Promise.all([api, receiver].map((c) => c && stopChild(c)));
    if (worker) await stopChild(worker);
    await started.stack?.stop();
    say('Stopped. Data kept in ' + path.relative(process.cwd(), dataDir) + '/');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGHUP', () => void stop(0));

  const stack = await startStack({
    dataDir,
    pgPort: env.GRANTFLOW_PG_PORT,
    temporalPort: env.GRANTFLOW_TEMPORAL_PORT,
    uiPort: env.GRANTFLOW_TEMPORAL_UI_PORT,
    databaseUrl: env.DATABASE_URL,
    log: say,
  });
  started.stack = stack;
  const receiverUrl = `http://127.0.0.1:${env.GRANTFLOW_RECEIVER_PORT}`;
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    DATABASE_URL: stack.databaseUrl,
    // The stack migrated as the owner; the API and the worker run as the application's role, which cannot.
    GRANTFLOW_MIGRATE_ON_START: 'false',
    GRANTFLOW_AUDIT_HMAC_KEYS_FILE: path.join(dataDir, 'audit', 'hmac-keys'),
    GRANTFLOW_AUDIT_SIGNING_KEY_FILE: path.join(dataDir, 'audit', 'checkpoint-signing-key.pem'),
    GRANTFLOW_AUDIT_CHECKPOINT_FILE: path.join(dataDir, 'audit', 'checkpoints.jsonl'),
    GRANTFLOW_ANALYTICS_DATABASE_URL: stack.analyticsDatabaseUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    GRANTFLOW_WEBHOOK_SECRET: env.GRANTFLOW_WEBHOOK_SECRET,
    GRANTFLOW_WEBHOOK_RECEIVER_URL: receiverUrl,
    GRANTFLOW_DEV_JWT_SECRET: env.GRANTFLOW_DEV_JWT_SECRET,
    PORT: String(env.PORT),
  };
  const run = (name: string, script: string, extra: NodeJS.ProcessEnv = {}) => {
    const log = fs.openSync(path.join(dataDir, 'logs', `${name}.log`), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: { ...childEnv, ...extra },
      stdio: ['ignore', log, log],
    });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      say(`${name} exited (${signal ?? code}); see ${path.join(env.GRANTFLOW_DATA_DIR, 'logs', `${name}.log`)}`);
      void stop(1);
    });
    children.push(child);
  };
  run('webhook-receiver', 'scripts/webhook-receiver.ts', { PORT: String(env.GRANTFLOW_RECEIVER_PORT) });
  run('worker', 'worker/main.ts');
  run('api', 'api/main.ts');
  await waitForPort(env.PORT, 120_000);
  await waitForReady(`http://127.0.0.1:${env.PORT}/readyz`);

  const api = `http://127.0.0.1:${env.PORT}`;
  const token = await signDevToken({ userId: 'alice', secret: env.GRANTFLOW_DEV_JWT_SECRET, ttl: '8h' });
  say(`
grantflow is running.
  Portal       ${api}/   (pick a demo user to sign in)
  API          ${api}   (OpenAPI: ${api}/openapi.json)
  Temporal UI  ${stack.temporalUiUrl}
  Temporal     ${stack.temporalAddress}
  PostgreSQL   ${stack.databaseUrl.replace(/:[^:@/]+@/, ':***@')}
  Webhooks     ${receiverUrl}/ledger
  Logs         ${path.join(env.GRANTFLOW_DATA_DIR, 'logs')}/{api,worker,webhook-receiver}.log

Try it (a token for alice; \`npm run token -- bob\` makes one for bob):
  export TOKEN=${token}
  curl -s -X POST ${api}/v1/requests -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
    -d '{"entitlement":"analytics-db:read","justification":"Quarterly churn analysis for finance","duration":"P7D"}'

Press Ctrl-C to stop; data stays in ${env.GRANTFLOW_DATA_DIR}/.`);
}

async function waitForReady(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become ready within 60 s.`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
