/**
 * The first version of the access-request workflow, frozen: requests started before the redesign keep running on it
 * until they end (and its recorded histories keep replaying). New requests start `accessRequestV2` (workflows/request/).
 * Never change its behaviour; fixes go to the new workflow.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/types';
import { parseDuration } from '../../domain/duration';
import type { Evaluation, GrantSpec, ResolvedStage, Status } from '../../domain/model';
import {
  cancelSignal,
  cancelUpdate,
  decideSignal,
  decideUpdate,
  extendUpdate,
  fulfilUpdate,
  getRequestQuery,
  initialView,
  retrySignal,
  reviewSignal,
  reviewUpdate,
  revokeSignal,
  revokeUpdate,
  type AccessRequestArgs,
  type ActorInput,
  type DecisionInput,
  type ExtendInput,
  type RefusalType,
  type RequestView,
  type ReviewInput,
  type StageView,
} from '../messages';
import {
  beneficiaryKey,
  breakGlassKey,
  entitlementKey,
  expiresAtKey,
  pendingApproversKey,
  requesterKey,
  resourceKey,
  riskLevelKey,
  statusKey,
} from '../search-attributes';

// Bookkeeping (audit, projection, notifications) must never be lost: it retries until PostgreSQL is back.
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '20s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s' },
});
const facts = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    maximumInterval: '5s',
    maximumAttempts: 30,
    nonRetryableErrorTypes: ['ConfigError'],
  },
});
// A connector gives up after about three minutes of attempts (long enough to ride out a short outage of grantflow's
// own PostgreSQL, which these attempts also count); the request then shows `failed` and an operator can retry it.
const connectors = proxyActivities<Activities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 12 },
});

/** Keeps workflow history small: a long-lived grant continues as new past this many events. */
const HISTORY_LIMIT = 2000;
const TIMELINE_LIMIT = 100;
const OPEN_STATUSES: Status[] = ['validating', 'pending_approval', 'provisioning', 'active', 'failed'];

type StageOutcome = 'approved' | 'denied' | 'timed_out' | 'cancelled';

function refuse(type: RefusalType, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

function nowIso(): string {
  return new Date().toISOString();
}

function stageView(spec: ResolvedStage): StageView {
  return {
    name: spec.name,
    quorum: spec.quorum,
    required: spec.required,
    approvers: [...spec.approvers],
    fallback: [...spec.fallback],
    status: 'waiting',
    escalated: false,
    decisions: [],
  };
}

/** One access request, from submission to the end of its grant. */
export async function accessRequest(args: AccessRequestArgs): Promise<RequestView> {
  return new AccessRequest(args).run();
}

class AccessRequest {
  private readonly view: RequestView;
  private grantSpec?: GrantSpec;
  private stageSpecs: ResolvedStage[] = [];
  private revision: number;
  private auditSeq: number;
  /** The stage that `decide` messages act on (the request's, or an extension's). */
  private decisionStage?: StageView;
  private cancelRequest?: ActorInput;
  private revokeRequest?: ActorInput;
  private retryRequest?: ActorInput;
  private fulfilledBy?: string;
  /** Set once the request is being closed: no message may reopen it. */
  private closing = false;
  private grantVersion = 0;
  private extensionRun?: Promise<void>;
  private reviewRun?: Promise<void>;

  constructor(private readonly args: AccessRequestArgs) {
    const carried = args.carried;
    this.revision = carried?.revision ?? 0;
    this.auditSeq = carried?.auditSeq ?? 0;
    this.grantSpec = carried?.grant;
    this.view = carried?.view ?? initialView(args);
  }

  async run(): Promise<RequestView> {
    this.registerHandlers();
    if (this.args.carried) return this.live();

    await this.record('submitted', this.view.requester, {
      entitlement: this.view.entitlement,
      beneficiary: this.view.beneficiary,
      breakGlass: this.view.breakGlass,
      justification: this.view.justification,
      duration: this.args.input.duration,
    });
    await this.publish();

    const evaluation = await facts.evaluateRequest({
      requestId: this.view.id,
      requester: this.view.requester,
      input: this.args.input,
      now: nowIso(),
    });
    if (!evaluation.valid) return this.reject(evaluation);
    this.accept(evaluation);
    const plan = evaluation.plan;
    await this.record('validated', 'system', { risk: evaluation.risk, plan: plan.kind, rule: plan.rule });

    if (this.cancelRequest) return this.finish('cancelled', this.cancelRequest.by);
    if (plan.kind === 'stages') {
      const outcome = await this.runStages(this.view.stages, this.stageSpecs);
      if (outcome !== 'approved')
        return this.finish(
          outcome,
          outcome === 'cancelled' ? (this.cancelRequest as ActorInput | undefined)?.by : undefined,
        );
    } else if (plan.kind === 'auto-approve') {
      await this.record('auto_approved', 'system', { rule: plan.rule, risk: this.view.risk?.level });
    } else {
      await this.record('break_glass_invoked', this.view.requester, { ttlMs: plan.ttlMs });
      await this.notify('break-glass', this.grantSpec?.operators ?? [], 'Break-glass access invoked', this.describe());
      this.reviewRun = this.runReview(plan.review);
    }
    return this.provisionThenLive();
  }

  // ---------- validation ----------

  private async reject(evaluation: Extract<Evaluation, { valid: false }>): Promise<RequestView> {
    this.view.reasons = evaluation.reasons;
    this.view.risk = evaluation.risk;
    this.view.existingRequestId = evaluation.existingRequestId;
    await this.record('rejected', 'system', {
      reasons: evaluation.reasons,
      existingRequestId: evaluation.existingRequestId,
    });
    this.view.status = 'rejected';
    await this.notify('rejected', [this.view.requester], 'Access request rejected', this.reasonsText());
    await this.publish();
    await condition(allHandlersFinished);
    return this.view;
  }

  private accept(evaluation: Extract<Evaluation, { valid: true }>): void {
    this.grantSpec = evaluation.grant;
    this.view.beneficiary = evaluation.grant.beneficiary;
    this.view.resource = evaluation.grant.resource;
    this.view.risk = evaluation.risk;
    this.view.plan = {
      kind: evaluation.plan.kind,
      rule: evaluation.plan.rule,
      policyVersion: evaluation.policyVersion,
    };
    if (evaluation.plan.kind === 'stages') {
      this.stageSpecs = evaluation.plan.stages;
      this.view.stages = this.stageSpecs.map(stageView);
    }
  }

  // ---------- approval ----------

  private async runStages(stages: StageView[], specs: ResolvedStage[]): Promise<StageOutcome> {
    for (const [i, spec] of specs.entries()) {
      const stage = stages[i];
      if (!stage) break;
      const outcome = await this.runStage(stage, spec, 'decide');
      if (outcome !== 'approved') return outcome;
    }
    return 'approved';
  }

  /** Opens a stage and waits for its decisions, sending reminders, escalating and closing it at its deadline. */
  private async runStage(stage: StageView, spec: ResolvedStage, kind: 'decide' | 'review'): Promise<StageOutcome> {
    const opened = new Date().getTime();
    const deadline = opened + spec.deadlineMs;
    const escalateAt = spec.escalateAfterMs !== undefined ? opened + spec.escalateAfterMs : undefined;
    const reminders = spec.remindersMs.map((ms) => opened + ms).sort((a, b) => a - b);
    stage.status = 'open';
    stage.openedAt = new Date(opened).toISOString();
    stage.deadlineAt = new Date(deadline).toISOString();
    stage.escalatesAt = escalateAt !== undefined ? new Date(escalateAt).toISOString() : undefined;
    if (kind === 'decide') {
      this.decisionStage = stage;
      // An extension's approval happens while the grant stays active.
      if (this.view.stages.includes(stage)) this.view.status = 'pending_approval';
    }
    this.refreshPending();
    await this.record('stage_opened', 'system', {
      stage: stage.name,
      approvers: stage.approvers,
      required: stage.required,
    });
    await this.notify(
      `${stage.name}:open`,
      stage.approvers,
      `Your decision is needed: ${this.view.entitlement}`,
      this.describe(),
    );
    await this.publish();

    let nextReminder = 0;
    for (;;) {
      if (stage.status !== 'open') break;
      if (kind === 'decide' && this.cancelRequest) {
        stage.status = 'cancelled';
        break;
      }
      const now = new Date().getTime();
      if (now >= deadline) {
        stage.status = 'timed_out';
        await this.record('stage_timed_out', 'system', { stage: stage.name });
        break;
      }
      if (escalateAt !== undefined && !stage.escalated && now >= escalateAt) {
        await this.escalate(stage);
        continue;
      }
      const reminderAt = reminders[nextReminder];
      if (reminderAt !== undefined && now >= reminderAt) {
        nextReminder++;
        await this.remind(stage, nextReminder);
        continue;
      }
      const wakeAt = Math.min(
        deadline,
        escalateAt !== undefined && !stage.escalated ? escalateAt : deadline,
        reminderAt ?? deadline,
      );
      await condition(
        () => stage.status !== 'open' || (kind === 'decide' && !!this.cancelRequest),
        Math.max(1, wakeAt - now),
      );
    }
    stage.closedAt = nowIso();
    if (this.decisionStage === stage) this.decisionStage = undefined;
    this.refreshPending();
    return stage.status as StageOutcome;
  }

  private async escalate(stage: StageView): Promise<void> {
    const added = stage.fallback.filter((id) => !stage.approvers.includes(id));
    stage.approvers.push(...added);
    stage.escalated = true;
    this.refreshPending();
    await this.record('escalated', 'system', { stage: stage.name, added });
    await this.notify(`${stage.name}:escalated`, added, `Escalated to you: ${this.view.entitlement}`, this.describe());
    await this.notify(
      `${stage.name}:escalated:requester`,
      [this.view.requester],
      'Your request was escalated',
      `Stage ${stage.name} had no decision in time; it now also waits on ${added.join(', ') || 'nobody new'}.`,
    );
    await this.publish();
  }

  private async remind(stage: StageView, n: number): Promise<void> {
    const waiting = this.waitingOn(stage);
    await this.record('reminded', 'system', { stage: stage.name, approvers: waiting });
    await this.notify(
      `${stage.name}:reminder:${n}`,
      waiting,
      `Reminder: ${this.view.entitlement} waits for you`,
      this.describe(),
    );
    await this.notify(
      `${stage.name}:reminder:${n}:requester`,
      [this.view.requester],
      'Your request is still waiting',
      `Stage ${stage.name} waits on ${waiting.join(', ')}; it closes at ${stage.deadlineAt}.`,
    );
  }

  private waitingOn(stage: StageView): string[] {
    return stage.approvers.filter((id) => !stage.decisions.some((d) => d.approver === id));
  }

  private refreshPending(): void {
    const open = [this.decisionStage, this.view.review].filter((s): s is StageView => s?.status === 'open');
    this.view.pendingApprovers = [...new Set(open.flatMap((s) => this.waitingOn(s)))].sort();
  }

  /** Throws the refusal a decision deserves; the workflow, not the API, is the authority on eligibility. */
  private checkDecision(input: DecisionInput): void {
    const stage = this.decisionStage;
    if (!stage || stage.status !== 'open') {
      refuse('StageClosed', `No stage of request ${this.view.id} is open for decisions (status: ${this.view.status}).`);
    }
    if (input.approver === this.view.requester || input.approver === this.view.beneficiary) {
      refuse('SelfApproval', 'You cannot decide on a request that you made or that would give you access.');
    }
    // Within one round of approval (the request's, or an extension's), each stage needs a different person.
    const round = this.view.stages.includes(stage) ? this.view.stages : (this.view.extension?.stages ?? []);
    const earlier = round.find((s) => s.decisions.some((d) => d.approver === input.approver));
    if (earlier === stage) refuse('AlreadyDecided', `You already decided on stage ${stage.name} of this request.`);
    if (earlier) {
      refuse(
        'AlreadyDecided',
        `You already decided on stage ${earlier.name}; another person must decide ${stage.name}.`,
      );
    }
    if (!stage.approvers.includes(input.approver)) {
      refuse('NotEligible', `You are not an eligible approver for stage ${stage.name} of this request.`);
    }
  }

  private allStages(): StageView[] {
    return [...this.view.stages, ...(this.view.extension?.stages ?? [])];
  }

  private applyDecision(input: DecisionInput, via: 'update' | 'signal'): StageView {
    const stage = this.decisionStage as StageView;
    stage.decisions.push({
      approver: input.approver,
      decision: input.decision,
      comment: input.comment,
      at: nowIso(),
      via,
    });
    const approvals = stage.decisions.filter((d) => d.decision === 'approve').length;
    // One denial settles the stage: access needs every stage's consent.
    if (input.decision === 'deny') stage.status = 'denied';
    else if (approvals >= stage.required) stage.status = 'approved';
    this.refreshPending();
    return stage;
  }

  private async decide(input: DecisionInput, via: 'update' | 'signal') {
    const stage = this.applyDecision(input, via);
    await this.record('decision_recorded', input.approver, {
      stage: stage.name,
      decision: input.decision,
      comment: input.comment,
      via,
    });
    await this.publish();
    return { outcome: 'recorded' as const, stage: stage.name, stageStatus: stage.status, status: this.view.status };
  }

  // ---------- provisioning and the live grant ----------

  private async provisionThenLive(): Promise<RequestView> {
    const spec = this.grantSpec as GrantSpec;
    for (;;) {
      this.view.status = 'provisioning';
      this.view.failure = undefined;
      await this.publish();
      const failure = spec.connector.type === 'manual' ? await this.awaitFulfilment('grant') : await this.provision();
      if (!failure) break;
      await this.fail('provisioning_failed', failure);
      if (this.cancelRequest) {
        // The connector may have applied the grant before it failed to answer: take it back to be sure.
        if (spec.connector.type !== 'manual') await this.deprovision();
        return this.finish('cancelled', this.cancelRequest.by);
      }
    }
    return this.live();
  }

  /** Marks the request failed, tells operators and the requester, and waits for a retry (or, before a grant, a cancel). */
  private async fail(action: 'provisioning_failed' | 'revocation_failed', failure: string): Promise<void> {
    const spec = this.grantSpec as GrantSpec;
    const previous = this.view.status;
    this.view.status = 'failed';
    this.view.failure = failure;
    await this.record(action, 'system', { failure });
    await this.notify(
      `${action}:${this.auditSeq}`,
      [...spec.operators, this.view.requester],
      'Access change failed',
      failure,
    );
    await this.publish();
    const cancellable = action === 'provisioning_failed';
    await condition(() => !!this.retryRequest || (cancellable && !!this.cancelRequest));
    if (this.retryRequest) {
      await this.record('retried', this.retryRequest.by, { action });
      this.retryRequest = undefined;
    }
    this.view.status = previous;
    this.view.failure = undefined;
  }

  /** Revokes at the target; a connector that refuses outright leaves the request failed until an operator retries. */
  private async deprovision(): Promise<{ revokedAtTarget: boolean }> {
    const endedAt = nowIso();
    for (;;) {
      try {
        return await bookkeeping.deprovision({ requestId: this.view.id, grant: this.grantSpec as GrantSpec, endedAt });
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        await this.fail('revocation_failed', `Revoking the grant failed: ${err.cause?.message ?? err.message}`);
      }
    }
  }

  /** Grants through the connector; returns why it failed, if it did. */
  private async provision(): Promise<string | undefined> {
    const spec = this.grantSpec as GrantSpec;
    const startedAt = new Date();
    const expiresAt = new Date(startedAt.getTime() + spec.durationMs);
    try {
      await connectors.provision({
        requestId: this.view.id,
        grant: spec,
        startedAt: startedAt.toISOString(),
        expiresAt: expiresAt.toISOString(),
      });
    } catch (err) {
      if (err instanceof ActivityFailure) return err.cause?.message ?? err.message;
      throw err;
    }
    await this.activate(startedAt, expiresAt);
    return undefined;
  }

  private async activate(startedAt: Date, expiresAt: Date): Promise<void> {
    const spec = this.grantSpec as GrantSpec;
    this.view.grant = {
      startedAt: startedAt.toISOString(),
      expiresAt: expiresAt.toISOString(),
      extensions: 0,
      connector: spec.connector.type,
    };
    // The audit event lands before the view shows the grant live.
    await this.record('provisioned', 'system', {
      startedAt: this.view.grant.startedAt,
      expiresAt: this.view.grant.expiresAt,
    });
    this.view.status = 'active';
    await this.notify(
      'active',
      [this.view.requester],
      'Access granted',
      `${this.describe()} until ${this.view.grant.expiresAt}.`,
    );
    await this.publish();
  }

  /** The manual connector: a named fulfiller confirms the change, within the connector's SLA. */
  private async awaitFulfilment(task: 'grant' | 'revoke'): Promise<string | undefined> {
    const spec = this.grantSpec as GrantSpec;
    const sla = spec.connector.type === 'manual' ? spec.connector.sla : 'P2D';
    const slaMs = parseDuration(sla) ?? 2 * 86_400_000;
    const opened = new Date();
    this.fulfilledBy = undefined;
    this.view.fulfilment = {
      task,
      fulfillers: spec.fulfillers,
      openedAt: opened.toISOString(),
      dueAt: new Date(opened.getTime() + slaMs).toISOString(),
    };
    await this.record('fulfilment_opened', 'system', { task, fulfillers: spec.fulfillers });
    await this.notify(
      `fulfil:${task}:${this.grantVersion}`,
      spec.fulfillers,
      `Please ${task} access by hand`,
      this.describe(),
    );
    await this.publish();
    for (let round = 0; ; round++) {
      const done = await condition(() => !!this.fulfilledBy || (task === 'grant' && !!this.cancelRequest), slaMs);
      if (done) break;
      if (task === 'grant') return `No fulfiller completed the grant task within ${sla}.`;
      // A revocation is never dropped: keep asking, now with security in the loop.
      await this.notify(
        `fulfil:revoke:overdue:${round}`,
        [...spec.fulfillers, ...spec.operators],
        'Overdue: remove access',
        this.describe(),
      );
    }
    if (this.cancelRequest && !this.fulfilledBy) return undefined;
    this.view.fulfilment.completedBy = this.fulfilledBy;
    this.view.fulfilment.completedAt = nowIso();
    if (task === 'grant') {
      const startedAt = new Date();
      const expiresAt = new Date(startedAt.getTime() + spec.durationMs);
      await connectors.provision({
        requestId: this.view.id,
        grant: spec,
        startedAt: startedAt.toISOString(),
        expiresAt: expiresAt.toISOString(),
      });
      await this.activate(startedAt, expiresAt);
    }
    return undefined;
  }

  /** Waits out the grant: expiry, revocation, extensions; continues as new when the history grows long. */
  private async live(): Promise<RequestView> {
    for (;;) {
      const grant = this.view.grant;
      if (!grant) throw new Error('live() without a grant');
      const expires = Date.parse(grant.expiresAt);
      const version = this.grantVersion;
      const now = new Date().getTime();
      if (this.revokeRequest) return this.end('revoked', this.revokeRequest.by);
      if (now >= expires) return this.end('expired', 'system');
      const limit = this.args.historyLimit ?? HISTORY_LIMIT;
      const tooLong = workflowInfo().historyLength > limit || workflowInfo().continueAsNewSuggested;
      if (tooLong && !this.extensionRun && !this.reviewRun) {
        await condition(allHandlersFinished);
        return continueAsNew<typeof accessRequest>({
          ...this.args,
          carried: {
            view: this.view,
            grant: this.grantSpec as GrantSpec,
            revision: this.revision,
            auditSeq: this.auditSeq,
          },
        });
      }
      await condition(
        () =>
          !!this.revokeRequest || this.grantVersion !== version || (tooLong && !this.extensionRun && !this.reviewRun),
        expires - now,
      );
    }
  }

  private async end(status: 'expired' | 'revoked', by: string): Promise<RequestView> {
    this.closing = true;
    const spec = this.grantSpec as GrantSpec;
    if (spec.connector.type === 'manual') await this.awaitFulfilment('revoke');
    const result = await this.deprovision();
    if (this.view.grant) this.view.grant.endedAt = nowIso();
    await this.record(status, by, { reason: this.revokeRequest?.reason, revokedAtTarget: result.revokedAtTarget });
    return this.finish(status, by);
  }

  /** Closes the request: frees the claim, tells the requester, waits for a pending review and for handlers. */
  private async finish(
    status: Exclude<Status, 'validating' | 'provisioning' | 'active' | 'failed' | 'pending_approval'>,
    by?: string,
  ) {
    this.closing = true;
    for (const stage of this.allStages())
      if (stage.status === 'waiting' || stage.status === 'open') stage.status = 'cancelled';
    this.decisionStage = undefined;
    this.refreshPending();
    // Free the claim before the request shows as closed, so that a new request may follow at once.
    await bookkeeping.releaseClaim({
      requestId: this.view.id,
      beneficiary: this.view.beneficiary,
      entitlement: this.view.entitlement,
    });
    if (status !== 'expired' && status !== 'revoked') await this.record(status, by ?? 'system', {});
    this.view.status = status;
    await this.notify(
      `closed:${status}`,
      [this.view.requester],
      `Access request ${status.replace('_', ' ')}`,
      this.describe(),
    );
    await this.publish();
    if (this.reviewRun) await this.reviewRun;
    if (this.extensionRun) await this.extensionRun;
    await condition(allHandlersFinished);
    return this.view;
  }

  // ---------- extension and break-glass review ----------

  private checkExtension(input: ExtendInput): void {
    const spec = this.grantSpec;
    const grant = this.view.grant;
    if (this.view.status !== 'active' || !grant || !spec || this.closing)
      refuse('InvalidState', `Only an active grant can be extended (status: ${this.view.status}).`);
    if (input.by !== this.view.requester && input.by !== this.view.beneficiary) {
      refuse('NotAllowed', 'Only the requester or the beneficiary can extend this grant.');
    }
    if (this.view.breakGlass)
      refuse('NotAllowed', 'A break-glass grant cannot be extended; request regular access instead.');
    if (this.view.extension?.status === 'pending_approval')
      refuse('InvalidState', 'An extension of this grant is already waiting for approval.');
    const total = Date.parse(grant.expiresAt) + input.durationMs - Date.parse(grant.startedAt);
    if (total > spec.maxDurationMs) {
      refuse(
        'ExtensionTooLong',
        `The extension would make the grant last longer than the entitlement allows (${spec.maxDurationMs / 3600000} hours).`,
      );
    }
  }

  private async extend(input: ExtendInput) {
    const spec = this.grantSpec as GrantSpec;
    const grant = this.view.grant as NonNullable<RequestView['grant']>;
    const total = Date.parse(grant.expiresAt) + input.durationMs - Date.parse(grant.startedAt);
    const free =
      this.stageSpecs.length === 0 ||
      (spec.extensionWithoutApprovalMs !== undefined && total <= spec.extensionWithoutApprovalMs);
    await this.record('extension_requested', input.by, {
      durationMs: input.durationMs,
      justification: input.justification,
      needsApproval: !free,
    });
    if (free) {
      await this.applyExtension(input.durationMs, input.by);
      return { outcome: 'extended' as const, expiresAt: grant.expiresAt };
    }
    this.view.extension = {
      requestedBy: input.by,
      durationMs: input.durationMs,
      justification: input.justification,
      status: 'pending_approval',
      stages: this.stageSpecs.map(stageView),
    };
    const extension = this.view.extension;
    this.extensionRun = (async () => {
      const outcome = await this.runStages(extension.stages, this.stageSpecs);
      const applies = outcome === 'approved' && this.view.status === 'active';
      if (applies) await this.applyExtension(extension.durationMs, 'system');
      extension.status = outcome === 'cancelled' ? 'denied' : outcome;
      if (!applies) await this.record('extension_closed', 'system', { outcome });
      await this.publish();
      this.extensionRun = undefined;
    })();
    await this.publish();
    return { outcome: 'pending_approval' as const, expiresAt: grant.expiresAt };
  }

  private async applyExtension(durationMs: number, by: string): Promise<void> {
    const grant = this.view.grant as NonNullable<RequestView['grant']>;
    grant.expiresAt = new Date(Date.parse(grant.expiresAt) + durationMs).toISOString();
    grant.extensions++;
    this.grantVersion++;
    await this.record('extended', by, { expiresAt: grant.expiresAt, extensions: grant.extensions });
    await this.publish();
  }

  private async runReview(spec: ResolvedStage): Promise<void> {
    this.view.review = stageView(spec);
    this.view.reviewState = 'pending';
    const outcome = await this.runStage(this.view.review, spec, 'review');
    if (outcome === 'timed_out') {
      // Ignored reviews are findings in themselves.
      this.view.review.outcome = 'flagged';
      this.view.reviewState = 'flagged';
      await this.record('review_overdue', 'system', {});
      await this.notify(
        'review:overdue',
        this.grantSpec?.operators ?? [],
        'Break-glass review overdue',
        this.describe(),
      );
    }
    await this.publish();
  }

  private checkReview(input: ReviewInput): void {
    const review = this.view.review;
    if (!review || review.status !== 'open') refuse('StageClosed', 'This request has no open break-glass review.');
    if (input.by === this.view.requester || input.by === this.view.beneficiary) {
      refuse('SelfApproval', 'You cannot review a break-glass access that you invoked or held.');
    }
    if (!review.approvers.includes(input.by))
      refuse('NotEligible', 'You are not an eligible reviewer of this break-glass access.');
  }

  private async review(input: ReviewInput) {
    const review = this.view.review as NonNullable<RequestView['review']>;
    review.decisions.push({
      approver: input.by,
      decision: input.outcome === 'cleared' ? 'approve' : 'deny',
      comment: input.comment,
      at: nowIso(),
      via: 'update',
    });
    review.status = 'approved';
    review.outcome = input.outcome;
    review.reviewedBy = input.by;
    review.comment = input.comment;
    this.view.reviewState = input.outcome;
    this.refreshPending();
    await this.record('reviewed', input.by, { outcome: input.outcome, comment: input.comment });
    await this.publish();
    return { outcome: 'recorded' as const, status: this.view.status };
  }

  // ---------- other messages ----------

  private checkCancel(input: ActorInput): void {
    if (input.by !== this.view.requester) refuse('NotAllowed', 'Only the requester can cancel this request.');
    const failedBeforeGrant = this.view.status === 'failed' && !this.view.grant;
    const open = ['validating', 'pending_approval'].includes(this.view.status) || failedBeforeGrant;
    if (!open || this.closing || this.cancelRequest) {
      refuse(
        'InvalidState',
        `The request can no longer be cancelled (status: ${this.view.status}); revoke the grant instead.`,
      );
    }
  }

  private checkRevoke(input: ActorInput): void {
    const spec = this.grantSpec;
    if (this.view.status !== 'active' || !spec || this.revokeRequest || this.closing) {
      refuse('InvalidState', `Only an active grant can be revoked (status: ${this.view.status}).`);
    }
    const self = input.by === this.view.requester || input.by === this.view.beneficiary;
    if (!self && !spec.revokers.includes(input.by)) {
      refuse('NotAllowed', 'Only the resource owners, security, admins or the holder can revoke this grant.');
    }
  }

  private checkFulfil(input: ActorInput): void {
    const task = this.view.fulfilment;
    if (!task || task.completedAt || this.fulfilledBy)
      refuse('InvalidState', 'This request has no open fulfilment task.');
    if (input.by === this.view.beneficiary || input.by === this.view.requester) {
      refuse('SelfApproval', 'You cannot fulfil a change to your own access.');
    }
    if (!task.fulfillers.includes(input.by)) refuse('NotEligible', 'You are not a fulfiller of this task.');
  }

  private checkRetry(input: ActorInput): void {
    if (this.view.status !== 'failed')
      refuse('InvalidState', `Only a failed request can be retried (status: ${this.view.status}).`);
    if (!this.grantSpec?.operators.includes(input.by))
      refuse('NotAllowed', 'Only security or an admin can retry provisioning.');
  }

  private registerHandlers(): void {
    setHandler(getRequestQuery, () => this.view);

    setHandler(decideUpdate, (input) => this.decide(input, 'update'), {
      validator: (input) => this.checkDecision(input),
    });
    setHandler(decideSignal, (input) =>
      this.viaSignal(
        'decision',
        input.approver,
        () => this.checkDecision(input),
        () => this.decide(input, 'signal'),
      ),
    );

    const cancel = async (input: ActorInput) => {
      this.cancelRequest = input;
      await this.record('cancel_requested', input.by, { reason: input.reason });
      return { outcome: 'recorded' as const, status: this.view.status };
    };
    setHandler(cancelUpdate, cancel, { validator: (input) => this.checkCancel(input) });
    setHandler(cancelSignal, (input) =>
      this.viaSignal(
        'cancel',
        input.by,
        () => this.checkCancel(input),
        () => cancel(input),
      ),
    );

    const revoke = async (input: ActorInput) => {
      this.revokeRequest = input;
      await this.record('revoke_requested', input.by, { reason: input.reason });
      return { outcome: 'recorded' as const, status: this.view.status };
    };
    setHandler(revokeUpdate, revoke, { validator: (input) => this.checkRevoke(input) });
    setHandler(revokeSignal, (input) =>
      this.viaSignal(
        'revoke',
        input.by,
        () => this.checkRevoke(input),
        () => revoke(input),
      ),
    );

    setHandler(extendUpdate, (input) => this.extend(input), { validator: (input) => this.checkExtension(input) });

    setHandler(reviewUpdate, (input) => this.review(input), { validator: (input) => this.checkReview(input) });
    setHandler(reviewSignal, (input) =>
      this.viaSignal(
        'review',
        input.by,
        () => this.checkReview(input),
        () => this.review(input),
      ),
    );

    setHandler(
      fulfilUpdate,
      async (input) => {
        this.fulfilledBy = input.by;
        await this.record('fulfilled', input.by, { task: this.view.fulfilment?.task, comment: input.comment });
        return { outcome: 'recorded' as const, status: this.view.status };
      },
      { validator: (input) => this.checkFulfil(input) },
    );

    setHandler(retrySignal, (input) =>
      this.viaSignal(
        'retry',
        input.by,
        () => this.checkRetry(input),
        async () => {
          this.retryRequest = input;
        },
      ),
    );
  }

  /** Signals have no validator: an ineligible one is recorded and ignored. */
  private async viaSignal(what: string, by: string, check: () => void, apply: () => Promise<unknown>): Promise<void> {
    try {
      check();
    } catch (err) {
      const failure = err as ApplicationFailure;
      await this.record('refused', by, {
        message: what,
        refusal: failure.type,
        reason: failure.message,
        via: 'signal',
      });
      return;
    }
    await apply();
  }

  // ---------- bookkeeping ----------

  /** Appends an audit event, idempotent per step: the id is the request id and a deterministic sequence number. */
  private async record(action: string, actor: string, data: Record<string, unknown>): Promise<void> {
    const at = nowIso();
    const seq = ++this.auditSeq;
    this.view.timeline.push({ at, event: action, actor });
    if (this.view.timeline.length > TIMELINE_LIMIT)
      this.view.timeline.splice(0, this.view.timeline.length - TIMELINE_LIMIT);
    await bookkeeping.recordAudit({
      eventId: `${this.view.id}:${seq}:${action}`,
      requestId: this.view.id,
      actor,
      action,
      at,
      data,
    });
  }

  private async notify(key: string, to: string[], subject: string, text: string): Promise<void> {
    const recipients = [...new Set(to)];
    if (recipients.length === 0) return;
    await bookkeeping.notify({ key: `${this.view.id}:${key}`, requestId: this.view.id, to: recipients, subject, text });
  }

  /** Brings the search attributes, the UI summary and the PostgreSQL projection up to date. */
  private async publish(): Promise<void> {
    const view = this.view;
    view.updatedAt = nowIso();
    upsertSearchAttributes([
      { key: statusKey, value: view.status },
      { key: requesterKey, value: view.requester },
      { key: beneficiaryKey, value: view.beneficiary },
      { key: resourceKey, value: view.resource },
      { key: entitlementKey, value: view.entitlement },
      { key: riskLevelKey, value: view.risk?.level ?? 'unknown' },
      { key: pendingApproversKey, value: view.pendingApprovers },
      { key: breakGlassKey, value: view.breakGlass },
      ...(view.grant ? [{ key: expiresAtKey, value: new Date(view.grant.expiresAt) }] : []),
    ]);
    setCurrentDetails(this.summary());
    const stages = this.allStages();
    const decisions = stages.flatMap((s) => s.decisions);
    const firstDecision = decisions.map((d) => d.at).sort()[0];
    const approvedStage = [...this.view.stages].reverse().find((s) => s.status === 'approved');
    await bookkeeping.project({
      requestId: view.id,
      revision: ++this.revision,
      requester: view.requester,
      beneficiary: view.beneficiary,
      entitlement: view.entitlement,
      resource: view.resource,
      breakGlass: view.breakGlass,
      status: view.status,
      reviewState: view.reviewState,
      risk: view.risk,
      justification: view.justification,
      pendingApprovers: view.pendingApprovers,
      involved: [
        ...new Set([
          ...stages.flatMap((s) => s.approvers),
          ...(view.review?.approvers ?? []),
          ...(view.fulfilment?.fulfillers ?? []),
        ]),
      ],
      submittedAt: view.submittedAt,
      firstDecisionAt: firstDecision,
      approvedAt:
        view.plan?.kind === 'stages'
          ? view.stages.every((s) => s.status === 'approved')
            ? approvedStage?.closedAt
            : undefined
          : view.grant?.startedAt,
      startedAt: view.grant?.startedAt,
      expiresAt: view.grant?.expiresAt,
      endedAt: OPEN_STATUSES.includes(view.status) ? undefined : (view.grant?.endedAt ?? view.updatedAt),
      escalated: stages.some((s) => s.escalated),
      autoApproved: view.plan?.kind === 'auto-approve',
      view,
    });
  }

  private summary(): string {
    const v = this.view;
    const lines = [
      `**${v.entitlement}** for **${v.beneficiary}** (requested by ${v.requester}) — **${v.status}**`,
      v.risk ? `Risk: ${v.risk.level} (${v.risk.score}): ${v.risk.reasons.join('; ')}` : '',
      v.pendingApprovers.length ? `Waiting on: ${v.pendingApprovers.join(', ')}` : '',
      v.grant
        ? `Grant: ${v.grant.startedAt} → ${v.grant.expiresAt}${v.grant.endedAt ? ` (ended ${v.grant.endedAt})` : ''}`
        : '',
      v.reviewState ? `Break-glass review: ${v.reviewState}` : '',
      v.reasons.length ? `Rejected: ${this.reasonsText()}` : '',
    ];
    return lines.filter(Boolean).join('\n\n');
  }

  private describe(): string {
    const v = this.view;
    return `${v.requester} asks for ${v.entitlement} for ${v.beneficiary}: "${v.justification}" (request ${v.id}, status ${v.status}).`;
  }

  private reasonsText(): string {
    return this.view.reasons.map((r) => r.message).join(' ');
  }
}
