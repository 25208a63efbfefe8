import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { appendAudit } from '../activities/audit';
import type { AuditKeyring } from '../activities/audit-chain';
import { inTransaction } from '../activities/transaction';
import { delegatorsOf, mayReview, type CampaignDefinition } from '../domain/campaign';
import type { Config } from '../domain/config';
import type { FieldError } from './problem';
import { Problem } from './problem';
import type { CampaignBody, CampaignKpiBody, EvidenceBody, ReviewItemBody } from './campaign-schemas';

/** A keep of everything at less than this many seconds per item reads as rubber-stamping. */
const RUBBER_STAMP_SECONDS = 10;
const RUBBER_STAMP_MIN_ITEMS = 3;

interface CampaignRow {
  id: string;
  definition: string;
  name: string;
  spec: CampaignDefinition;
  status: CampaignBody['status'];
  started_by: string;
  started_at: Date;
  due_at: Date;
  closed_at: Date | null;
  item_count: number;
  decided: number;
  guard: CampaignBody['guard'] | null;
  cancelled_by: string | null;
}

/** The API's reads and writes of campaigns and their items; the campaign workflow owns every other change. */
export function createCampaignStore(pool: pg.Pool, keyring: AuditKeyring) {
  const campaignSql = `SELECT c.*, (SELECT count(*)::int FROM campaign_items i WHERE i.campaign_id = c.id
                               AND i.decision_source = 'reviewer') AS decided FROM campaigns c`;

  async function list(): Promise<CampaignBody[]> {
    const { rows } = await pool.query<CampaignRow>(`${campaignSql} ORDER BY started_at DESC, id DESC LIMIT 200`);
    return rows.map(toCampaign);
  }

  async function get(id: string): Promise<CampaignBody | undefined> {
    const { rows } = await pool.query<CampaignRow>(`${campaignSql} WHERE c.id = $1`, [id]);
    return rows[0] && toCampaign(rows[0]);
  }

  /** The caller's items: those they review, or review for someone whose delegation to them runs now. */
  async function inbox(
    config: Config,
    caller: string,
    q: { campaign?: string; all: boolean; limit: number; after?: string },
  ): Promise<{ items: ReviewItemBody[]; next?: string }> {
    const now = new Date().toISOString();
    const as = [caller, ...delegatorsOf(config, caller, now)];
    const { rows } = await pool.query<ItemRow & { campaign_name: string; due_at: Date }>(
      `SELECT i.*, c.name AS campaign_name, c.due_at FROM campaign_items i
         JOIN campaigns c ON c.id = i.campaign_id
         JOIN requests r ON r.id = i.request_id
        WHERE c.status = 'open' AND i.outcome = 'pending' AND i.reviewers && $1::text[] AND i.holder <> $2
          AND r.status = 'active'
          AND ($3::text IS NULL OR i.campaign_id = $3) AND ($4 OR i.decision IS NULL) AND i.id > $5
        ORDER BY i.id LIMIT $6`,
      [as, caller, q.campaign ?? null, q.all, q.after ?? '0', q.limit + 1],
    );
    // The holder's owner of record is excluded too; the SQL leaves the holder out, this the rest of the rule.
    const mine = rows.filter((r) => mayReview(config, caller, { holder: r.holder, reviewers: r.reviewers }, now).ok);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      items: mine.filter((r) => page.includes(r)).map(toItem),
      ...(rows.length > q.limit && last && { next: last.id }),
    };
  }

  /**
   * Records decisions, all or none: each item must be in an open campaign, still live, and the caller one of its
   * reviewers (or their delegate), never its holder or the holder's owner; keeping privileged access needs a comment.
   * Each decision and its audit event commit together.
   */
  async function decide(
    config: Config,
    caller: string,
    itemIds: string[],
    decision: 'keep' | 'revoke',
    comment: string | undefined,
  ): Promise<{ id: string; decision: 'keep' | 'revoke'; auditSeq: number }[]> {
    const now = new Date().toISOString();
    return inTransaction(pool, async (client) => {
      const { rows } = await client.query<ItemRow & { campaign_status: string; request_status: string | null }>(
        `SELECT i.*, c.status AS campaign_status, r.status AS request_status
           FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id LEFT JOIN requests r ON r.id = i.request_id
          WHERE i.id = ANY($1::bigint[]) ORDER BY i.id FOR UPDATE OF i`,
        [itemIds],
      );
      const byId = new Map(rows.map((r) => [r.id, r]));
      const errors: FieldError[] = [];
      let own = false;
      let closed = false;
      itemIds.forEach((id, index) => {
        const field = itemIds.length > 1 ? `items[${index}]` : 'itemId';
        const item = byId.get(id);
        const check = item && mayReview(config, caller, { holder: item.holder, reviewers: item.reviewers }, now);
        if (!item || !check || (!check.ok && check.why === 'not-reviewer')) {
          // Not theirs reads as not there: a reviewer learns nothing about other people's items.
          errors.push({ field, message: `item ${id} is not in your review inbox` });
        } else if (!check.ok) {
          own = true;
          errors.push({ field, message: `item ${id} is your own access (or a service account you own)` });
        } else if (item.campaign_status !== 'open') {
          closed = true;
          errors.push({ field, message: `item ${id} belongs to a campaign that is ${item.campaign_status}` });
        } else if (item.request_status !== 'active') {
          closed = true;
          errors.push({ field, message: `item ${id}'s grant already ended; the item closes itself` });
        } else if (decision === 'keep' && item.privileged && !comment) {
          errors.push({ field: 'comment', message: `is required to keep privileged access (item ${id})` });
        }
      });
      if (own) {
        throw new Problem('self-approval', 'Nobody reviews their own access, nor that of a service account they own.', {
          errors,
        });
      }
      if (errors.some((e) => e.message.includes('not in your review inbox'))) {
        throw new Problem('not-found', 'Some items are not in your review inbox.', { errors });
      }
      if (closed) throw new Problem('invalid-state', 'Some items can no longer be decided.', { errors });
      if (errors.length > 0) throw new Problem('validation', 'The decision is not valid.', { errors });

      const events = itemIds.map((id) => {
        const item = byId.get(id) as ItemRow;
        return {
          eventId: `campaign:${item.campaign_id}:item:${id}:decided:${randomUUID()}`,
          requestId: item.request_id,
          actor: caller,
          action: 'campaign.item.decided',
          at: now,
          data: {
            campaignId: item.campaign_id,
            itemId: id,
            decision,
            ...(comment && { comment }),
            ...(!item.reviewers.includes(caller) && { onBehalfOf: item.reviewers }),
            ...(itemIds.length > 1 && { bulk: itemIds.length }),
          },
        };
      });
      await appendAudit(client, keyring, events);
      const seqs = await client.query<{ event_id: string; seq: string }>(
        'SELECT event_id, seq FROM audit_events WHERE event_id = ANY($1::text[])',
        [events.map((e) => e.eventId)],
      );
      const seqOf = new Map(seqs.rows.map((r) => [r.event_id, Number(r.seq)]));
      return Promise.all(
        itemIds.map(async (id, index) => {
          const auditSeq = seqOf.get(events[index]?.eventId ?? '') ?? 0;
          await client.query(
            `UPDATE campaign_items SET decision = $2, decided_by = $3, decided_at = $4, comment = $5,
                    decision_source = 'reviewer', decision_seq = $6 WHERE id = $1`,
            [id, decision, caller, now, comment ?? null, auditSeq],
          );
          return { id, decision, auditSeq };
        }),
      );
    });
  }

  async function evidence(id: string): Promise<EvidenceBody | undefined> {
    const campaign = await get(id);
    if (!campaign) return undefined;
    const events = await pool.query<{ seq: string; action: string; actor: string; at: Date; hash: string }>(
      'SELECT seq, action, actor, at, hash FROM audit_events WHERE request_id = $1 ORDER BY seq',
      [id],
    );
    const { rows } = await pool.query<ItemRow & { ended_at: Date | null; revoked_seq: string | null }>(
      `SELECT i.*, g.ended_at,
              (SELECT min(a.seq) FROM audit_events a WHERE a.request_id = i.request_id AND a.action = 'revoked'
                  AND a.data->>'reason' LIKE 'access review ' || i.campaign_id || ' %') AS revoked_seq
         FROM campaign_items i LEFT JOIN grants g ON g.request_id = i.request_id
        WHERE i.campaign_id = $1 ORDER BY i.id`,
      [id],
    );
    return {
      format: 'grantflow-campaign-evidence',
      exportedAt: new Date().toISOString(),
      campaign,
      events: events.rows.map((e) => ({
        seq: Number(e.seq),
        action: e.action,
        actor: e.actor,
        at: e.at.toISOString(),
        hash: e.hash,
      })),
      items: rows.map((r) => ({
        itemId: r.id,
        requestId: r.request_id,
        holder: r.holder,
        entitlement: r.entitlement,
        privileged: r.privileged,
        grantedAt: r.granted_at.toISOString(),
        assigned: r.assigned,
        reviewers: r.reviewers,
        recommendation: r.recommendation,
        reasons: r.reasons,
        ...(r.decision && { decision: r.decision }),
        ...(r.decision_source && { decisionSource: r.decision_source }),
        ...(r.decided_by && { decidedBy: r.decided_by }),
        ...(r.decided_at && { decidedAt: r.decided_at.toISOString() }),
        ...(r.comment && { comment: r.comment }),
        outcome: r.outcome,
        ...(r.failure && { failure: r.failure }),
        ...(r.applied_at && { appliedAt: r.applied_at.toISOString() }),
        ...(r.outcome === 'revoked' && r.ended_at && { revokedAtTarget: r.ended_at.toISOString() }),
        ...(r.decision_seq !== null && { decisionSeq: Number(r.decision_seq) }),
        ...(r.applied_seq !== null && { appliedSeq: Number(r.applied_seq) }),
        ...(r.revoked_seq !== null && { requestRevokedSeq: Number(r.revoked_seq) }),
      })),
    };
  }

  async function kpis(id: string): Promise<CampaignKpiBody | undefined> {
    const campaign = await get(id);
    if (!campaign) return undefined;
    const totals = await pool.query<{ items: number; decided: number; revoked: number; all_decided: number }>(
      `SELECT count(*)::int AS items,
              count(*) FILTER (WHERE decision_source = 'reviewer')::int AS decided,
              count(*) FILTER (WHERE decision = 'revoke')::int AS revoked,
              count(*) FILTER (WHERE decision IS NOT NULL)::int AS all_decided
         FROM campaign_items WHERE campaign_id = $1`,
      [id],
    );
    // Overdue: past the due date with items open, or whose items the default had to answer.
    const overdue = await pool.query<{ reviewer: string; open: number }>(
      `SELECT reviewer, count(*)::int AS open FROM campaign_items, unnest(reviewers) AS reviewer, campaigns c
        WHERE campaign_id = $1 AND c.id = campaign_id
          AND ((decision IS NULL AND c.due_at < now()) OR decision_source = 'default')
        GROUP BY reviewer ORDER BY open DESC, reviewer`,
      [id],
    );
    const stamps = await pool.query<{ reviewer: string; decisions: number; seconds: number }>(
      `SELECT decided_by AS reviewer, count(*)::int AS decisions,
              extract(epoch FROM max(decided_at) - min(decided_at))::float8 / greatest(count(*) - 1, 1) AS seconds
         FROM campaign_items WHERE campaign_id = $1 AND decision_source = 'reviewer'
        GROUP BY decided_by HAVING count(*) >= $2 AND bool_and(decision = 'keep')`,
      [id, RUBBER_STAMP_MIN_ITEMS],
    );
    const t = totals.rows[0] ?? { items: 0, decided: 0, revoked: 0, all_decided: 0 };
    return {
      campaignId: id,
      items: t.items,
      decidedByReviewers: t.decided,
      completion: t.items > 0 ? t.decided / t.items : 1,
      revokeRate: t.all_decided > 0 ? t.revoked / t.all_decided : null,
      overdueReviewers: overdue.rows,
      rubberStamping: stamps.rows
        .filter((s) => s.seconds < RUBBER_STAMP_SECONDS)
        .map((s) => ({ reviewer: s.reviewer, decisions: s.decisions, secondsPerItem: s.seconds })),
    };
  }

  return { list, get, inbox, decide, evidence, kpis };
}
export type CampaignStore = ReturnType<typeof createCampaignStore>;

interface ItemRow {
  id: string;
  campaign_id: string;
  request_id: string;
  holder: string;
  entitlement: string;
  privileged: boolean;
  granted_at: Date;
  assigned: string[];
  reviewers: string[];
  recommendation: 'keep' | 'revoke';
  reasons: ReviewItemBody['reasons'];
  decision: 'keep' | 'revoke' | null;
  decided_by: string | null;
  decided_at: Date | null;
  comment: string | null;
  decision_source: 'reviewer' | 'default' | null;
  decision_seq: string | null;
  outcome: EvidenceBody['items'][number]['outcome'];
  failure: string | null;
  applied_at: Date | null;
  applied_seq: string | null;
}

function toCampaign(r: CampaignRow): CampaignBody {
  return {
    id: r.id,
    definition: r.definition,
    name: r.name,
    status: r.status,
    default: r.spec.default,
    startedBy: r.started_by,
    startedAt: r.started_at.toISOString(),
    dueAt: r.due_at.toISOString(),
    ...(r.closed_at && { closedAt: r.closed_at.toISOString() }),
    items: r.item_count,
    decided: r.decided,
    ...(r.guard && { guard: r.guard }),
    ...(r.cancelled_by && { cancelledBy: r.cancelled_by }),
  };
}

function toItem(r: ItemRow & { campaign_name: string; due_at: Date }): ReviewItemBody {
  return {
    id: r.id,
    campaignId: r.campaign_id,
    campaignName: r.campaign_name,
    dueAt: r.due_at.toISOString(),
    requestId: r.request_id,
    holder: r.holder,
    entitlement: r.entitlement,
    privileged: r.privileged,
    grantedAt: r.granted_at.toISOString(),
    recommendation: r.recommendation,
    reasons: r.reasons,
    ...(r.decision && { decision: r.decision }),
    ...(r.comment && { comment: r.comment }),
  };
}

/** The evidence as CSV, one row per item (RFC 4180, cells that look like formulas quoted as text). */
export function evidenceCsv(e: EvidenceBody): string {
  const header = [
    'item_id',
    'request_id',
    'holder',
    'entitlement',
    'privileged',
    'granted_at',
    'reviewers',
    'recommendation',
    'reasons',
    'decision',
    'decision_source',
    'decided_by',
    'decided_at',
    'comment',
    'outcome',
    'applied_at',
    'revoked_at_target',
    'decision_seq',
    'applied_seq',
    'request_revoked_seq',
  ];
  const lines = e.items.map((i) =>
    [
      i.itemId,
      i.requestId,
      i.holder,
      i.entitlement,
      String(i.privileged),
      i.grantedAt,
      i.reviewers.join(' '),
      i.recommendation,
      i.reasons.map((r) => r.code).join(' '),
      i.decision ?? '',
      i.decisionSource ?? '',
      i.decidedBy ?? '',
      i.decidedAt ?? '',
      i.comment ?? '',
      i.outcome,
      i.appliedAt ?? '',
      i.revokedAtTarget ?? '',
      i.decisionSeq?.toString() ?? '',
      i.appliedSeq?.toString() ?? '',
      i.requestRevokedSeq?.toString() ?? '',
    ]
      .map(csvCell)
      .join(','),
  );
  return [header.join(','), ...lines].map((l) => `${l}\r\n`).join('');
}

function csvCell(value: string): string {
  // A comment starting with = + - @ would run as a formula in a spreadsheet.
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
