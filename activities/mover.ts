import type pg from 'pg';
import type { Config } from '../domain/config';
import { SYSTEM_ACTOR, type Status } from '../domain/model';
import type { DirectoryView } from '../directory/view';
import type { StageView } from '../workflows/messages';
import type { MoverArgs, MoverPlan, MoverState, Recertification, Reroute } from '../workflows/identity/messages';
import type { AuditLog } from './audit';
import type { Notification } from './types';

export interface MoverActivities {
  /** What the change of manager or department means for the mover's live grants and open approvals. */
  planMove(input: { identityId: string; version: number }): Promise<MoverPlan>;
  /** Audits the flags on each request's trail, tells the new manager, and closes the run's row. */
  recordMove(input: { moverId: string; args: MoverArgs; state: MoverState }): Promise<void>;
}

export interface MoverDeps {
  pool: pg.Pool;
  directory?: DirectoryView;
  config: Config;
  audit: AuditLog;
  notify: (n: Notification) => Promise<void>;
}

type Ref = { managerRef?: string; department?: string; active?: boolean } | null;
type Projected = {
  id: string;
  status: Status;
  entitlement: string;
  pending_approvers: string[];
  view: { stages?: StageView[] } | null;
};

export function createMoverActivities(deps: MoverDeps): MoverActivities {
  const { pool, audit } = deps;
  const current = () => (deps.directory ? deps.directory.current() : Promise.resolve(deps.config));

  return {
    async planMove({ identityId, version }) {
      const config = await current();
      const { rows } = await pool.query<{ source: string; before: Ref; after: Ref }>(
        'SELECT source, before, after FROM directory_changes WHERE version = $1',
        [version],
      );
      const change = rows[0];
      const resolve = async (ref: string | undefined) => {
        if (ref === undefined || !change) return undefined;
        const found = await pool.query<{ id: string }>(
          'SELECT id FROM directory_identities WHERE source = $1 AND source_ref = $2',
          [change.source, ref],
        );
        return found.rows[0]?.id;
      };
      const oldManager = await resolve(change?.before?.managerRef);
      const newManager = await resolve(change?.after?.managerRef);
      const oldDepartment = change?.before?.department;
      const newDepartment = change?.after?.department;
      const departmentMoved = oldDepartment !== newDepartment;
      const { rows: requests } = await pool.query<Projected>(
        `SELECT id, status, entitlement, pending_approvers, view FROM requests
          WHERE beneficiary = $1 AND status IN ('active', 'pending_approval') ORDER BY submitted_at, id`,
        [identityId],
      );
      const recertify: Recertification[] = [];
      const reroute: Reroute[] = [];
      for (const r of requests) {
        const stages = r.view?.stages ?? [];
        if (r.status === 'active') {
          const byOldManager =
            oldManager !== undefined &&
            oldManager !== newManager &&
            stages.some((st) => st.decisions.some((d) => d.approver === oldManager && d.decision === 'approve'));
          // The rule: a grant the old manager approved, or any live grant after a change of department (risk and
          // routing were decided on the old department), is to be vouched for again by the new manager.
          if (byOldManager || departmentMoved) {
            recertify.push({
              requestId: r.id,
              entitlement: r.entitlement,
              why: byOldManager
                ? `approved by ${oldManager}, no longer ${identityId}'s manager`
                : `approved while ${identityId} was in ${oldDepartment ?? 'no department'}`,
            });
          }
        } else if (oldManager !== undefined && oldManager !== newManager && r.pending_approvers.includes(oldManager)) {
          const open = stages.find((st) => st.status === 'open' && st.approvers.includes(oldManager));
          reroute.push({ requestId: r.id, ...(open && { stage: open.name }), pendingApprovers: r.pending_approvers });
        }
      }
      const security = config.directory.users
        .filter((u) => u.active && u.kind === 'human' && u.groups.includes(config.policy.roles.security))
        .map((u) => u.id);
      const manager = newManager === undefined ? undefined : config.users.get(newManager);
      return {
        active: config.users.get(identityId)?.active ?? false,
        ...(oldManager !== undefined && { oldManager }),
        ...(newManager !== undefined && { newManager }),
        ...(oldDepartment !== undefined && { oldDepartment }),
        ...(newDepartment !== undefined && { newDepartment }),
        recertify,
        reroute,
        reviewers: manager?.active ? [manager.id] : security,
      };
    },

    async recordMove({ moverId, args, state }) {
      const at = new Date().toISOString();
      const base = { mover: moverId, identity: state.identityId, version: state.version };
      await audit.append([
        {
          eventId: `${moverId}:moved`,
          actor: SYSTEM_ACTOR,
          action: 'mover.planned',
          at,
          data: {
            ...base,
            oldManager: state.oldManager ?? null,
            newManager: state.newManager ?? null,
            oldDepartment: state.oldDepartment ?? null,
            newDepartment: state.newDepartment ?? null,
            recertify: state.recertify.map((r) => r.requestId),
            reroute: state.reroute.map((r) => r.requestId),
          },
        },
        ...state.recertify.map((r) => ({
          eventId: `${moverId}:recertify:${r.requestId}`,
          requestId: r.requestId,
          actor: SYSTEM_ACTOR,
          action: 'mover.recertification_needed',
          at,
          data: { ...base, why: r.why, reviewers: state.reviewers },
        })),
        ...state.reroute.map((r) => ({
          eventId: `${moverId}:reroute:${r.requestId}`,
          requestId: r.requestId,
          actor: SYSTEM_ACTOR,
          action: 'mover.reroute_needed',
          at,
          data: { ...base, ...(r.stage && { stage: r.stage }), pendingApprovers: r.pendingApprovers },
        })),
      ]);
      const lines = [
        ...state.recertify.map((r) => `Re-certify ${r.entitlement} (request ${r.requestId}): ${r.why}.`),
        ...state.reroute.map((r) => `Request ${r.requestId} still waits on ${state.oldManager ?? 'the old manager'}.`),
      ];
      if (lines.length > 0 && state.reviewers.length > 0) {
        await deps.notify({
          key: `${moverId}:notify`,
          requestId: moverId,
          to: state.reviewers,
          subject: `${state.identityId} moved: ${lines.length} ${lines.length === 1 ? 'grant or approval' : 'grants and approvals'} to look at`,
          text: lines.join('\n'),
        });
      }
      await pool.query(
        `INSERT INTO lifecycle_runs (workflow_id, kind, identity_id, directory_version, source, change, status, summary,
           finished_at)
         VALUES ($1, 'mover', $2, $3, $4, 'updated', 'completed', $5::jsonb, now())
         ON CONFLICT (workflow_id) DO UPDATE SET status = 'completed', summary = EXCLUDED.summary,
           finished_at = coalesce(lifecycle_runs.finished_at, now())`,
        [moverId, args.identityId, args.version, args.source, JSON.stringify(state)],
      );
    },
  };
}
