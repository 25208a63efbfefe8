import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import { groupMembers } from '../domain/approvers';
import type { Config } from '../domain/config';
import type { GrantSpec } from '../domain/model';
import type { Logger } from '../platform/logger';
import { workflowIdFor } from '../workflows/messages';
import { connectorFor } from './connectors';
import type { Activities } from './types';

/** What a reconciliation found and did. */
export interface ReconcileReport {
  /** Live grants past their end whose workflow no longer runs (terminated, timed out): ended and revoked now. */
  orphaned: { requestId: string; entitlement: string; beneficiary: string; revokedAtTarget: boolean }[];
  /** Live grants past their end whose workflow still runs: it is retrying, or shows `failed` and has alerted. */
  owned: string[];
  /** Grants ended in the window whose access the target still shows (Connector.check): drift, alerted. */
  drift: { requestId: string; entitlement: string; beneficiary: string }[];
  /** Grants whose target could not be asked (a connector that cannot check, or an error). */
  unchecked: number;
}

export interface ReconcileDeps {
  pool: pg.Pool;
  config: Config;
  log: Logger;
  env: Readonly<Record<string, string | undefined>>;
  activities: Pick<Activities, 'deprovision' | 'recordAudit' | 'notify'>;
  /** Whether the request's workflow still runs (Temporal's describe). */
  isRunning(requestId: string): Promise<boolean>;
}

/**
 * Nothing else ends a grant whose workflow stopped without ending it (an operator terminated it, a deploy lost it):
 * this finds live grants well past their end and ends them through the same `deprovision` the workflow uses, and
 * asks each target (Connector.check) whether access ended lately is really gone. Each finding is audited as
 * `system`, and drift alerts security.
 */
export async function reconcile(
  deps: ReconcileDeps,
  opts: { graceMs: number; driftWindowMs: number; now?: Date },
): Promise<ReconcileReport> {
  const { pool, config, log } = deps;
  const now = opts.now ?? new Date();
  const report: ReconcileReport = { orphaned: [], owned: [], drift: [], unchecked: 0 };
  const { rows: overdue } = await pool.query<{ request_id: string; beneficiary: string; entitlement: string }>(
    'SELECT request_id, beneficiary, entitlement FROM grants WHERE ended_at IS NULL AND expires_at < $1 ORDER BY expires_at',
    [new Date(now.getTime() - opts.graceMs)],
  );
  for (const row of overdue) {
    if (await deps.isRunning(row.request_id)) {
      report.owned.push(row.request_id);
      continue;
    }
    const grant = grantOf(config, row.beneficiary, row.entitlement);
    if (!grant) {
      log.warn({ ...row }, 'a live grant names an entitlement the catalog no longer has; left for an operator');
      continue;
    }
    const { revokedAtTarget } = await deps.activities.deprovision({
      requestId: row.request_id,
      grant,
      endedAt: now.toISOString(),
    });
    await deps.activities.recordAudit({
      eventId: `${row.request_id}:reconciled`,
      requestId: row.request_id,
      actor: 'system',
      action: 'reconciled',
      at: now.toISOString(),
      data: { reason: 'the grant outlived its workflow', revokedAtTarget },
    });
    report.orphaned.push({
      requestId: row.request_id,
      entitlement: row.entitlement,
      beneficiary: row.beneficiary,
      revokedAtTarget,
    });
  }

  const { rows: ended } = await pool.query<{ request_id: string; beneficiary: string; entitlement: string }>(
    `SELECT g.request_id, g.beneficiary, g.entitlement FROM grants g
      WHERE g.ended_at > $1
        AND NOT EXISTS (SELECT 1 FROM grants o WHERE o.beneficiary = g.beneficiary AND o.entitlement = g.entitlement
                        AND o.ended_at IS NULL)`,
    [new Date(now.getTime() - opts.driftWindowMs)],
  );
  const seen = new Set<string>();
  for (const row of ended) {
    const key = `${row.beneficiary}\u0000${row.entitlement}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const grant = grantOf(config, row.beneficiary, row.entitlement);
    if (!grant || grant.connector.type === 'manual') {
      report.unchecked++;
      continue;
    }
    let holds: boolean;
    try {
      holds = await connectorFor(grant.connector, { env: deps.env, log }).check({ requestId: row.request_id, grant });
    } catch (err) {
      log.warn({ ...row, err: String(err) }, 'could not ask the target whether access ended');
      report.unchecked++;
      continue;
    }
    if (!holds) continue;
    report.drift.push({ requestId: row.request_id, entitlement: row.entitlement, beneficiary: row.beneficiary });
    await deps.activities.recordAudit({
      eventId: `${row.request_id}:drift:${now.toISOString().slice(0, 13)}`,
      requestId: row.request_id,
      actor: 'system',
      action: 'drift_detected',
      at: now.toISOString(),
      data: { entitlement: row.entitlement, beneficiary: row.beneficiary },
    });
    await deps.activities.notify({
      key: `${row.request_id}:drift:${now.toISOString().slice(0, 10)}`,
      requestId: row.request_id,
      to: grant.operators,
      subject: 'ALERT: access still present after its grant ended',
      text: `${row.beneficiary} still holds ${row.entitlement} at the target, though request ${row.request_id} ended.`,
    });
  }
  return report;
}

/** The grant as the catalog describes it today, for a beneficiary and entitlement. */
function grantOf(config: Config, beneficiary: string, entitlementId: string): GrantSpec | undefined {
  const entitlement = config.entitlements.get(entitlementId);
  if (!entitlement) return undefined;
  const { roles } = config.policy;
  const operators = [roles.security, ...roles.admins].flatMap((group) => groupMembers(config, group));
  return {
    entitlement: entitlement.id,
    resource: entitlement.resource.id,
    target: entitlement.target,
    beneficiary,
    durationMs: 0,
    maxDurationMs: 0,
    connector: entitlement.resource.connector,
    fulfillers: [],
    revokers: [],
    operators: [...new Set(operators)],
  };
}

/** Whether a request's workflow still runs, asked of Temporal. */
export function runningIn(client: Client): (requestId: string) => Promise<boolean> {
  return async (requestId) => {
    try {
      const described = await client.workflow.getHandle(workflowIdFor(requestId)).describe();
      return described.status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  };
}

/** Runs the reconciliation every `everyMs` (0: never) in the worker; returns a function that stops it. */
export function reconcileEvery(
  everyMs: number,
  opts: { deps: ReconcileDeps; graceMs: number; log: Logger },
): () => void {
  if (everyMs <= 0) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reconcile(opts.deps, { graceMs: opts.graceMs, driftWindowMs: 7 * 86_400_000 })
      .then((report) => {
        if (report.orphaned.length || report.drift.length) opts.log.warn({ ...report }, 'reconciliation found work');
      })
      .catch((err: unknown) => opts.log.error({ err: String(err) }, 'reconciliation failed; trying again later'))
      .finally(() => (running = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
