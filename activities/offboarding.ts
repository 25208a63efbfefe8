import type pg from 'pg';
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Config } from '../domain/config';
import { FINAL_STATUSES, OPEN_STATUSES, SYSTEM_ACTOR, type Status } from '../domain/model';
import type { DirectoryView } from '../directory/view';
import { revokeUpdate, workflowIdFor, type StageView } from '../workflows/messages';
import type {
  EndResult,
  EndRole,
  OffboardingArgs,
  OffboardingPlan,
  OffboardingState,
  Settled,
} from '../workflows/identity/messages';
import type { AuditLog } from './audit';
import type { Notification } from './types';

export interface OffboardingActivities {
  /** What the leaver has running now: the requests to end, the approvals waiting on them, their service accounts. */
  planOffboarding(input: { identityId: string }): Promise<OffboardingPlan>;
  /** Sends one request the `revoke` update as `system`; idempotent by update id, audited once. */
  endRequest(input: {
    offboardingId: string;
    identityId: string;
    requestId: string;
    role: EndRole;
    reason: string;
  }): Promise<EndResult>;
  /** Where each request got to, from its projection. */
  settledRequests(input: { requestIds: string[] }): Promise<Record<string, { status: Status; settled: Settled }>>;
  /** The offboarding's own row, audit events and the word to security, for one step. */
  recordOffboarding(input: {
    offboardingId: string;
    event: 'started' | 'planned' | 'completed' | 'stopped';
    state: OffboardingState;
    args: OffboardingArgs;
  }): Promise<void>;
}

export interface OffboardingDeps {
  pool: pg.Pool;
  /** The live directory; without it, the files' config answers (tests of the workflow alone). */
  directory?: DirectoryView;
  config: Config;
  client: Client;
  audit: AuditLog;
  notify: (n: Notification) => Promise<void>;
}

const UPDATE_TIMEOUT_MS = 20_000;

export function createOffboardingActivities(deps: OffboardingDeps): OffboardingActivities {
  const { pool, client, audit } = deps;
  const current = () => (deps.directory ? deps.directory.current() : Promise.resolve(deps.config));
  const gone = async (identityId: string) => {
    const person = (await current()).users.get(identityId);
    return !person?.active;
  };
  const projected = async (requestIds: string[]) => {
    const { rows } = await pool.query<{ id: string; status: Status; failed_action: string | null }>(
      `SELECT id, status, view->>'failedAction' AS failed_action FROM requests WHERE id = ANY($1::text[])`,
      [requestIds],
    );
    return new Map(rows.map((r) => [r.id, r]));
  };

  return {
    async planOffboarding({ identityId }) {
      const config = await current();
      const person = config.users.get(identityId);
      // A service account has one owner: the leaver's accounts have no other valid owner until the source names one.
      const serviceAccounts = config.directory.users
        .filter((u) => u.kind === 'service' && u.owner === identityId)
        .map((u) => u.id);
      const security = config.directory.users
        .filter((u) => u.active && u.kind === 'human' && u.groups.includes(config.policy.roles.security))
        .map((u) => u.id)
        .filter((u) => u !== identityId);
      const { rows } = await pool.query<{
        id: string;
        status: Status;
        requester: string;
        beneficiary: string;
        pending_approvers: string[];
        view: { stages?: StageView[]; extension?: { stages?: StageView[] }; review?: StageView } | null;
      }>(
        `SELECT id, status, requester, beneficiary, pending_approvers, view FROM requests
          WHERE status = ANY($1::text[])
            AND (requester = $2 OR beneficiary = $2 OR beneficiary = ANY($3::text[]) OR $2 = ANY(pending_approvers))
          ORDER BY submitted_at, id`,
        [OPEN_STATUSES, identityId, serviceAccounts],
      );
      const plan: OffboardingPlan = { gone: !person?.active, serviceAccounts, end: [], reroute: [], security };
      for (const r of rows) {
        const role: EndRole | undefined =
          r.beneficiary === identityId
            ? 'beneficiary'
            : serviceAccounts.includes(r.beneficiary)
              ? 'service-account'
              : r.requester === identityId
                ? 'requester'
                : undefined;
        if (role) {
          plan.end.push({
            requestId: r.id,
            status: r.status,
            role,
            ...(role === 'service-account' && { serviceAccount: r.beneficiary }),
          });
          continue;
        }
        const stages = [...(r.view?.stages ?? []), ...(r.view?.extension?.stages ?? []), r.view?.review];
        const open = stages.find((st) => st?.status === 'open' && st.approvers.includes(identityId));
        plan.reroute.push({
          requestId: r.id,
          ...(open && { stage: open.name }),
          pendingApprovers: r.pending_approvers,
        });
      }
      return plan;
    },

    async endRequest({ offboardingId, identityId, requestId, role, reason }) {
      // A reactivation stops the offboarding before its next step, not after it.
      if (!(await gone(identityId))) return { requestId, outcome: 'stopped' };
      const result = await sendRevoke(requestId, reason, `${offboardingId}:${requestId}`);
      await audit.append([
        {
          eventId: `${offboardingId}:end:${requestId}`,
          requestId,
          actor: SYSTEM_ACTOR,
          action: 'offboarding.request_ended',
          at: new Date().toISOString(),
          data: {
            offboarding: offboardingId,
            identity: identityId,
            role,
            outcome: result.outcome,
            ...(result.status && { status: result.status }),
            ...(result.detail && { detail: result.detail }),
          },
        },
      ]);
      return result;
    },

    async settledRequests({ requestIds }) {
      const rows = await projected(requestIds);
      const answer: Record<string, { status: Status; settled: Settled }> = {};
      for (const [id, r] of rows) answer[id] = { status: r.status, settled: settledOf(r.status, r.failed_action) };
      return answer;
    },

    async recordOffboarding({ offboardingId, event, state, args }) {
      const at = new Date().toISOString();
      const base = { offboarding: offboardingId, identity: state.identityId, version: state.version };
      if (event === 'started') {
        await pool.query(
          `INSERT INTO lifecycle_runs (workflow_id, kind, identity_id, directory_version, source, change)
           VALUES ($1, 'leaver', $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
          [offboardingId, args.identityId, args.version, args.source, args.change],
        );
        await audit.append([
          {
            eventId: `${offboardingId}:started`,
            actor: SYSTEM_ACTOR,
            action: 'offboarding.started',
            at,
            data: { ...base, source: args.source, change: args.change },
          },
        ]);
        return;
      }
      if (event === 'planned') {
        await audit.append([
          {
            eventId: `${offboardingId}:planned:${state.sweeps}`,
            actor: SYSTEM_ACTOR,
            action: 'offboarding.planned',
            at,
            data: {
              ...base,
              sweep: state.sweeps,
              requests: state.requests.map((r) => ({ requestId: r.requestId, role: r.role })),
              serviceAccounts: state.serviceAccounts,
            },
          },
          // On the request's own trail too: its approver left, and someone must take the stage over.
          ...state.reroute.map((r) => ({
            eventId: `${offboardingId}:reroute:${r.requestId}`,
            requestId: r.requestId,
            actor: SYSTEM_ACTOR,
            action: 'offboarding.reroute_needed',
            at,
            data: { ...base, ...(r.stage && { stage: r.stage }), pendingApprovers: r.pendingApprovers },
          })),
        ]);
        const lines = [
          ...state.serviceAccounts.map(
            (sa) => `Service account ${sa} has no owner now; its access is being revoked. Assign a new owner.`,
          ),
          ...state.reroute.map(
            (r) => `Request ${r.requestId} waits on ${state.identityId}${r.stage ? ` (stage ${r.stage})` : ''}.`,
          ),
        ];
        if (lines.length > 0 && state.security.length > 0) {
          await deps.notify({
            key: `${offboardingId}:planned:${state.sweeps}`,
            requestId: offboardingId,
            to: state.security,
            subject: `${state.identityId} left: ${lines.length} ${lines.length === 1 ? 'item needs' : 'items need'} security`,
            text: lines.join('\n'),
          });
        }
        return;
      }
      const summary = {
        requests: state.requests,
        reroute: state.reroute,
        serviceAccounts: state.serviceAccounts,
        ...(state.stoppedBecause && { stoppedBecause: state.stoppedBecause }),
      };
      await pool.query(
        `UPDATE lifecycle_runs SET status = $2, summary = $3::jsonb, finished_at = coalesce(finished_at, now())
          WHERE workflow_id = $1`,
        [offboardingId, event, JSON.stringify(summary)],
      );
      const count = (settled: Settled | undefined) => state.requests.filter((r) => r.settled === settled).length;
      const trouble = state.requests.filter((r) => r.settled !== 'ended');
      await audit.append([
        {
          eventId: `${offboardingId}:${event}`,
          actor: SYSTEM_ACTOR,
          action: `offboarding.${event}`,
          at,
          data: {
            ...base,
            ended: count('ended'),
            revocationFailed: count('revocation_failed'),
            unsettled: trouble.map((r) => r.requestId),
            reroute: state.reroute.map((r) => r.requestId),
            serviceAccounts: state.serviceAccounts,
            ...(state.stoppedBecause && { stoppedBecause: state.stoppedBecause }),
          },
        },
      ]);
      if ((trouble.length > 0 || event === 'stopped') && state.security.length > 0) {
        const ended = state.requests.filter((r) => r.settled === 'ended').map((r) => r.requestId);
        await deps.notify({
          key: `${offboardingId}:${event}`,
          requestId: offboardingId,
          to: state.security,
          subject: `Offboarding of ${state.identityId} ${event === 'stopped' ? 'stopped' : 'needs a person'}`,
          text: [
            ...(state.stoppedBecause
              ? [`Stopped: ${state.stoppedBecause}. Already ended: ${ended.join(', ') || 'none'}.`]
              : []),
            ...trouble.map((r) => `Request ${r.requestId}: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}.`),
          ].join('\n'),
        });
      }
    },
  };

  async function sendRevoke(requestId: string, reason: string, updateId: string): Promise<EndResult> {
    const handle = client.workflow.getHandle(workflowIdFor(requestId));
    try {
      const r = await client.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
        handle.executeUpdate(revokeUpdate, { args: [{ by: SYSTEM_ACTOR, reason }], updateId }),
      );
      return { requestId, outcome: 'ending', status: r.status };
    } catch (err) {
      const refusal =
        err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure ? err.cause : undefined;
      if (!refusal && !(err instanceof WorkflowNotFoundError)) throw err; // Temporal unreachable: retried
      const row = (await projected([requestId])).get(requestId);
      const status = row?.status;
      if (status && FINAL_STATUSES.includes(status)) return { requestId, outcome: 'already_ended', status };
      // Ending already by another hand (a revoke under way): the offboarding waits for it like for its own.
      if (refusal?.type === 'InvalidState') return { requestId, outcome: 'ending', ...(status && { status }) };
      return {
        requestId,
        outcome: 'refused',
        ...(status && { status }),
        detail: refusal ? `${refusal.type}: ${refusal.message}` : 'the request has no running workflow',
      };
    }
  }
}

function settledOf(status: Status, failedAction: string | null): Settled {
  if (FINAL_STATUSES.includes(status)) return 'ended';
  if (status === 'failed' && failedAction === 'revocation') return 'revocation_failed';
  return 'unsettled';
}
