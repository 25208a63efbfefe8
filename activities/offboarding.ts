import type pg from 'pg';
import { Context } from '@temporalio/activity';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { activeManager, isEligible } from '../domain/approvers';
import type { CampaignDefinition } from '../domain/campaign';
import type { Config } from '../domain/config';
import { FINAL_STATUSES, OPEN_STATUSES, SYSTEM_ACTOR, type Status } from '../domain/model';
import type { DirectoryView } from '../directory/view';
import { endDelegationsTo } from '../directory/delegations';
import { rerouteUpdate, revokeUpdate, workflowIdFor, type StageView } from '../workflows/messages';
import { campaignWorkflowId, type CampaignArgs } from '../workflows/campaign/messages';
import type {
  EndResult,
  EndRole,
  Handover,
  HandoverAnswer,
  OffboardingArgs,
  OffboardingPlan,
  OffboardingState,
  RerouteAnswer,
  Settled,
  SettledAnswer,
} from '../workflows/identity/messages';
import { campaignKey, campaignStatusKey } from '../workflows/search-attributes';
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
  /**
   * Sends one request the `reroute` update as `system` (idempotent by update id): the stages that wait on the leaver
   * go to their fallback. A run that predates it answers `unsupported`, and the plan's `reroute_needed` stands.
   */
  rerouteRequest(input: {
    offboardingId: string;
    identityId: string;
    requestId: string;
    reason: string;
  }): Promise<RerouteAnswer>;
  /** Where each request got to, from its projection; and whether the leaver is still gone. */
  settledRequests(input: { identityId: string; requestIds: string[] }): Promise<SettledAnswer>;
  /**
   * Hands each service account to the successor (idempotent per account and offboarding) and opens a one-off access
   * review of its live grants; answers `stopped` without a change when the leaver is active again.
   */
  handOverServiceAccounts(input: {
    offboardingId: string;
    identityId: string;
    version: number;
    accounts: string[];
    successor: string;
  }): Promise<HandoverAnswer>;
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
/** The handed-over account's review: two weeks, a reminder after one, security added after ten days. */
const OWNERSHIP_REVIEW = { duration: 'P14D', reminder: 'P7D', escalateAfter: 'P10D' } as const;

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
      // Nobody's approvals go to a leaver: the delegations people set to them end now (audited, once).
      if (!person?.active) await endDelegationsTo(pool, identityId);
      // The accounts go to the leaver's manager (first active one up the chain), else to a member of security.
      const successor = serviceAccounts.length > 0 ? (activeManager(config, person) ?? security[0]) : undefined;
      const plan: OffboardingPlan = {
        gone: !person?.active,
        serviceAccounts,
        ...(successor !== undefined && { successor }),
        end: [],
        reroute: [],
        security,
      };
      for (const r of rows) {
        // An account that is handed over keeps its live grants (its review decides) and the requests others made
        // for it; only what the leaver asked for and is not yet granted is cancelled.
        if (successor !== undefined && serviceAccounts.includes(r.beneficiary)) {
          if (r.requester === identityId && r.status !== 'active') {
            plan.end.push({ requestId: r.id, status: r.status, role: 'requester', serviceAccount: r.beneficiary });
          }
          continue;
        }
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

    async rerouteRequest({ offboardingId, identityId, requestId, reason }) {
      const answer = await sendReroute(requestId, identityId, reason, `${offboardingId}:reroute:${requestId}`);
      if (answer.outcome === 'rerouted') {
        await audit.append([
          {
            eventId: `${offboardingId}:rerouted:${requestId}`,
            requestId,
            actor: SYSTEM_ACTOR,
            action: 'offboarding.rerouted',
            at: new Date().toISOString(),
            data: { offboarding: offboardingId, identity: identityId, to: answer.to ?? [] },
          },
        ]);
      }
      return answer;
    },

    async settledRequests({ identityId, requestIds }) {
      const rows = await projected(requestIds);
      const requests: Record<string, { status: Status; settled: Settled }> = {};
      for (const [id, r] of rows) requests[id] = { status: r.status, settled: settledOf(r.status, r.failed_action) };
      return { gone: await gone(identityId), requests };
    },

    async handOverServiceAccounts({ offboardingId, identityId, version, accounts, successor }) {
      if (!(await gone(identityId))) return { stopped: true, handovers: [] };
      const config = await current();
      // The planned successor may have left since the plan: the next in line takes the accounts then.
      const owner = isEligible(config.users.get(successor))
        ? successor
        : (activeManager(config, config.users.get(identityId)) ??
          config.directory.users.find(
            (u) => isEligible(u) && u.groups.includes(config.policy.roles.security) && u.id !== identityId,
          )?.id);
      if (owner === undefined) {
        throw ApplicationFailure.retryable(`Nobody active can take over ${accounts.join(', ')} from ${identityId}.`);
      }
      const handovers: Handover[] = [];
      for (const account of accounts) {
        const { rows } = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM requests WHERE beneficiary = $1 AND status = 'active'",
          [account],
        );
        const grants = rows[0]?.n ?? 0;
        // The review: a one-off campaign of the account's live grants, reviewed by the new owner's manager (the
        // campaign rule for a service account) or security, never by the new owner themself.
        const review = grants > 0 ? await startOwnershipReview(account, `${account}-v${version}`) : undefined;
        await pool.query(
          `INSERT INTO service_account_handovers (account_id, owner_id, previous_owner, offboarding_id, review_campaign,
             grants)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (account_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, previous_owner = EXCLUDED.previous_owner,
             offboarding_id = EXCLUDED.offboarding_id, review_campaign = EXCLUDED.review_campaign,
             grants = EXCLUDED.grants, seq = nextval(pg_get_serial_sequence('service_account_handovers', 'seq')),
             handed_at = now()
           WHERE service_account_handovers.offboarding_id <> EXCLUDED.offboarding_id`,
          [account, owner, identityId, offboardingId, review ?? null, grants],
        );
        await audit.append([
          {
            eventId: `${offboardingId}:handover:${account}`,
            actor: SYSTEM_ACTOR,
            action: 'offboarding.owner_assigned',
            at: new Date().toISOString(),
            data: {
              offboarding: offboardingId,
              identity: identityId,
              account,
              owner,
              previousOwner: identityId,
              grants,
              ...(review && { review }),
            },
          },
        ]);
        await deps.notify({
          key: `${offboardingId}:handover:${account}`,
          requestId: offboardingId,
          to: [owner],
          subject: `You now own the service account ${account}`,
          text:
            `${identityId} left, and ${account} was theirs. You are its owner now.` +
            (review ? ` Its ${grants} live grants are under review (${review}).` : ' It holds no live access.'),
        });
        handovers.push({ account, owner, previousOwner: identityId, grants, ...(review && { review }) });
      }
      return { stopped: false, handovers };
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
          ...needsPerson(state).map((r) => ({
            eventId: `${offboardingId}:reroute:${r.requestId}`,
            requestId: r.requestId,
            actor: SYSTEM_ACTOR,
            action: 'offboarding.reroute_needed',
            at,
            data: { ...base, ...(r.stage && { stage: r.stage }), pendingApprovers: r.pendingApprovers },
          })),
        ]);
        const lines = [
          ...state.serviceAccounts.map((sa) =>
            state.successor
              ? `Service account ${sa} goes to ${state.successor}, with a review of its access.`
              : `Service account ${sa} has no owner now and nobody to take it; its access is being revoked.`,
          ),
          ...needsPerson(state).map(
            (r) => `Request ${r.requestId} waits on ${state.identityId}${r.stage ? ` (stage ${r.stage})` : ''}.`,
          ),
          ...state.reroute
            .filter((r) => r.outcome === 'rerouted')
            .map((r) => `Request ${r.requestId} was rerouted to ${r.to?.join(', ') || 'nobody'}.`),
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
        handovers: state.handovers,
        ...(state.stoppedBecause && { stoppedBecause: state.stoppedBecause }),
        ...(state.stop && { stop: state.stop }),
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
            handovers: state.handovers.map((h) => ({ account: h.account, owner: h.owner, review: h.review ?? null })),
            ...(state.stoppedBecause && { stoppedBecause: state.stoppedBecause }),
            // What a stopped offboarding had done: ended stays ended, a revoke sent is not taken back.
            ...(state.stop && {
              alreadyEnded: state.stop.alreadyEnded,
              stillEnding: state.stop.stillEnding,
              notSent: state.stop.notSent,
            }),
          },
        },
      ]);
      if ((trouble.length > 0 || event === 'stopped') && state.security.length > 0) {
        const ended = (state.stop?.alreadyEnded ?? []).map((r) => `${r.requestId} (${r.status ?? 'ended'})`);
        await deps.notify({
          key: `${offboardingId}:${event}`,
          requestId: offboardingId,
          to: state.security,
          subject: `Offboarding of ${state.identityId} ${event === 'stopped' ? 'stopped' : 'needs a person'}`,
          text: [
            ...(state.stoppedBecause
              ? [
                  `Stopped: ${state.stoppedBecause}. Already ended: ${ended.join(', ') || 'none'}. ` +
                    `Still ending (not taken back): ${state.stop?.stillEnding.join(', ') || 'none'}.`,
                ]
              : []),
            ...trouble.map((r) => `Request ${r.requestId}: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}.`),
          ].join('\n'),
        });
      }
    },
  };

  /** Starts (once: the id is the account and the leave event) the review campaign of one handed-over account. */
  async function startOwnershipReview(account: string, suffix: string): Promise<string> {
    const definition: CampaignDefinition = {
      id: 'ownership-review',
      name: `Ownership review of ${account}`,
      scope: { holders: [account], serviceAccounts: 'only' },
      reviewers: { rule: 'manager', fallback: `group:${deps.config.policy.roles.security}` },
      duration: OWNERSHIP_REVIEW.duration,
      reminders: [OWNERSHIP_REVIEW.reminder],
      escalateAfter: OWNERSHIP_REVIEW.escalateAfter,
      default: 'recommendation',
      maxDefaultRevokeShare: 0.25,
      recommendations: { olderThan: 'P180D' },
    };
    const workflowId = campaignWorkflowId(definition.id, suffix);
    const args: CampaignArgs = { definition, startedBy: SYSTEM_ACTOR };
    try {
      await client.workflow.start('accessReviewCampaign', {
        workflowId,
        taskQueue: Context.current().info.taskQueue,
        args: [args],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: campaignKey, value: definition.id },
          { key: campaignStatusKey, value: 'snapshotting' },
        ],
        staticSummary: definition.name,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // a retry: the first start counted
    }
    return workflowId;
  }

  async function sendReroute(
    requestId: string,
    leaver: string,
    reason: string,
    updateId: string,
  ): Promise<RerouteAnswer> {
    const handle = client.workflow.getHandle(workflowIdFor(requestId));
    try {
      const r = await client.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
        handle.executeUpdate(rerouteUpdate, { args: [{ by: SYSTEM_ACTOR, leaver, reason }], updateId }),
      );
      return { requestId, outcome: 'rerouted', to: r.pendingApprovers };
    } catch (err) {
      const refusal =
        err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure ? err.cause : undefined;
      if (!refusal && !(err instanceof WorkflowNotFoundError)) throw err; // Temporal unreachable: retried
      if (!refusal) return { requestId, outcome: 'not_waiting', detail: 'the request has no running workflow' };
      // The SDK's answer to an update its run has no handler for: a run started before rerouting existed.
      if (refusal.message.startsWith('No registered handler for update')) {
        return { requestId, outcome: 'unsupported', detail: 'the request’s run predates rerouting' };
      }
      const detail = `${refusal.type}: ${refusal.message}`;
      return { requestId, outcome: refusal.type === 'StageClosed' ? 'not_waiting' : 'refused', detail };
    }
  }

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

/** The approvals no request took over by itself: a person must hand them on. */
function needsPerson(state: OffboardingState) {
  return state.reroute.filter((r) => r.outcome !== 'rerouted' && r.outcome !== 'not_waiting');
}

function settledOf(status: Status, failedAction: string | null): Settled {
  if (FINAL_STATUSES.includes(status)) return 'ended';
  if (status === 'failed' && failedAction === 'revocation') return 'revocation_failed';
  return 'unsettled';
}
