/**
 * Drives grantflow against the real PostgreSQL and Temporal dev server started by the global setup: each test file
 * (or test) gets its own task queue, a worker with the real activities, and a webhook receiver on a free port.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { parse } from 'yaml';
import { createActivities } from '../../activities';
import { createAuditLog, type AuditLog } from '../../activities/audit';
import { createNotifier } from '../../activities/notify';
import { createMoverActivities } from '../../activities/mover';
import { createOffboardingActivities } from '../../activities/offboarding';
import type { DirectoryView } from '../../directory/view';
import { auditSettingsFromEnv, checkpointerFor } from '../../activities/audit-settings';
import { interpolateEnv, parseConfigs, type Config, type PolicySource } from '../../domain/config';
import type { RequestInput } from '../../domain/model';
import { createPool, type Pool } from '../../platform/db';
import type { TemporalConnectionOptions } from '../../platform/temporal';
import { createLogger } from '../../platform/logger';
import { createReceiver } from '../../scripts/webhook-receiver';
import { accessRequestV2 } from '../../workflows';
import { getRequestQuery, workflowIdFor, type RequestView } from '../../workflows/messages';
import { createWorker, type GrantflowWorker } from '../../worker/create-worker';
import { AUDIT_HMAC_KEYS } from './audit-settings';
import { isRoleMember } from './roles';

export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';
process.env.GRANTFLOW_WEBHOOK_SECRET = WEBHOOK_SECRET;

// One HMAC keyring for every suite (they share the chain in the test database); a signing key and a checkpoint file
// of this test file's own, so one suite's checkpoints never look forged to another's key.
process.env.GRANTFLOW_AUDIT_HMAC_KEYS = AUDIT_HMAC_KEYS;
process.env.GRANTFLOW_AUDIT_SIGNING_KEY = generateKeyPairSync('ed25519')
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
process.env.GRANTFLOW_AUDIT_CHECKPOINT_FILE = path.join(
  os.tmpdir(),
  `grantflow-test-checkpoints-${process.pid}-${randomBytes(4).toString('hex')}.jsonl`,
);

/** The audit log the activities and the API use, on `pool`. */
export function testAuditLog(pool: Pool): AuditLog {
  const settings = auditSettingsFromEnv(process.env);
  return createAuditLog(pool, { keyring: settings.keyring, checkpoints: checkpointerFor(settings, pool) });
}

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

let bundlePromise: ReturnType<typeof bundleWorkflowCode> | undefined;
/** The workflow bundle, built once per test file. */
export function workflowBundle(): ReturnType<typeof bundleWorkflowCode> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundlePromise;
}

export type RawConfig = { directory: any; catalog: any; policy: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The demo organisation's configuration as plain objects, for a test to adjust before parsing. */
export function demoRaw(env: Record<string, string | undefined> = process.env): RawConfig {
  const dir = path.join(__dirname, '..', '..', 'config', 'demo');
  const read = (name: string) => parse(interpolateEnv(fs.readFileSync(path.join(dir, `${name}.yaml`), 'utf8'), env));
  return { directory: read('directory'), catalog: read('catalog'), policy: read('policy') };
}

export interface Sla {
  reminders?: string[];
  escalateAfter?: string;
  deadline: string;
}

/** Sets every stage's SLA (and the break-glass review's) so timers fire within a test. */
/**
 * Adds a licence-limited resource `id` to the catalog: one entitlement `<id>:seat` at the webhook target (as GitHub's),
 * with the given seat limit.
 */
export function withLicensedTool(raw: RawConfig, id: string, seats: Record<string, unknown>): RawConfig {
  const github = raw.catalog.resources.find((r: { id: string }) => r.id === 'github');
  raw.catalog.resources.push({
    ...github,
    id,
    name: 'A licensed tool',
    entitlements: [{ role: 'seat', name: 'Seat', target: 'seat', defaultDuration: 'P30D', maxDuration: 'P90D', seats }],
  });
  return raw;
}

export function withSla(raw: RawConfig, sla: Sla): RawConfig {
  const apply = (stage: { sla: Sla }) =>
    (stage.sla = { reminders: sla.reminders ?? [], escalateAfter: sla.escalateAfter, deadline: sla.deadline });
  for (const rule of raw.policy.rules) if (Array.isArray(rule.plan)) rule.plan.forEach(apply);
  apply(raw.policy.breakGlassReview);
  if (!sla.escalateAfter)
    for (const rule of raw.policy.rules)
      if (Array.isArray(rule.plan)) rule.plan.forEach((s: { sla: Sla }) => delete s.sla.escalateAfter);
  return raw;
}

export interface Delivery {
  key: string;
  body: Record<string, unknown>;
  count: number;
}

export interface TestEnv {
  client: Client;
  connection: Connection;
  taskQueue: string;
  pool: Pool;
  config: Config;
  worker: GrantflowWorker;
  receiverUrl: string;
  /** What the webhook receiver got, one entry per idempotency key. */
  deliveries(): Promise<Delivery[]>;
  submit(
    requester: string,
    input: Partial<RequestInput> & { entitlement: string },
    requestId?: string,
  ): Promise<WorkflowHandle<typeof accessRequestV2>>;
  /** The view as written to PostgreSQL (the workflow's query only before the first write). */
  view(requestId: string): Promise<RequestView>;
  /** The workflow's own query. */
  query(requestId: string): Promise<RequestView>;
  /** Polls the written view until `predicate` holds. */
  waitFor(requestId: string, predicate: (v: RequestView) => boolean, timeoutMs?: number): Promise<RequestView>;
  /** Stops the worker (as a crash would, mid-history) and starts a fresh one on the same task queue. */
  restartWorker(): Promise<void>;
  stop(): Promise<void>;
}

let counter = 0;
export function uniqueId(prefix = 'r'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

export interface EnvOptions {
  title: string;
  /** Adjusts the demo configuration (receiver URL already filled in). */
  configure?: (raw: RawConfig) => RawConfig;
  /** The files the policy version is digested from, as loadConfig gives them; default: the label alone. */
  source?: PolicySource;
  /** How worker and client reach Temporal; by default the test stack's dev server in plaintext. */
  temporal?: TemporalConnectionOptions;
  /** A pool of the caller's (a directory schema's, say); the env uses it and leaves it open. */
  pool?: Pool;
  /** The live directory the activities read, over the env's configuration; by default the configuration's. */
  directory?: (config: Config) => DirectoryView;
  /** Register the lifecycle workflows' activities too (offboarding over the env's client, mover). */
  lifecycle?: boolean;
  /** More activities for the worker (the directory sync's, say). */
  activities?: Record<string, (...args: never[]) => Promise<unknown>>;
  /** Connector calls the worker makes at once (its connector queue's slots); default the worker's. */
  connectorConcurrency?: number;
}

export async function startEnv(opts: EnvOptions): Promise<TestEnv> {
  quietRuntime();
  const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
  const receiverApp = createReceiver({ secret: WEBHOOK_SECRET, log: () => undefined });
  const receiverServer = http.createServer(receiverApp);
  await new Promise<void>((resolve) => receiverServer.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiverServer.address() as { port: number }).port}`;

  const raw = demoRaw({ ...process.env, GRANTFLOW_WEBHOOK_RECEIVER_URL: receiverUrl });
  const adjusted = opts.configure ? opts.configure(raw) : raw;
  const config = parseConfigs(adjusted, undefined, opts.source);
  const pool = opts.pool ?? createPool(process.env.DATABASE_URL as string);
  const taskQueue = `test-${opts.title.replace(/[^a-zA-Z0-9]+/g, '-')}-${uniqueId('q')}`;
  const temporal = opts.temporal ?? { address: process.env.TEMPORAL_ADDRESS as string };
  const nativeConnection = await NativeConnection.connect(temporal);
  const connection = await Connection.connect(temporal);
  const client = new Client({ connection });
  const directory = opts.directory?.(config);
  const lifecycleDeps = {
    pool,
    config,
    audit: testAuditLog(pool),
    notify: createNotifier({ pool, log }).notify,
    ...(directory && { directory }),
  };
  const lifecycle = opts.lifecycle
    ? { ...createOffboardingActivities({ ...lifecycleDeps, client }), ...createMoverActivities(lifecycleDeps) }
    : {};
  const newWorker = async () =>
    createWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      activities: {
        ...createActivities({ pool, config, log, env: process.env, directory }),
        ...lifecycle,
        ...opts.activities,
      },
      workflowBundle: await workflowBundle(),
      ...(opts.connectorConcurrency && { connectorConcurrency: opts.connectorConcurrency }),
    });
  let worker = await newWorker();
  let running = worker.run();
  let restarting: Promise<void> | undefined;

  const query = (requestId: string) => client.workflow.getHandle(workflowIdFor(requestId)).query(getRequestQuery);
  // The view as written to PostgreSQL, like the API reads it (api/routes/requests.ts readView says why not the query).
  const view = async (requestId: string): Promise<RequestView> => {
    const { rows } = await pool.query<{ view: RequestView | null }>('SELECT view FROM requests WHERE id = $1', [
      requestId,
    ]);
    return rows[0]?.view ?? query(requestId);
  };
  return {
    client,
    connection,
    taskQueue,
    pool,
    config,
    get worker() {
      return worker;
    },
    receiverUrl,
    async deliveries() {
      const res = await fetch(`${receiverUrl}/ledger`);
      return ((await res.json()) as { deliveries: Delivery[] }).deliveries;
    },
    async submit(requester, input, requestId = uniqueId()) {
      const full: RequestInput = {
        justification: 'Needed for the quarterly analysis work.',
        fields: {},
        breakGlass: false,
        ...input,
      };
      return client.workflow.start(accessRequestV2, {
        workflowId: workflowIdFor(requestId),
        taskQueue,
        args: [{ requestId, requester, input: full, submittedAt: new Date().toISOString() }],
      });
    },
    view,
    query,
    async waitFor(requestId, predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: RequestView | undefined;
      for (;;) {
        try {
          last = await view(requestId);
          if (predicate(last)) return last;
        } catch (err) {
          if (Date.now() > deadline) throw err;
        }
        if (Date.now() > deadline) {
          throw new Error(
            `Timed out waiting on ${requestId}; last view: ${JSON.stringify(last, null, 1)?.slice(0, 3000)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    restartWorker() {
      // One restart at a time: two overlapping ones would shut the same worker down twice.
      restarting ??= (async () => {
        worker.shutdown();
        await running;
        worker = await newWorker();
        running = worker.run();
      })().finally(() => (restarting = undefined));
      return restarting;
    },
    async stop() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      if (!opts.pool) await pool.end();
      await new Promise((r) => receiverServer.close(r));
    },
  };
}

/** Is `role` granted to `member` on the analytics database? Checks the real target. */
export async function hasRole(member: string, role: string): Promise<boolean> {
  const pool = createPool(process.env.GRANTFLOW_ANALYTICS_DATABASE_URL as string, 1);
  try {
    return await isRoleMember(pool, member, role);
  } finally {
    await pool.end();
  }
}

export async function auditActions(pool: Pool, requestId: string): Promise<string[]> {
  const { rows } = await pool.query('SELECT action FROM audit_events WHERE request_id = $1 ORDER BY seq', [requestId]);
  return rows.map((r: { action: string }) => r.action);
}
