import type pg from 'pg';
import type { Logger } from '../platform/logger';
import type { AuditKeyring } from './audit-chain';
import { appendAudit, CHAIN_LOCK } from './audit';
import { groupCommit } from './group-commit';
import type { Notifier } from './notify';
import { storable, storableJson } from './storable';
import { inTransaction, lockName } from './transaction';
import type { BookkeepingStep, RequestProjection } from './types';

export interface BookkeeperDeps {
  pool: pg.Pool;
  keyring: AuditKeyring;
  notifier: Notifier;
  log: Logger;
}

/**
 * A request's bookkeeping for one state transition (its audit events, its projection row, its notifications) in
 * one PostgreSQL transaction: a crash leaves all three written or none. Concurrent steps of different requests are
 * grouped into one transaction (one chain lock, one commit), as the audit log's group commit did for events alone.
 * Idempotent, so a retried step changes nothing: events by id, the projection by revision, notifications by key.
 * Notifications are written to the outbox in the transaction and sent after it commits (once per key).
 */
export function createBookkeeper({ pool, keyring, notifier, log }: BookkeeperDeps) {
  // One bad step must not fail the others: a group that fails is written again step by step.
  const writeGrouped = groupCommit<BookkeepingStep>(writeSteps, (err, steps) =>
    log.warn({ err, steps }, 'bookkeeping group failed; writing its steps one by one'),
  );

  async function writeSteps(steps: readonly BookkeepingStep[]): Promise<void> {
    await inTransaction(pool, async (client) => {
      // Every bookkeeping transaction takes the chain lock first, so two groups never lock request rows in
      // opposite orders.
      await lockName(client, CHAIN_LOCK);
      await appendAudit(
        client,
        keyring,
        steps.flatMap((s) => s.events),
      );
      const projections = steps.map((s) => s.projection).sort((a, b) => a.requestId.localeCompare(b.requestId));
      for (const p of projections) await writeProjection(client, p);
      for (const s of steps) for (const n of s.notifications) await notifier.enqueue(client, n);
    });
  }

  /** Writes the step (grouped with concurrent ones), then sends its notifications that are not sent yet. */
  async function write(step: BookkeepingStep): Promise<void> {
    await writeGrouped(step);
    for (const n of step.notifications) await notifier.deliver(n);
  }

  return { write };
}

/**
 * The projection row, on the caller's client. The API inserted the row at submit (revision 0, with the idempotency
 * key); a retried or reordered older write loses to a newer one.
 */
export async function writeProjection(client: pg.Pool | pg.PoolClient, p: RequestProjection): Promise<void> {
  await client.query(
    `INSERT INTO requests AS r (id, revision, requester, beneficiary, entitlement, resource, break_glass, status,
       review_state, risk_level, risk_score, justification, pending_approvers, involved, submitted_at,
       first_decision_at, approved_at, started_at, expires_at, ended_at, escalated, auto_approved, view, updated_at,
       tags)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
       $23::jsonb, now(), $24)
     ON CONFLICT (id) DO UPDATE SET
       revision = EXCLUDED.revision, requester = EXCLUDED.requester, beneficiary = EXCLUDED.beneficiary,
       entitlement = EXCLUDED.entitlement, resource = EXCLUDED.resource, break_glass = EXCLUDED.break_glass,
       status = EXCLUDED.status, review_state = EXCLUDED.review_state, risk_level = EXCLUDED.risk_level,
       risk_score = EXCLUDED.risk_score, justification = EXCLUDED.justification,
       pending_approvers = EXCLUDED.pending_approvers, involved = EXCLUDED.involved,
       submitted_at = EXCLUDED.submitted_at, first_decision_at = EXCLUDED.first_decision_at,
       approved_at = EXCLUDED.approved_at, started_at = EXCLUDED.started_at, expires_at = EXCLUDED.expires_at,
       ended_at = EXCLUDED.ended_at, escalated = EXCLUDED.escalated, auto_approved = EXCLUDED.auto_approved,
       view = EXCLUDED.view, updated_at = now(), tags = EXCLUDED.tags
     WHERE r.revision < EXCLUDED.revision`,
    [
      p.requestId,
      p.revision,
      p.requester,
      p.beneficiary,
      p.entitlement,
      p.resource,
      p.breakGlass,
      p.status,
      p.reviewState ?? null,
      p.risk?.level ?? null,
      p.risk?.score ?? null,
      storable(p.justification),
      p.pendingApprovers,
      p.involved,
      p.submittedAt,
      p.firstDecisionAt ?? null,
      p.approvedAt ?? null,
      p.startedAt ?? null,
      p.expiresAt ?? null,
      p.endedAt ?? null,
      p.escalated,
      p.autoApproved,
      storableJson(p.view ?? null),
      (p.tags ?? []).map(storable),
    ],
  );
}
