import type pg from 'pg';
import { inTransaction, lockName } from '../activities/transaction';
import { auditDirectoryChanges } from './audit';
import { DIRECTORY_LOCK } from './store';

/** Whom a person's approvals go to while they are away; `null` when they cleared it themselves. */
export type OwnDelegation = { to: string; until: string } | null;

/** The source named in directory_changes (and so in the audit event) for changes people make to themselves. */
export const SELF_SERVICE = 'self-service';

/**
 * Records a person's own delegation (or its clearing) and the change that moves every reader's snapshot on, in one
 * transaction under the directory lock; then appends the change to the audit trail, as directory syncs do. The
 * caller has checked who may be named: this stores what it is given.
 */
export async function setOwnDelegation(pool: pg.Pool, identityId: string, delegation: OwnDelegation): Promise<void> {
  const version = await inTransaction(pool, async (client) => {
    await lockName(client, DIRECTORY_LOCK);
    const { rows: before } = await client.query<{ delegate_id: string | null; until: Date | null }>(
      'SELECT delegate_id, until FROM directory_delegations WHERE identity_id = $1',
      [identityId],
    );
    await client.query(
      `INSERT INTO directory_delegations (identity_id, delegate_id, until) VALUES ($1, $2, $3)
       ON CONFLICT (identity_id) DO UPDATE SET delegate_id = EXCLUDED.delegate_id, until = EXCLUDED.until,
         updated_at = now()`,
      [identityId, delegation?.to ?? null, delegation?.until ?? null],
    );
    const previous = before[0]?.delegate_id
      ? { to: before[0].delegate_id, until: before[0].until?.toISOString() }
      : null;
    const { rows } = await client.query<{ version: string }>(
      `INSERT INTO directory_changes (source, actor, subject_kind, subject_id, change, before, after)
       VALUES ($1, $2, 'identity', $2, 'updated', $3::jsonb, $4::jsonb) RETURNING version`,
      [
        SELF_SERVICE,
        identityId,
        JSON.stringify({ delegation: previous }),
        JSON.stringify({ fields: ['delegation'], delegation }),
      ],
    );
    return Number(rows[0]?.version);
  });
  await auditDirectoryChanges(pool, [version]);
}

/** Everyone's own choices, by identity: they override the delegation their directory source reports. */
export async function ownDelegations(db: pg.Pool | pg.PoolClient): Promise<Map<string, OwnDelegation>> {
  const { rows } = await db.query<{ identity_id: string; delegate_id: string | null; until: Date | null }>(
    'SELECT identity_id, delegate_id, until FROM directory_delegations',
  );
  return new Map(
    rows.map((r) => [
      r.identity_id,
      r.delegate_id && r.until ? { to: r.delegate_id, until: r.until.toISOString() } : null,
    ]),
  );
}

/**
 * Ends every delegation people set to `leaverId` (a leaver must not receive anyone's approvals), each as a change
 * of its delegator's record by `system` from the source `offboarding`, audited like any directory change.
 * Idempotent: a second call finds nothing to end. Returns the delegators whose delegation ended.
 */
export async function endDelegationsTo(pool: pg.Pool, leaverId: string): Promise<string[]> {
  const ended = await inTransaction(pool, async (client) => {
    await lockName(client, DIRECTORY_LOCK);
    const { rows } = await client.query<{ identity_id: string; until: Date | null }>(
      `UPDATE directory_delegations d SET delegate_id = NULL, until = NULL, updated_at = now()
         FROM directory_delegations old
        WHERE d.identity_id = old.identity_id AND d.delegate_id = $1
        RETURNING d.identity_id, old.until`,
      [leaverId],
    );
    const versions: number[] = [];
    for (const r of rows) {
      const { rows: change } = await client.query<{ version: string }>(
        `INSERT INTO directory_changes (source, actor, subject_kind, subject_id, change, before, after)
         VALUES ('offboarding', 'system', 'identity', $1, 'updated', $2::jsonb, $3::jsonb) RETURNING version`,
        [
          r.identity_id,
          JSON.stringify({ delegation: { to: leaverId, until: r.until?.toISOString() } }),
          JSON.stringify({ fields: ['delegation'], delegation: null, reason: `${leaverId} left` }),
        ],
      );
      versions.push(Number(change[0]?.version));
    }
    return { delegators: rows.map((r) => r.identity_id), versions };
  });
  await auditDirectoryChanges(pool, ended.versions);
  return ended.delegators;
}
