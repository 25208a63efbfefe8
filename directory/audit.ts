import type pg from 'pg';
import { createAuditLog } from '../activities/audit';
import { auditSettingsFromEnv } from '../activities/audit-settings';

/**
 * Appends one audit event per directory change to the hash chain (`directory.identity.deactivated`, …), so the
 * evidence shows who left or moved, from which source, next to what happened to their access. Called after the
 * change committed; the event id is the change's version, so a retry appends nothing twice.
 */
export async function auditDirectoryChanges(pool: pg.Pool, versions: readonly number[]): Promise<void> {
  if (versions.length === 0) return;
  const { rows } = await pool.query<{
    version: string;
    source: string;
    actor: string;
    subject_kind: string;
    subject_id: string;
    change: string;
    at: Date;
    after: { fields?: string[] } | null;
  }>(
    `SELECT version, source, actor, subject_kind, subject_id, change, at, after FROM directory_changes
      WHERE version = ANY($1::bigint[]) ORDER BY version`,
    [versions],
  );
  // The chain's HMAC key comes from the environment, as for every other writer of the chain.
  await createAuditLog(pool, { keyring: auditSettingsFromEnv(process.env).keyring }).append(
    rows.map((r) => ({
      eventId: `directory:v${r.version}`,
      actor: r.actor,
      action: `directory.${r.subject_kind}.${r.change}`,
      at: r.at.toISOString(),
      data: { source: r.source, [r.subject_kind]: r.subject_id, version: Number(r.version) },
    })),
  );
}
