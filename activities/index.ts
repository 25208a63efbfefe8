import type pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../domain/config';
import type { DirectoryView } from '../directory/view';
import { FINAL_STATUSES, type Evaluation, type GrantSpec, type Status } from '../domain/model';
import { evaluate, personOf, sodCircle } from '../domain/policy';
import type { Logger } from '../platform/logger';
import { createAuditLog } from './audit';
import { createBookkeeper, writeProjection } from './bookkeeping';
import { auditSettingsFromEnv, checkpointerFor, type AuditSettings } from './audit-settings';
import { createCampaignActivities, type CampaignActivities } from './campaign';
import { connectorFor } from './connectors';
import { createNotifier } from './notify';
import { withConnectorLease } from './lease';
import { withWorkingTime } from './calendar';
import { inTransaction, lockName } from './transaction';
import { hasHeldResource, loadHoldings } from './holdings';
import { releaseSeat, seatsFull, takeSeat } from './seats';
import type { Activities, EvaluateInput } from './types';

export type { Activities } from './types';

export interface ActivityDeps {
  pool: pg.Pool;
  config: Config;
  /** The directory as PostgreSQL holds it now; without it, `config` (the files) answers, as in unit-style tests. */
  directory?: DirectoryView;
  log: Logger;
  /**
   * Settings read by name: the variables the catalog names (`connectionEnv`, `secretEnv`) and
   * GRANTFLOW_NOTIFY_WEBHOOK_URL. Laid over process.env, so a parsed environment that drops unknown keys still lets
   * connectors find theirs.
   */
  env?: Readonly<Record<string, unknown>>;
  /** A Slack-compatible incoming webhook; default `env.GRANTFLOW_NOTIFY_WEBHOOK_URL`, unset: the log only. */
  notifyWebhookUrl?: string;
  /** How long one connector or chat call may take (default 10 s); activity timeouts must allow for it. */
  callTimeoutMs?: number;
  /** The audit chain's keys and checkpoint sink; default read from `env` (GRANTFLOW_AUDIT_*). */
  auditSettings?: AuditSettings;
}

export function createActivities(deps: ActivityDeps): Activities & CampaignActivities {
  const { pool, config, log } = deps;
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [name, value] of Object.entries(deps.env ?? {})) if (typeof value === 'string') env[name] = value;
  const timeoutMs = deps.callTimeoutMs ?? 10_000;
  const auditSettings = deps.auditSettings ?? auditSettingsFromEnv(env);
  const audit = createAuditLog(pool, {
    keyring: auditSettings.keyring,
    checkpoints: checkpointerFor(auditSettings, pool, log),
  });
  const notifier = createNotifier({
    pool,
    log,
    timeoutMs,
    webhookUrl: deps.notifyWebhookUrl ?? (env.GRANTFLOW_NOTIFY_WEBHOOK_URL || undefined),
  });
  const bookkeeper = createBookkeeper({ pool, keyring: auditSettings.keyring, notifier, log });
  const connector = (grant: GrantSpec) => connectorFor(grant.connector, { env, log, timeoutMs });

  const bookkeepingActivities: Omit<Activities, 'notify' | 'provision' | 'deprovision'> = {
    async evaluateRequest(input: EvaluateInput): Promise<Evaluation> {
      const beneficiary = input.input.beneficiary ?? input.requester;
      const resource = input.input.entitlement.split(':')[0] ?? '';
      // One evaluation per beneficiary at a time: what it reads as held (for duplicates and separation of duties)
      // is then exactly what earlier evaluations claimed.
      // Read at each evaluation, so a leaver or mover is seen by the next request without a restart.
      const current = deps.directory ? await deps.directory.current() : config;
      return inTransaction(pool, async (client) => {
        // Locked per person (a service account's owner), so that separation of duties across a person and the
        // service accounts they own sees every earlier claim of the circle.
        const circle = sodCircle(config, beneficiary);
        await lockName(client, `grantflow:person:${personOf(config, beneficiary)}`);
        const holdings = await loadHoldings(client, circle, input.requestId);
        const heldResourceBefore = await hasHeldResource(client, beneficiary, resource, input.requestId);
        const evaluation = withWorkingTime(
          evaluate({ ...input, holdings, heldResourceBefore }, current),
          current,
          input.now,
        );
        // Break-glass access may overlap a regular grant, so it claims nothing.
        if (!evaluation.valid || evaluation.plan.kind === 'break-glass') return evaluation;

        const holder = await claim(client, beneficiary, evaluation.grant.entitlement, input.requestId);
        const seats = evaluation.grant.seats;
        if (holder === input.requestId && seats?.whenFull === 'refuse') {
          // Refused at once rather than after the approvers' work; the workflow asks again at approval.
          const full = await seatsFull(client, {
            requestId: input.requestId,
            beneficiary,
            entitlement: evaluation.grant.entitlement,
            breakGlass: input.input.breakGlass,
            since: input.now,
            limit: seats.limit,
          });
          if (full) {
            await client.query('DELETE FROM open_claims WHERE request_id = $1', [input.requestId]);
            return {
              valid: false,
              reasons: [{ code: 'seats_full', message: full.message, field: 'entitlement' }],
              risk: evaluation.risk,
              policyVersion: evaluation.policyVersion,
              ...(evaluation.tags && { tags: evaluation.tags }),
            };
          }
        }
        if (holder === input.requestId) return evaluation;
        return {
          valid: false,
          reasons: [
            {
              code: 'already_requested',
              message: `${beneficiary} already has ${evaluation.grant.entitlement} pending or live in request ${holder}; extend that request instead.`,
              field: 'entitlement',
            },
          ],
          risk: evaluation.risk,
          existingRequestId: holder,
          policyVersion: evaluation.policyVersion,
          ...(evaluation.tags && { tags: evaluation.tags }),
        };
      });
    },

    async releaseClaim({ requestId, beneficiary, entitlement }) {
      await inTransaction(pool, async (client) => {
        await client.query('DELETE FROM open_claims WHERE beneficiary = $1 AND entitlement = $2 AND request_id = $3', [
          beneficiary,
          entitlement,
          requestId,
        ]);
        // The seat (or the place in line) goes with the claim: the next in line takes it when it asks again.
        await releaseSeat(client, requestId);
      });
    },

    async takeSeat(input) {
      return takeSeat(pool, input);
    },

    async recordAudit(event) {
      await audit.append([event]);
    },

    async bookkeep(step) {
      await bookkeeper.write(step);
    },

    async grantAccess({ requestId, grant, plannedAt }) {
      // No transaction across the target's call: the lease keeps a revoke of the same access from overlapping it.
      return withConnectorLease(pool, grant, requestId, 'grant', async () => {
        const existing = await grantRow(pool, requestId);
        if (existing?.ended_at) throw grantEnded(requestId);
        // The same body on every attempt: a gateway refuses an idempotency key reused with another body.
        const planned = plannedAt ? new Date(plannedAt) : new Date();
        await connector(grant).grant({
          requestId,
          grant,
          startedAt: planned.toISOString(),
          expiresAt: new Date(planned.getTime() + grant.durationMs).toISOString(),
        });
        // The grant counts from the target's success (after any retries), and a retry keeps the first success.
        const startedAt = new Date();
        const { rows } = await pool.query<{ started_at: Date; expires_at: Date }>(
          `INSERT INTO grants (request_id, beneficiary, entitlement, connector, started_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (request_id) DO UPDATE SET request_id = EXCLUDED.request_id
           RETURNING started_at, expires_at`,
          [
            requestId,
            grant.beneficiary,
            grant.entitlement,
            grant.connector.type,
            startedAt,
            new Date(startedAt.getTime() + grant.durationMs),
          ],
        );
        const row = rows[0] as { started_at: Date; expires_at: Date };
        return { startedAt: row.started_at.toISOString(), expiresAt: row.expires_at.toISOString() };
      });
    },

    async evaluateExtension(input: EvaluateInput): Promise<Evaluation> {
      const beneficiary = input.input.beneficiary ?? input.requester;
      const resource = input.input.entitlement.split(':')[0] ?? '';
      const circle = sodCircle(config, beneficiary);
      const holdings = await loadHoldings(pool, circle, input.requestId);
      const heldResourceBefore = await hasHeldResource(pool, beneficiary, resource, input.requestId);
      return withWorkingTime(evaluate({ ...input, holdings, heldResourceBefore }, config), config, input.now);
    },

    async project(p) {
      await writeProjection(pool, p);
    },
  };

  return {
    ...bookkeepingActivities,
    ...createCampaignActivities({ ...deps, keyring: auditSettings.keyring, notifier }),
    async notify(notification) {
      await notifier.notify(notification);
    },

    async provision(input) {
      // The first workflow's grant (its runs still finish on it): the row first, so a failed target call is retried
      // with the row in place and a revoke meanwhile finds it; no transaction across the call (see grantAccess).
      const { requestId, grant } = input;
      await withConnectorLease(pool, grant, requestId, 'grant', async () => {
        await pool.query(
          `INSERT INTO grants (request_id, beneficiary, entitlement, connector, started_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING`,
          [requestId, grant.beneficiary, grant.entitlement, grant.connector.type, input.startedAt, input.expiresAt],
        );
        if ((await grantRow(pool, requestId))?.ended_at) throw grantEnded(requestId);
        try {
          await connector(grant).grant(input);
        } catch (err) {
          // If the target refuses, no grant row claims access that does not exist (a retry writes it again).
          await pool.query('DELETE FROM grants WHERE request_id = $1 AND ended_at IS NULL', [requestId]);
          throw err;
        }
      });
    },

    async deprovision({ requestId, grant, endedAt }) {
      return withConnectorLease(pool, grant, requestId, 'revoke', async () => {
        const live = await inTransaction(pool, async (client) => {
          await lockName(client, grantLock(grant));
          // Upsert, so a grant whose provisioning was cut short still ends here and a late provision finds it ended.
          await client.query(
            `INSERT INTO grants (request_id, beneficiary, entitlement, connector, started_at, expires_at, ended_at)
             VALUES ($1, $2, $3, $4, $5, $5, $5)
             ON CONFLICT (request_id) DO UPDATE SET ended_at = EXCLUDED.ended_at WHERE grants.ended_at IS NULL`,
            [requestId, grant.beneficiary, grant.entitlement, grant.connector.type, endedAt],
          );
          const { rows } = await client.query<{ live: number }>(
            'SELECT count(*)::int AS live FROM grants WHERE beneficiary = $1 AND entitlement = $2 AND ended_at IS NULL',
            [grant.beneficiary, grant.entitlement],
          );
          return rows[0]?.live ?? 0;
        });
        if (live > 0) {
          log.info({ requestId, entitlement: grant.entitlement, live }, 'grant ended; other grants keep the access');
          return { revokedAtTarget: false };
        }
        // Revoked even when this request never recorded a grant: the target may hold one its commit lost. A retry
        // after a crash here finds the row ended and no other live grant, and revokes again (the targets are
        // idempotent).
        await connector(grant).revoke({ requestId, grant });
        return { revokedAtTarget: true };
      });
    },
  };
}

async function grantRow(pool: pg.Pool, requestId: string) {
  const { rows } = await pool.query<{ ended_at: Date | null }>('SELECT ended_at FROM grants WHERE request_id = $1', [
    requestId,
  ]);
  return rows[0];
}

function grantEnded(requestId: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `The grant of request ${requestId} already ended; it cannot be provisioned again.`,
    'GrantEnded',
  );
}

function grantLock(grant: GrantSpec): string {
  return `grantflow:grant:${grant.beneficiary}:${grant.entitlement}`;
}

/**
 * Claims the entitlement for the request and returns the request that holds it. A claim left behind by a request
 * that has ended (its workflow was terminated before releasing it) passes to the new request.
 */
async function claim(client: pg.PoolClient, beneficiary: string, entitlement: string, requestId: string) {
  await client.query(
    'INSERT INTO open_claims (beneficiary, entitlement, request_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [beneficiary, entitlement, requestId],
  );
  const { rows } = await client.query<{ request_id: string; status: Status | null }>(
    `SELECT c.request_id, r.status FROM open_claims c LEFT JOIN requests r ON r.id = c.request_id
      WHERE c.beneficiary = $1 AND c.entitlement = $2
        FOR UPDATE OF c`,
    [beneficiary, entitlement],
  );
  const holder = rows[0];
  if (!holder) throw new Error(`The claim on ${entitlement} for ${beneficiary} vanished while it was taken.`);
  if (holder.request_id === requestId || !holder.status || !FINAL_STATUSES.includes(holder.status)) {
    return holder.request_id;
  }
  await client.query('UPDATE open_claims SET request_id = $3 WHERE beneficiary = $1 AND entitlement = $2', [
    beneficiary,
    entitlement,
    requestId,
  ]);
  return requestId;
}
