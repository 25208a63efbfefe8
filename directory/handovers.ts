import type pg from 'pg';
import type { Directory } from '../domain/model';

/** A leaver's service account handed to a new owner (migrations/…_identity3-service-account-handovers.sql). */
export interface HandoverRow {
  accountId: string;
  ownerId: string;
  previousOwner: string;
  offboardingId: string;
  reviewCampaign?: string;
  grants: number;
  handedAt: string;
}

export async function loadHandovers(db: pg.Pool | pg.PoolClient): Promise<{ seq: number; rows: HandoverRow[] }> {
  const { rows } = await db.query<{
    account_id: string;
    owner_id: string;
    previous_owner: string;
    offboarding_id: string;
    review_campaign: string | null;
    grants: number;
    seq: string;
    handed_at: Date;
  }>('SELECT * FROM service_account_handovers ORDER BY account_id');
  return {
    // The sum moves with every insert and every re-handover (each write takes a new seq).
    seq: rows.reduce((n, r) => n + Number(r.seq), 0),
    rows: rows.map((r) => ({
      accountId: r.account_id,
      ownerId: r.owner_id,
      previousOwner: r.previous_owner,
      offboardingId: r.offboarding_id,
      ...(r.review_campaign !== null && { reviewCampaign: r.review_campaign }),
      grants: r.grants,
      handedAt: r.handed_at.toISOString(),
    })),
  };
}

/**
 * The handed-over owner replaces the source's while the source still names the departed owner (or none): a source
 * that names someone else has been edited since, and wins. A previous owner who is active again gets the account back
 * only through the source or a new handover: ownership does not flip back on its own.
 */
export function withHandovers(directory: Directory, handovers: readonly HandoverRow[]): Directory {
  if (handovers.length === 0) return directory;
  const byAccount = new Map(handovers.map((h) => [h.accountId, h]));
  return {
    users: directory.users.map((u) => {
      const h = byAccount.get(u.id);
      if (!h || u.kind !== 'service') return u;
      if (u.owner !== undefined && u.owner !== h.previousOwner) return u;
      return { ...u, owner: h.ownerId };
    }),
  };
}
