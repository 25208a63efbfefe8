import type pg from 'pg';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Logger } from '../platform/logger';
import {
  moverWorkflowId,
  offboardingWorkflowId,
  type MoverArgs,
  type OffboardingArgs,
} from '../workflows/identity/messages';
import { identityKey, statusKey } from '../workflows/search-attributes';
import type { DirectorySource } from './records';

/**
 * A lifecycle event of one identity, from its directory change: a leaver (deactivated, or deleted while active) or a
 * mover (manager or department changed while active).
 */
export interface LifecycleEvent {
  kind: 'leaver' | 'mover';
  identityId: string;
  version: number;
  source: DirectorySource;
  change: 'deactivated' | 'deleted' | 'updated';
}

/** Lifecycle events of `source` that have no run yet, oldest first. */
export async function pendingLifecycleEvents(
  db: pg.Pool,
  source: DirectorySource,
  limit = 100,
): Promise<LifecycleEvent[]> {
  const { rows } = await db.query<{ version: string; subject_id: string; change: LifecycleEvent['change'] }>(
    `SELECT c.version, c.subject_id, c.change FROM directory_changes c
       LEFT JOIN lifecycle_runs r ON r.directory_version = c.version
      WHERE c.subject_kind = 'identity' AND c.change IN ('deactivated', 'deleted', 'updated') AND c.source = $1
        AND r.workflow_id IS NULL
        AND CASE c.change
              WHEN 'deactivated' THEN true
              WHEN 'deleted' THEN coalesce((c.before->>'active')::boolean, false)
              ELSE coalesce((c.after->>'active')::boolean, false)
                AND (c.before->>'managerRef' IS DISTINCT FROM c.after->>'managerRef'
                  OR c.before->>'department' IS DISTINCT FROM c.after->>'department')
            END
      ORDER BY c.version LIMIT $2`,
    [source, limit],
  );
  return rows.map((r) => ({
    kind: r.change === 'updated' ? 'mover' : 'leaver',
    identityId: r.subject_id,
    version: Number(r.version),
    source,
    change: r.change,
  }));
}

export interface LifecycleDeps {
  pool: pg.Pool;
  client: Client;
  taskQueue: string;
  source: DirectorySource;
  log: Logger;
}

/**
 * Starts one workflow per lifecycle event: `offboarding` for a leaver, `mover` for a mover. Exactly once: the workflow
 * id is the identity and the directory version (Temporal refuses a second start of it, running or closed), and the
 * row written after the start keeps later sweeps from trying again. Called by each writer after its change committed,
 * and by the worker's sweep for anything a writer could not start (Temporal down, a crash between commit and start,
 * the YAML file read at start-up, an LDAP sync).
 */
export async function dispatchLifecycle(deps: LifecycleDeps): Promise<string[]> {
  const started: string[] = [];
  for (const event of await pendingLifecycleEvents(deps.pool, deps.source)) {
    const { identityId, version, source } = event;
    const workflowId =
      event.kind === 'leaver' ? offboardingWorkflowId(identityId, version) : moverWorkflowId(identityId, version);
    const options = {
      workflowId,
      taskQueue: deps.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING' as const,
      workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
      typedSearchAttributes: [
        { key: identityKey, value: identityId },
        { key: statusKey, value: event.kind === 'leaver' ? 'offboarding_planning' : 'mover_planning' },
      ],
      staticSummary: `${event.kind === 'leaver' ? 'Offboarding' : 'Mover'} ${identityId} (${event.change} at directory version ${version})`,
    };
    try {
      if (event.kind === 'leaver') {
        const args: OffboardingArgs = {
          identityId,
          version,
          source,
          change: event.change as OffboardingArgs['change'],
        };
        await deps.client.workflow.start('offboarding', { ...options, args: [args] });
      } else {
        const args: MoverArgs = { identityId, version, source };
        await deps.client.workflow.start('mover', { ...options, args: [args] });
      }
      started.push(workflowId);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // it ran and closed: that counted
    }
    await deps.pool.query(
      `INSERT INTO lifecycle_runs (workflow_id, kind, identity_id, directory_version, source, change)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [workflowId, event.kind, identityId, version, source, event.change],
    );
    deps.log.info({ workflowId, identity: identityId, version, kind: event.kind }, 'lifecycle workflow started');
  }
  return started;
}

/** Dispatches now and then every `intervalMs`; a failed round is logged and tried again at the next. */
export function sweepLifecycle(deps: LifecycleDeps, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  // One round at a time: a slow round is not overlapped by the next tick.
  const round = () => {
    running ??= dispatchLifecycle(deps)
      .catch((err: unknown) => deps.log.warn({ err }, 'lifecycle dispatch failed; the next sweep tries again'))
      .finally(() => (running = undefined));
  };
  round();
  const timer = setInterval(round, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
