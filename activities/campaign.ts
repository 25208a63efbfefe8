import type pg from 'pg';
import { Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  campaignTimings,
  defaultDecision,
  entitlementsInScope,
  holderInScope,
  recommend,
  resolveReviewers,
  type CampaignDefinition,
} from '../domain/campaign';
import type { Config } from '../domain/config';
import { FINAL_STATUSES, SYSTEM_ACTOR, type Status } from '../domain/model';
import { sodCircle } from '../domain/policy';
import type { DirectoryView } from '../directory/view';
import type { Logger } from '../platform/logger';
import { revokeUpdate, workflowIdFor } from '../workflows/messages';
import { appendAudit } from './audit';
import type { AuditKeyring } from './audit-chain';
import type { createNotifier } from './notify';
import { inTransaction } from './transaction';
import type { AuditEventInput } from './types';

/** Grants read per snapshot activity, and items applied per apply activity: small enough for one heartbeat each. */
export const SNAPSHOT_PAGE = 500;
export const APPLY_PAGE = 200;
const APPLY_CONCURRENCY = 8;

export interface CampaignActivityDeps {
  pool: pg.Pool;
  config: Config;
  directory?: DirectoryView;
  log: Logger;
  keyring: AuditKeyring;
  notifier: ReturnType<typeof createNotifier>;
}

export interface BeginCampaignInput {
  campaignId: string;
  definition: CampaignDefinition;
  startedBy: string;
  startedAt: string;
}

/** What the campaign workflow asks of PostgreSQL: items never pass through its history, only counts and cursors. */
export interface CampaignActivities {
  beginCampaign(input: BeginCampaignInput): Promise<void>;
  /** Adds the next page of grants in scope as items; `next` is the cursor for the page after, absent at the end. */
  snapshotCampaignPage(input: { campaignId: string; after?: string }): Promise<{ added: number; next?: string }>;
  /** Opens the campaign and sends each reviewer one digest of their items. */
  /** `at` (ISO time the step finished) moves the campaign's own clock; the workflow never reads Date.now(). */
  openCampaign(input: { campaignId: string }): Promise<{ items: number; reviewers: number; at: string }>;
  remindCampaign(input: { campaignId: string; round: number }): Promise<{ reminded: number; at: string }>;
  escalateCampaign(input: { campaignId: string }): Promise<{ escalated: number; at: string }>;
  /**
   * At the due date: unanswered items take the default, unless the default would revoke more than the allowed share
   * and security has not confirmed (`held`). `confirmation.apply: false` keeps what the default would have revoked.
   */
  closeCampaign(input: {
    campaignId: string;
    confirmation?: { by: string; apply: boolean };
  }): Promise<{ held: boolean; share: number }>;
  /** Applies up to a page of decided items: keeps recorded, revokes sent to each request's own workflow. */
  applyCampaignPage(input: { campaignId: string }): Promise<{ applied: number; remaining: number }>;
  finishCampaign(input: { campaignId: string }): Promise<void>;
  cancelCampaign(input: { campaignId: string; by: string; reason?: string }): Promise<void>;
}

interface CampaignRow {
  id: string;
  spec: CampaignDefinition;
  status: string;
  started_at: Date;
  snapshot_at: Date | null;
  guard: { share: number; confirmedBy?: string; apply?: boolean } | null;
}

export function createCampaignActivities(deps: CampaignActivityDeps): CampaignActivities {
  const { pool, keyring, notifier, log } = deps;
  const current = () => (deps.directory ? deps.directory.current() : Promise.resolve(deps.config));

  async function campaign(db: pg.Pool | pg.PoolClient, campaignId: string, lock = false): Promise<CampaignRow> {
    const { rows } = await db.query<CampaignRow>(
      `SELECT id, spec, status, started_at, snapshot_at, guard FROM campaigns WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [campaignId],
    );
    const row = rows[0];
    if (!row) throw ApplicationFailure.nonRetryable(`Campaign ${campaignId} does not exist.`, 'CampaignNotFound');
    return row;
  }

  /** Appends the events and returns each one's audit sequence number, in the caller's transaction. */
  async function audit(client: pg.PoolClient, events: AuditEventInput[]): Promise<Map<string, number>> {
    await appendAudit(client, keyring, events);
    const { rows } = await client.query<{ event_id: string; seq: string }>(
      'SELECT event_id, seq FROM audit_events WHERE event_id = ANY($1::text[])',
      [events.map((e) => e.eventId)],
    );
    return new Map(rows.map((r) => [r.event_id, Number(r.seq)]));
  }

  async function notifyReviewers(campaignId: string, kind: string, rows: { reviewer: string; open: number }[]) {
    const { rows: names } = await pool.query<{ name: string; due_at: Date }>(
      'SELECT name, due_at FROM campaigns WHERE id = $1',
      [campaignId],
    );
    const c = names[0];
    for (const r of rows) {
      heartbeat();
      await notifier.notify({
        key: `campaign:${campaignId}:${kind}:${r.reviewer}`,
        requestId: campaignId,
        to: [r.reviewer],
        subject: `${kind.startsWith('reminder') ? 'Reminder: ' : ''}access review "${c?.name ?? campaignId}"`,
        text:
          `You have ${r.open} access ${r.open === 1 ? 'grant' : 'grants'} to review by ` +
          `${c?.due_at.toISOString() ?? 'the due date'}: keep or revoke each, with a comment.`,
      });
    }
  }

  return {
    async beginCampaign({ campaignId, definition, startedBy, startedAt }) {
      const dueAt = new Date(Date.parse(startedAt) + campaignTimings(definition).dueMs);
      await inTransaction(pool, async (client) => {
        await client.query(
          `INSERT INTO campaigns (id, definition, name, spec, status, started_by, started_at, due_at)
           VALUES ($1, $2, $3, $4::jsonb, 'snapshotting', $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
          [campaignId, definition.id, definition.name, JSON.stringify(definition), startedBy, startedAt, dueAt],
        );
        await audit(client, [
          {
            eventId: `campaign:${campaignId}:started`,
            requestId: campaignId,
            actor: startedBy,
            action: 'campaign.started',
            at: startedAt,
            data: { definition: definition.id, dueAt: dueAt.toISOString(), default: definition.default },
          },
        ]);
      });
    },

    async snapshotCampaignPage({ campaignId, after }) {
      const c = await campaign(pool, campaignId);
      const config = await current();
      const inScope = entitlementsInScope(c.spec, config).map((e) => e.id);
      // Grants that started after the campaign did are the next campaign's: the snapshot is as of the start.
      const { rows } = await pool.query<{
        id: string;
        beneficiary: string;
        entitlement: string;
        resource: string;
        started_at: Date;
        extensions: number | null;
      }>(
        `SELECT id, beneficiary, entitlement, resource, started_at, (view->'grant'->>'extensions')::int AS extensions
           FROM requests
          WHERE status = 'active' AND entitlement = ANY($1::text[]) AND started_at <= $2 AND id > $3
          ORDER BY id LIMIT $4`,
        [inScope, c.started_at, after ?? '', SNAPSHOT_PAGE],
      );
      const next = rows.length === SNAPSHOT_PAGE ? rows.at(-1)?.id : undefined;
      const kept = rows.filter((r) => holderInScope(c.spec, config, r.beneficiary));
      if (kept.length === 0) return { added: 0, ...(next && { next }) };

      const holders = [...new Set(kept.map((r) => r.beneficiary))];
      const circles = new Map(holders.map((h) => [h, sodCircle(config, h)]));
      const everyone = [...new Set([...circles.values()].flat())];
      const held = await pool.query<{ beneficiary: string; entitlement: string }>(
        `SELECT DISTINCT beneficiary, entitlement FROM requests WHERE status = 'active' AND beneficiary = ANY($1::text[])`,
        [everyone],
      );
      const peerHolders = await pool.query<{ entitlement: string; holders: string[] }>(
        `SELECT entitlement, array_agg(DISTINCT beneficiary) AS holders FROM requests
          WHERE status = 'active' AND entitlement = ANY($1::text[]) GROUP BY entitlement`,
        [[...new Set(kept.map((r) => r.entitlement))]],
      );
      const moves = await pool.query<{
        holder: string;
        at: Date;
        dep_before: string | null;
        dep_after: string | null;
        manager_changed: boolean;
      }>(
        `SELECT i.user_name AS holder, c.at, c.before->>'department' AS dep_before, c.after->>'department' AS dep_after,
                (c.before->>'managerRef') IS DISTINCT FROM (c.after->>'managerRef') AS manager_changed
           FROM directory_changes c JOIN directory_identities i ON i.id = c.subject_id
          WHERE c.subject_kind = 'identity' AND c.change = 'updated' AND i.user_name = ANY($1::text[])
          ORDER BY c.version`,
        [holders],
      );
      const byHolder = new Map<string, string[]>();
      for (const h of held.rows) byHolder.set(h.beneficiary, [...(byHolder.get(h.beneficiary) ?? []), h.entitlement]);
      const holdersOf = new Map(peerHolders.rows.map((r) => [r.entitlement, new Set(r.holders)]));
      const now = new Date().toISOString();

      const items = kept.map((r) => {
        const entitlement = config.entitlements.get(r.entitlement);
        if (!entitlement) throw new Error(`Entitlement ${r.entitlement} left the catalog during the snapshot.`);
        const who = resolveReviewers(c.spec, config, { holder: r.beneficiary, entitlement }, now);
        const moved = moves.rows.find(
          (m) =>
            m.holder === r.beneficiary &&
            m.at > r.started_at &&
            (m.manager_changed || (m.dep_before ?? '') !== (m.dep_after ?? '')),
        );
        const rec = recommend(c.spec, config, {
          holder: r.beneficiary,
          entitlement,
          startedAt: r.started_at.toISOString(),
          ...(r.extensions !== null && { extensions: r.extensions }),
          ...(moved && {
            movedSinceGrant:
              (moved.dep_before ?? '') !== (moved.dep_after ?? '')
                ? `moved from ${moved.dep_before ?? 'no department'} to ${moved.dep_after ?? 'no department'}`
                : 'changed manager',
          }),
          holderEntitlements: (circles.get(r.beneficiary) ?? []).flatMap((p) => byHolder.get(p) ?? []),
          holdersOfEntitlement: holdersOf.get(r.entitlement) ?? new Set(),
          now,
        });
        return {
          request_id: r.id,
          holder: r.beneficiary,
          entitlement: r.entitlement,
          resource: r.resource,
          privileged: entitlement.privileged,
          granted_at: r.started_at.toISOString(),
          assigned: who.assigned,
          reviewers: who.reviewers,
          fallback: who.fallback,
          recommendation: rec.recommendation,
          reasons: rec.reasons,
        };
      });
      // One statement per page; a retried page finds its rows and adds nothing twice.
      const { rowCount } = await pool.query(
        `INSERT INTO campaign_items (campaign_id, request_id, holder, entitlement, resource, privileged, granted_at,
                                     assigned, reviewers, fallback, recommendation, reasons)
         SELECT $1, x.request_id, x.holder, x.entitlement, x.resource, x.privileged, x.granted_at,
                x.assigned, x.reviewers, x.fallback, x.recommendation, x.reasons
           FROM jsonb_to_recordset($2::jsonb) AS x(request_id text, holder text, entitlement text, resource text,
                privileged boolean, granted_at timestamptz, assigned text[], reviewers text[], fallback text[],
                recommendation text, reasons jsonb)
         ON CONFLICT (campaign_id, request_id) DO NOTHING`,
        [campaignId, JSON.stringify(items)],
      );
      return { added: rowCount ?? 0, ...(next && { next }) };
    },

    async openCampaign({ campaignId }) {
      const counts = await inTransaction(pool, async (client) => {
        const c = await campaign(client, campaignId, true);
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM campaign_items WHERE campaign_id = $1',
          [campaignId],
        );
        const items = rows[0]?.n ?? 0;
        if (c.status === 'snapshotting') {
          await client.query(
            `UPDATE campaigns SET status = 'open', item_count = $2, snapshot_at = now(), opened_at = now() WHERE id = $1`,
            [campaignId, items],
          );
        }
        await audit(client, [
          {
            eventId: `campaign:${campaignId}:opened`,
            requestId: campaignId,
            actor: SYSTEM_ACTOR,
            action: 'campaign.opened',
            at: new Date().toISOString(),
            data: { items },
          },
        ]);
        return items;
      });
      const reviewers = await openByReviewer(pool, campaignId);
      await notifyReviewers(campaignId, 'digest', reviewers);
      return { items: counts, reviewers: reviewers.length, at: new Date().toISOString() };
    },

    async remindCampaign({ campaignId, round }) {
      const reviewers = await openByReviewer(pool, campaignId);
      await notifyReviewers(campaignId, `reminder-${round}`, reviewers);
      await pool.query('UPDATE campaigns SET reminders_sent = greatest(reminders_sent, $2) WHERE id = $1', [
        campaignId,
        round,
      ]);
      return { reminded: reviewers.length, at: new Date().toISOString() };
    },

    async escalateCampaign({ campaignId }) {
      const escalated = await inTransaction(pool, async (client) => {
        const { rowCount } = await client.query(
          `UPDATE campaign_items SET reviewers = ARRAY(SELECT DISTINCT unnest(reviewers || fallback))
            WHERE campaign_id = $1 AND decision IS NULL AND cardinality(fallback) > 0`,
          [campaignId],
        );
        await client.query('UPDATE campaigns SET escalated = true WHERE id = $1', [campaignId]);
        await audit(client, [
          {
            eventId: `campaign:${campaignId}:escalated`,
            requestId: campaignId,
            actor: SYSTEM_ACTOR,
            action: 'campaign.escalated',
            at: new Date().toISOString(),
            data: { items: rowCount ?? 0 },
          },
        ]);
        return rowCount ?? 0;
      });
      await notifyReviewers(campaignId, 'escalation', await openByReviewer(pool, campaignId));
      return { escalated, at: new Date().toISOString() };
    },

    async closeCampaign({ campaignId, confirmation }) {
      return inTransaction(pool, async (client) => {
        const c = await campaign(client, campaignId, true);
        if (c.status === 'applying' || c.status === 'closed') return { held: false, share: c.guard?.share ?? 0 };
        const { rows } = await client.query<{ total: number; default_revokes: number }>(
          `SELECT count(*)::int AS total,
                  count(*) FILTER (WHERE decision IS NULL AND ($2 = 'revoke' OR ($2 = 'recommendation' AND
                    recommendation = 'revoke')))::int AS default_revokes
             FROM campaign_items WHERE campaign_id = $1`,
          [campaignId, c.spec.default],
        );
        const { total = 0, default_revokes = 0 } = rows[0] ?? {};
        const share = total > 0 ? default_revokes / total : 0;
        const now = new Date().toISOString();
        if (share > c.spec.maxDefaultRevokeShare && !confirmation) {
          await client.query(`UPDATE campaigns SET status = 'awaiting_confirmation', guard = $2::jsonb WHERE id = $1`, [
            campaignId,
            JSON.stringify({ share, defaultRevokes: default_revokes, items: total, max: c.spec.maxDefaultRevokeShare }),
          ]);
          await audit(client, [
            {
              eventId: `campaign:${campaignId}:guard-held`,
              requestId: campaignId,
              actor: SYSTEM_ACTOR,
              action: 'campaign.guard_held',
              at: now,
              data: { share, defaultRevokes: default_revokes, items: total, max: c.spec.maxDefaultRevokeShare },
            },
          ]);
          return { held: true, share };
        }
        // Security chose to keep what the default would have revoked: the unanswered items are kept instead.
        const rule = confirmation && !confirmation.apply ? 'keep' : c.spec.default;
        const { rows: pending } = await client.query<{ id: string; recommendation: 'keep' | 'revoke' }>(
          'SELECT id, recommendation FROM campaign_items WHERE campaign_id = $1 AND decision IS NULL',
          [campaignId],
        );
        for (const decision of ['keep', 'revoke'] as const) {
          const ids = pending.filter((p) => defaultDecision(rule, p.recommendation) === decision).map((p) => p.id);
          if (ids.length === 0) continue;
          await client.query(
            `UPDATE campaign_items SET decision = $2, decided_by = $3, decided_at = now(), decision_source = 'default'
              WHERE id = ANY($1::bigint[]) AND decision IS NULL`,
            [ids, decision, SYSTEM_ACTOR],
          );
        }
        const guard = {
          share,
          defaultRevokes: default_revokes,
          items: total,
          max: c.spec.maxDefaultRevokeShare,
          ...(confirmation && { confirmedBy: confirmation.by, apply: confirmation.apply }),
        };
        await client.query(`UPDATE campaigns SET status = 'applying', guard = $2::jsonb WHERE id = $1`, [
          campaignId,
          JSON.stringify(guard),
        ]);
        await audit(client, [
          {
            eventId: `campaign:${campaignId}:due`,
            requestId: campaignId,
            actor: confirmation?.by ?? SYSTEM_ACTOR,
            action: 'campaign.defaults_applied',
            at: now,
            data: { default: rule, unanswered: pending.length, ...guard },
          },
        ]);
        return { held: false, share };
      });
    },

    async applyCampaignPage({ campaignId }) {
      const c = await campaign(pool, campaignId);
      const { rows } = await pool.query<ItemRow>(
        `SELECT id, request_id, holder, entitlement, decision, decided_by, decision_source, comment
           FROM campaign_items
          WHERE campaign_id = $1 AND outcome = 'pending' AND decision IS NOT NULL ORDER BY id LIMIT $2`,
        [campaignId, APPLY_PAGE],
      );
      const queue = [...rows];
      const client = Context.current().client;
      const worker = async () => {
        for (let item = queue.shift(); item; item = queue.shift()) {
          heartbeat();
          await applyItem(c, item, client);
        }
      };
      await Promise.all(Array.from({ length: APPLY_CONCURRENCY }, worker));
      const { rows: left } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM campaign_items WHERE campaign_id = $1 AND outcome = 'pending'`,
        [campaignId],
      );
      return { applied: rows.length, remaining: left[0]?.n ?? 0 };
    },

    async finishCampaign({ campaignId }) {
      await inTransaction(pool, async (client) => {
        const { rows } = await client.query<Record<string, number>>(
          `SELECT count(*)::int AS items,
                  count(*) FILTER (WHERE outcome = 'kept')::int AS kept,
                  count(*) FILTER (WHERE outcome = 'revoked')::int AS revoked,
                  count(*) FILTER (WHERE outcome = 'grant_ended')::int AS grant_ended,
                  count(*) FILTER (WHERE outcome = 'failed')::int AS failed,
                  count(*) FILTER (WHERE decision_source = 'default')::int AS defaulted
             FROM campaign_items WHERE campaign_id = $1`,
          [campaignId],
        );
        await client.query(
          `UPDATE campaigns SET status = 'closed', closed_at = coalesce(closed_at, now()) WHERE id = $1`,
          [campaignId],
        );
        await audit(client, [
          {
            eventId: `campaign:${campaignId}:closed`,
            requestId: campaignId,
            actor: SYSTEM_ACTOR,
            action: 'campaign.closed',
            at: new Date().toISOString(),
            data: rows[0] ?? {},
          },
        ]);
      });
    },

    async cancelCampaign({ campaignId, by, reason }) {
      await inTransaction(pool, async (client) => {
        await client.query(
          `UPDATE campaigns SET status = 'cancelled', cancelled_by = $2, closed_at = now()
            WHERE id = $1 AND status NOT IN ('closed', 'cancelled')`,
          [campaignId, by],
        );
        await audit(client, [
          {
            eventId: `campaign:${campaignId}:cancelled`,
            requestId: campaignId,
            actor: by,
            action: 'campaign.cancelled',
            at: new Date().toISOString(),
            data: { ...(reason && { reason }) },
          },
        ]);
      });
    },
  };

  /**
   * One item, exactly once: its outcome is written with its audit event in one transaction, guarded on `pending`.
   * A revoke goes to the request's own workflow with an update id of the item, so a retry after a lost answer is the
   * same update; a request that ended meanwhile (by expiry, by its holder) closes the item as `grant_ended`.
   */
  async function applyItem(c: CampaignRow, item: ItemRow, client: Context['client']): Promise<void> {
    const reason = `access review ${c.id} (${c.spec.name}): revoked by ${item.decision_source === 'default' ? `the campaign's default` : item.decided_by}`;
    let outcome: 'kept' | 'revoked' | 'grant_ended' | 'failed' = 'kept';
    let failure: string | undefined;
    if (item.decision === 'revoke') {
      const status = await requestStatus(item.request_id);
      if (status === 'active' || status === 'failed') {
        try {
          await client.workflow.getHandle(workflowIdFor(item.request_id)).executeUpdate(revokeUpdate, {
            args: [{ by: SYSTEM_ACTOR, reason }],
            updateId: `campaign:${c.id}:${item.id}`,
          });
          outcome = 'revoked';
        } catch (err) {
          const after = await requestStatus(item.request_id);
          if (err instanceof WorkflowNotFoundError || (after && FINAL_STATUSES.includes(after))) {
            outcome = (await revokedByUs(item.request_id, reason)) ? 'revoked' : 'grant_ended';
          } else if (err instanceof WorkflowUpdateFailedError) {
            outcome = 'failed';
            failure = (err.cause as Error | undefined)?.message ?? err.message;
          } else {
            throw err;
          }
        }
      } else {
        outcome = (await revokedByUs(item.request_id, reason)) ? 'revoked' : 'grant_ended';
      }
    }
    await inTransaction(pool, async (db) => {
      const eventId = `campaign:${c.id}:item:${item.id}:applied`;
      const updated = await db.query(
        `UPDATE campaign_items SET outcome = $2, failure = $3, applied_at = now() WHERE id = $1 AND outcome = 'pending'`,
        [item.id, outcome, failure ?? null],
      );
      if (updated.rowCount === 0) return;
      const seqs = await audit(db, [
        {
          eventId,
          requestId: item.request_id,
          actor: SYSTEM_ACTOR,
          action: `campaign.item.${outcome}`,
          at: new Date().toISOString(),
          data: {
            campaignId: c.id,
            itemId: item.id,
            decision: item.decision,
            decidedBy: item.decided_by,
            source: item.decision_source,
            ...(item.comment && { comment: item.comment }),
            ...(failure && { failure }),
          },
        },
      ]);
      await db.query('UPDATE campaign_items SET applied_seq = $2 WHERE id = $1', [item.id, seqs.get(eventId) ?? null]);
    });
    if (outcome === 'failed')
      log.warn({ campaignId: c.id, requestId: item.request_id, failure }, 'campaign revoke refused');
  }

  async function requestStatus(requestId: string): Promise<Status | undefined> {
    const { rows } = await pool.query<{ status: Status }>('SELECT status FROM requests WHERE id = $1', [requestId]);
    return rows[0]?.status;
  }

  /** Whether the request's own trail shows this campaign's revoke (an earlier attempt whose answer was lost). */
  async function revokedByUs(requestId: string, reason: string): Promise<boolean> {
    const { rows } = await pool.query(
      `SELECT 1 FROM audit_events WHERE request_id = $1 AND action = 'revoked' AND actor = $2 AND data->>'reason' = $3`,
      [requestId, SYSTEM_ACTOR, reason],
    );
    return rows.length > 0;
  }
}

interface ItemRow {
  id: string;
  request_id: string;
  holder: string;
  entitlement: string;
  decision: 'keep' | 'revoke';
  decided_by: string | null;
  decision_source: 'reviewer' | 'default' | null;
  comment: string | null;
}

/** Reviewers with undecided items, and how many each. */
async function openByReviewer(pool: pg.Pool, campaignId: string): Promise<{ reviewer: string; open: number }[]> {
  const { rows } = await pool.query<{ reviewer: string; open: number }>(
    `SELECT reviewer, count(*)::int AS open FROM campaign_items, unnest(reviewers) AS reviewer
      WHERE campaign_id = $1 AND decision IS NULL GROUP BY reviewer ORDER BY reviewer`,
    [campaignId],
  );
  return rows;
}
