import type pg from 'pg';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Logger } from '../platform/logger';
import type { offboarding } from '../workflows/identity/offboarding';
import { offboardingWorkflowId, type OffboardingArgs } from '../workflows/identity/messages';
import { identityKey, statusKey } from '../workflows/search-attributes';
import type { DirectorySource } from './records';

/** A person leaving: a directory change that deactivated an identity, or deleted one that was active. */
export interface LeaveEvent {
  identityId: string;
  version: number;
  source: DirectorySource;
  change: 'deactivated' | 'deleted';
}

/** Leave events of `source` that have no offboarding yet, oldest first. */
export async function pendingLeaveEvents(db: pg.Pool, source: DirectorySource, limit = 100): Promise<LeaveEvent[]> {
  const { rows } = await db.query<{ version: string; subject_id: string; change: LeaveEvent['change'] }>(
    `SELECT c.version, c.subject_id, c.change FROM directory_changes c
       LEFT JOIN offboardings o ON o.directory_version = c.version
      WHERE c.subject_kind = 'identity' AND c.change IN ('deactivated', 'deleted') AND c.source = $1
        AND o.workflow_id IS NULL
        AND (c.change = 'deactivated' OR coalesce((c.before->>'active')::boolean, false))
      ORDER BY c.version LIMIT $2`,
    [source, limit],
  );
  return rows.map((r) => ({ identityId: r.subject_id, version: Number(r.version), source, change: r.change }));
}

export interface LeaverDeps {
  pool: pg.Pool;
  client: Client;
  taskQueue: string;
  source: DirectorySource;
  log: Logger;
}

/**
 * Starts one offboarding per leave event. Exactly once: the workflow id is the identity and the directory version
 * (Temporal refuses a second start of it, running or closed), and the row written after the start keeps later sweeps
 * from trying again. Called by each writer after its change committed, and by the worker's sweep for anything a
 * writer could not start (Temporal down, a crash between commit and start, the YAML file read at start-up).
 */
export async function dispatchLeavers(deps: LeaverDeps): Promise<string[]> {
  const started: string[] = [];
  for (const event of await pendingLeaveEvents(deps.pool, deps.source)) {
    const workflowId = offboardingWorkflowId(event.identityId, event.version);
    const args: OffboardingArgs = { ...event };
    try {
      await deps.client.workflow.start<typeof offboarding>('offboarding', {
        workflowId,
        taskQueue: deps.taskQueue,
        args: [args],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: identityKey, value: event.identityId },
          { key: statusKey, value: 'offboarding_planning' },
        ],
        staticSummary: `Offboarding ${event.identityId} (${event.change} at directory version ${event.version})`,
      });
      started.push(workflowId);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // it ran and closed: that counted
    }
    await deps.pool.query(
      `INSERT INTO offboardings (workflow_id, identity_id, directory_version, source, change)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [workflowId, event.identityId, event.version, event.source, event.change],
    );
    deps.log.info({ workflowId, identity: event.identityId, version: event.version }, 'offboarding started');
  }
  return started;
}

/** Dispatches now and then every `intervalMs`; a failed round is logged and tried again at the next. */
export function sweepLeavers(deps: LeaverDeps, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  // One round at a time: a slow round is not overlapped by the next tick.
  const round = () => {
    running ??= dispatchLeavers(deps)
      .catch((err: unknown) => deps.log.warn({ err }, 'offboarding dispatch failed; the next sweep tries again'))
      .finally(() => (running = undefined));
  };
  round();
  const timer = setInterval(round, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
