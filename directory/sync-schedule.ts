import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from '../platform/logger';
import {
  DIRECTORY_SYNC_SCHEDULE_ID,
  type DirectorySyncArgs,
  type DirectorySyncOutcome,
} from '../workflows/identity/messages';
import type { DirectoryDiff } from './records';
import type { SyncResult, SyncStatus } from './sync';

/**
 * The LDAP sync's Temporal Schedule: one run every `everySeconds`, never two at once (a slow sync skips the next
 * slot rather than racing it). Created or brought to the interval at worker start; 0 deletes it (sync on demand only).
 */
export async function ensureDirectorySyncSchedule(
  client: Client,
  taskQueue: string,
  everySeconds: number,
  log: Logger,
): Promise<void> {
  const handle = client.schedule.getHandle(DIRECTORY_SYNC_SCHEDULE_ID);
  if (everySeconds === 0) {
    await handle.delete().catch((err: unknown) => {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    });
    log.info('LDAP sync schedule off (GRANTFLOW_LDAP_SYNC_EVERY_SECONDS=0): on demand only');
    return;
  }
  const args: DirectorySyncArgs = { dryRun: false, actor: 'ldap-sync (scheduled)' };
  const spec = { intervals: [{ every: everySeconds * 1000 }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'directorySync',
    workflowId: 'directory-sync-scheduled',
    taskQueue,
    args: [args],
  };
  try {
    await handle.describe();
    await handle.update((prev) => ({ ...prev, spec, action, policies: { ...prev.policies, overlap: 'SKIP' } }));
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    await client.schedule.create({
      scheduleId: DIRECTORY_SYNC_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: 'SKIP' },
    });
  }
  log.info({ everySeconds }, 'LDAP sync scheduled');
}

/** An on-demand sync, run by the worker (which holds the LDAP settings) as a workflow; the diff read back. */
export function directorySyncRunner(client: Client, pool: pg.Pool, taskQueue: string) {
  return {
    async run({ dryRun, actor }: { dryRun: boolean; actor: string }): Promise<SyncResult> {
      const args: DirectorySyncArgs = { dryRun, actor };
      return answer(await execute(args));
    },
    /** Security confirms a held mass deactivation: the worker reads the source again and applies it if unchanged. */
    async confirm({ syncId, by }: { syncId: string; by: string }): Promise<SyncResult | SyncRefusal> {
      const outcome = await execute({ dryRun: false, actor: by, confirm: syncId });
      if (outcome.status === 'refused') {
        return { refusal: outcome.refusal ?? 'invalid-state', error: outcome.error ?? 'The confirmation was refused.' };
      }
      return answer(outcome);
    },
  };

  function execute(args: DirectorySyncArgs): Promise<DirectorySyncOutcome> {
    return client.workflow.execute('directorySync', {
      workflowId: `directory-sync-${randomUUID()}`,
      taskQueue,
      args: [args],
    });
  }

  async function answer(outcome: DirectorySyncOutcome): Promise<SyncResult> {
    const { rows } = await pool.query<{ diff: DirectoryDiff | null }>(
      'SELECT diff FROM directory_syncs WHERE id = $1',
      [outcome.id],
    );
    const diff = rows[0]?.diff ?? undefined;
    return {
      id: outcome.id,
      status: outcome.status as SyncStatus,
      ...(outcome.error !== undefined && { error: outcome.error }),
      ...(diff && { diff }),
    };
  }
}

/** A confirmation that was not allowed, and why (nothing changed). */
export interface SyncRefusal {
  refusal: 'forbidden' | 'not-found' | 'invalid-state';
  error: string;
}
