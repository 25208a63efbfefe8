import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { canonicalJson } from '../activities/audit';
import { inTransaction, lockName } from '../activities/transaction';
import type { Config } from '../domain/config';
import { DEFAULT_GUARD, deactivationLimit, diffDirectory, type DeactivationGuard } from './diff';
import type { LdapRead } from './ldap';
import type { DirectoryDiff } from './records';
import { auditDirectoryChanges } from './audit';
import { applyDiff, DIRECTORY_LOCK, loadSource } from './store';

export type SyncStatus = 'applied' | 'dry_run' | 'failed' | 'awaiting_confirmation' | 'confirmed' | 'superseded';

export interface SyncResult {
  id: string;
  status: SyncStatus;
  diff?: DirectoryDiff;
  error?: string;
  /** How many deactivations this sync could apply without a confirmation. */
  limit?: number;
  pages?: number;
  skipped?: string[];
}

export interface SyncOptions {
  /** Reads the whole source; throws on any error (LDAP: readLdapDirectory). */
  read: () => Promise<LdapRead>;
  dryRun?: boolean;
  guard?: DeactivationGuard;
  actor?: string;
}

/**
 * One pulled sync of the LDAP source, fail-safe: a read that fails anywhere changes nothing; a diff that would
 * deactivate more than the guard allows is kept, unapplied, until security confirms it; a dry run only reports.
 * Every run leaves a row in directory_syncs with its diff.
 */
export async function syncLdap(pool: pg.Pool, opts: SyncOptions): Promise<SyncResult> {
  const id = randomUUID();
  let read: LdapRead;
  try {
    read = await opts.read();
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    await record(pool, { id, status: 'failed', error, requestedBy: opts.actor });
    return { id, status: 'failed', error };
  }
  const { pages, skipped } = read;
  const versions: number[] = [];
  const result = await inTransaction(pool, async (client) => {
    await lockName(client, DIRECTORY_LOCK);
    const current = await loadSource(client, 'ldap');
    const diff = diffDirectory(current, read.directory);
    const active = current.identities.filter((i) => i.active).length;
    const limit = deactivationLimit(active, opts.guard ?? DEFAULT_GUARD);
    let status: SyncStatus;
    if (opts.dryRun) status = 'dry_run';
    else if (current.identities.length > 0 && diff.deactivations.length > limit) status = 'awaiting_confirmation';
    else {
      versions.push(...(await applyDiff(client, 'ldap', opts.actor ?? 'ldap-sync', diff)));
      status = 'applied';
    }
    await record(client, { id, status, diff, requestedBy: opts.actor });
    return { id, status, diff, limit, pages, skipped };
  });
  await auditDirectoryChanges(pool, versions);
  return result;
}

/** Why a confirmation was refused: not security, asked for it themself (`forbidden`), no such sync, or not held. */
export type ConfirmationRefusal = 'forbidden' | 'not-found' | 'invalid-state';

export class SyncConfirmationError extends Error {
  override name = 'SyncConfirmationError';
  constructor(
    message: string,
    readonly refusal: ConfirmationRefusal = 'invalid-state',
  ) {
    super(message);
  }
}

/**
 * Security confirms a mass deactivation. The source is read again: only if it still says exactly what was held
 * back is that diff applied; otherwise the held sync is superseded and the new read goes through the guard afresh.
 */
export async function confirmLdapSync(
  pool: pg.Pool,
  syncId: string,
  by: string,
  config: Config,
  read: () => Promise<LdapRead>,
): Promise<SyncResult> {
  const person = config.users.get(by);
  if (!person?.active || person.kind !== 'human' || !person.groups.includes(config.policy.roles.security)) {
    throw new SyncConfirmationError(`${by} is not an active member of ${config.policy.roles.security}.`, 'forbidden');
  }
  const heldSync = async (db: pg.Pool | pg.PoolClient, lock = '') => {
    const { rows } = await db.query<{ status: SyncStatus; diff: DirectoryDiff; requested_by: string | null }>(
      `SELECT status, diff, requested_by FROM directory_syncs WHERE id = $1${lock}`,
      [syncId],
    );
    const held = rows[0];
    if (!held) throw new SyncConfirmationError(`There is no sync ${syncId}.`, 'not-found');
    if (held.status !== 'awaiting_confirmation') {
      throw new SyncConfirmationError(`Sync ${syncId} is ${held.status}; only a held sync can be confirmed.`);
    }
    if (held.diff.deactivations.includes(by)) {
      throw new SyncConfirmationError(`${by} cannot confirm their own leaving.`, 'forbidden');
    }
    // Four eyes: a mass deactivation is confirmed by someone other than the person who asked for the sync.
    if (held.requested_by === by) {
      throw new SyncConfirmationError(
        `${by} asked for sync ${syncId}; another member of ${config.policy.roles.security} must confirm it.`,
        'forbidden',
      );
    }
    return held;
  };
  await heldSync(pool);

  const fresh = await read();
  const versions: number[] = [];
  const result = await inTransaction(pool, async (client) => {
    await lockName(client, DIRECTORY_LOCK);
    // Again under the lock: two confirmations at once apply the diff once, and the second is refused.
    const held = await heldSync(client, ' FOR UPDATE');
    const diff = diffDirectory(await loadSource(client, 'ldap'), fresh.directory);
    if (canonicalJson(summary(diff)) !== canonicalJson(summary(held.diff))) {
      await client.query(`UPDATE directory_syncs SET status = 'superseded', finished_at = now() WHERE id = $1`, [
        syncId,
      ]);
      return { id: syncId, status: 'superseded' as const, diff };
    }
    versions.push(...(await applyDiff(client, 'ldap', `ldap-sync (confirmed by ${by})`, diff)));
    await client.query(
      `UPDATE directory_syncs SET status = 'confirmed', confirmed_by = $2, finished_at = now() WHERE id = $1`,
      [syncId, by],
    );
    return { id: syncId, status: 'confirmed' as const, diff };
  });
  await auditDirectoryChanges(pool, versions);
  return result;
}

/** What a confirmation vouches for: which identities and groups change, and how. */
function summary(diff: DirectoryDiff) {
  return {
    identities: diff.identities.map((c) => [c.id, c.change, c.after ?? null]),
    groups: diff.groups.map((c) => [c.id, c.change, c.after ?? null]),
  };
}

async function record(
  db: pg.Pool | pg.PoolClient,
  row: { id: string; status: SyncStatus; diff?: DirectoryDiff; error?: string; requestedBy?: string },
): Promise<void> {
  await db.query(
    `INSERT INTO directory_syncs (id, source, status, diff, error, requested_by, finished_at)
     VALUES ($1, 'ldap', $2, $3::jsonb, $4, $5, now())`,
    [row.id, row.status, JSON.stringify(row.diff ?? null), row.error ?? null, row.requestedBy ?? null],
  );
}
