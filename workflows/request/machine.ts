import { SYSTEM_ACTOR, type Evaluation, type FinalStatus } from '../../domain/model';
import type { ActorInput, DecisionInput, StageView } from '../messages';
import { advanceExtension, closeExtension, extensionStage, extensionWake } from './extension';
import { cancelFulfilment, fulfilled, fulfilmentWake, openFulfilment, overdue, taskOpen } from './fulfilment';
import { openReview, reviewWake, runReviewClock } from './review';
import { refuse } from './refuse';
import { runSeatClock, seatDue, seatWake, startProvisioning } from './seats';
import { checkDecision, closeStage, nextTick, openStage, runClock, waitingOn } from './stages';
import {
  describe,
  enter,
  notify,
  record,
  selfIds,
  stageViewOf,
  touch,
  type EndState,
  type EndStatus,
  type RequestState,
} from './state';

// The lifecycle as one state machine. Handlers and the main loop change the state only through these functions,
// each a synchronous step: nothing can interleave between a check and the change it allows.

export function submitted(s: RequestState, now: number, duration: string | undefined): void {
  record(s, now, 'submitted', s.view.requester, {
    entitlement: s.view.entitlement,
    beneficiary: s.view.beneficiary,
    breakGlass: s.view.breakGlass,
    justification: s.view.justification,
    duration,
  });
}

/** The policy's answer to the submission. */
export function evaluated(s: RequestState, evaluation: Evaluation, now: number): void {
  if (s.phase.name !== 'validating') return;
  // Tags and the exception come from the recorded evaluation: a replay of an older run (without them) adds nothing.
  if (evaluation.tags) s.view.tags = evaluation.tags;
  if (!evaluation.valid) {
    s.view.reasons = evaluation.reasons;
    s.view.risk = evaluation.risk;
    s.view.existingRequestId = evaluation.existingRequestId;
    // The version comes from the recorded evaluation, so a replay of an older run writes what it wrote then.
    record(s, now, 'rejected', 'system', {
      reasons: evaluation.reasons,
      existingRequestId: evaluation.existingRequestId,
      ...(evaluation.policyVersion !== undefined && { policyVersion: evaluation.policyVersion }),
    });
    notify(s, 'closed:rejected', [s.view.requester], 'Access request rejected', reasonsText(s));
    return enter(s, { name: 'closing', status: 'rejected', by: 'system', recorded: true });
  }
  const { plan, grant } = evaluation;
  s.grant = grant;
  s.view.beneficiary = grant.beneficiary;
  s.view.resource = grant.resource;
  s.view.risk = evaluation.risk;
  s.view.plan = { kind: plan.kind, rule: plan.rule, policyVersion: evaluation.policyVersion };
  const exception = plan.kind === 'stages' ? plan.exception : undefined;
  if (exception) s.view.exception = exception;
  record(s, now, 'validated', 'system', {
    risk: evaluation.risk,
    plan: plan.kind,
    rule: plan.rule,
    policyVersion: evaluation.policyVersion,
    ...(evaluation.tags && { type: evaluation.tags.type }),
    ...(exception && {
      exception: { waived: exception.waived.map((r) => r.code), compensatingControl: exception.compensatingControl },
    }),
  });
  // A cancel that arrived while the policy was asked wins over whatever the policy says.
  if (s.pending.cancel) return close(s, 'cancelled', s.pending.cancel.by);
  if (plan.kind === 'stages') {
    s.request = { specs: plan.stages, current: 0 };
    s.view.stages = plan.stages.map((spec) => stageViewOf(spec, selfIds(s)));
    enter(s, { name: 'pending_approval' });
    const first = s.view.stages[0];
    if (first) openStage(s, first, plan.stages[0] as (typeof plan.stages)[number], now, `req:${first.name}`);
    return;
  }
  if (plan.kind === 'auto-approve') {
    record(s, now, 'auto_approved', 'system', { rule: plan.rule, risk: evaluation.risk.level });
  } else {
    record(s, now, 'break_glass_invoked', s.view.requester, { ttlMs: plan.ttlMs });
    notify(s, 'break-glass', grant.operators, 'Break-glass access invoked', describe(s));
    openReview(s, plan.review, now);
  }
  startProvisioning(s, now);
}

/** The stage that `decide` acts on now: the request's, or an extension's. */
export function decisionStage(s: RequestState): { stage: StageView; round: StageView[]; roundKey: string } | undefined {
  if (s.phase.name === 'pending_approval' && s.request) {
    const stage = s.view.stages[s.request.current];
    return stage?.status === 'open' ? { stage, round: s.view.stages, roundKey: 'request' } : undefined;
  }
  const ext = extensionStage(s);
  const view = s.view.extension;
  if (ext && s.phase.name === 'active' && view) {
    return { stage: ext.stage, round: view.stages, roundKey: `ext${view.round ?? 0}` };
  }
  return undefined;
}

export function checkDecide(s: RequestState, input: DecisionInput): void {
  const open = decisionStage(s);
  checkDecision(open?.stage, open?.round ?? [], input, selfIds(s), s.view.status, s.view.id);
}

/**
 * Applies everything that is due: accepted messages, clocks, settled stages. Called after every change and every
 * wake-up; idempotent when nothing is due.
 */
export function advance(s: RequestState, now: number): void {
  runReviewClock(s, now);
  const phase = s.phase;
  switch (phase.name) {
    case 'validating':
    case 'closing':
    case 'closed':
      return;
    case 'pending_approval':
      return advanceApproval(s, now);
    case 'awaiting_seat': {
      // Nothing granted yet: a cancel (or grantflow's revoke) closes it, and the closing frees its place in line.
      const stop = stopping(s);
      if (stop) return close(s, 'cancelled', stop.by);
      return runSeatClock(s, now);
    }
    case 'provisioning': {
      if (s.grant?.connector.type !== 'manual') return;
      const stop = stopping(s);
      if (stop) {
        cancelFulfilment(s);
        return endOrClose(s, stop, now);
      }
      if (!fulfilled(s, 'grant') && !taskOpen(s, 'grant')) return openFulfilment(s, 'grant', now);
      if (overdue(s, now) === 'grant') {
        return fail(s, 'provisioning', `No fulfiller completed the grant task within ${slaText(s)}.`, now);
      }
      return;
    }
    case 'active': {
      if (s.pending.revoke) {
        closeExtension(s, 'cancelled', now);
        return beginRevoking(s, { end: 'revoked', by: s.pending.revoke.by }, now);
      }
      const grant = s.view.grant;
      if (grant && now >= Date.parse(grant.expiresAt)) {
        closeExtension(s, 'cancelled', now);
        return beginRevoking(s, { end: 'expired', by: 'system' }, now);
      }
      return advanceExtension(s, now);
    }
    case 'revoking': {
      if (s.grant?.connector.type !== 'manual') return;
      if (!fulfilled(s, 'revoke') && !taskOpen(s, 'revoke')) return openFulfilment(s, 'revoke', now);
      if (overdue(s, now) === 'revoke') {
        return fail(s, 'revocation', `No fulfiller confirmed the removal within ${slaText(s)}.`, now, phase);
      }
      return;
    }
    case 'failed': {
      const stop = stopping(s);
      if (phase.action === 'provisioning' && stop) return endOrClose(s, stop, now);
      // A revoke task done by hand while the request reads failed: the access is gone, finish the revocation.
      if (phase.action === 'revocation' && fulfilled(s, 'revoke') && phase.end) {
        return enter(s, { name: 'revoking', ...phase.end, attempt: phase.attempt + 1 });
      }
      return;
    }
  }
}

function advanceApproval(s: RequestState, now: number): void {
  const round = s.request;
  if (!round) return;
  if (s.pending.cancel) return close(s, 'cancelled', s.pending.cancel.by);
  const stage = s.view.stages[round.current];
  const spec = round.specs[round.current];
  if (!stage || !spec) return;
  if (stage.status === 'open' && runClock(s, stage, spec, now, `req:${stage.name}`, selfIds(s))) {
    closeStage(s, stage, 'timed_out', now);
  }
  if (stage.status === 'denied') return close(s, 'denied', 'system');
  if (stage.status === 'timed_out') return close(s, 'timed_out', 'system');
  if (stage.status !== 'approved') return;
  round.current++;
  const next = s.view.stages[round.current];
  const nextSpec = round.specs[round.current];
  if (next && nextSpec) return openStage(s, next, nextSpec, now, `req:${next.name}`);
  record(s, now, 'approved', 'system', { stages: s.view.stages.map((st) => st.name) });
  startProvisioning(s, now);
}

/** Closes a request that holds no access: frees its claim first (the main loop), then shows the end. */
function close(s: RequestState, status: FinalStatus, by: string): void {
  enter(s, { name: 'closing', status, by });
}

/** A revoke (by grantflow's automation) or a cancel accepted before the grant became active, if any. */
function stopping(s: RequestState): EndState | undefined {
  if (s.pending.revoke) return { end: 'revoked', by: s.pending.revoke.by };
  if (s.pending.cancel) return { end: 'cancelled', by: s.pending.cancel.by };
  return undefined;
}

/** Where a request goes when it ends before its grant became active: through a revocation if access may exist. */
function endOrClose(s: RequestState, end: EndState, now: number): void {
  if (s.accessMayExist) return beginRevoking(s, end, now);
  close(s, 'cancelled', end.by);
}

function beginRevoking(s: RequestState, end: EndState, now: number): void {
  record(s, now, end.end === 'expired' ? 'expiring' : 'revoke_started', end.by, { end: end.end });
  enter(s, { name: 'revoking', ...end, attempt: 1 });
}

/** The connector gave up (or a fulfiller missed the SLA): the request shows failed and operators are alerted. */
export function fail(
  s: RequestState,
  action: 'provisioning' | 'revocation',
  failure: string,
  now: number,
  revoking?: Extract<RequestState['phase'], { name: 'revoking' }>,
): void {
  const attempt = s.phase.name === 'provisioning' || s.phase.name === 'revoking' ? s.phase.attempt : 1;
  record(s, now, `${action}_failed`, 'system', { failure, attempt });
  notify(
    s,
    `${action}_failed:${attempt}`,
    [...(s.grant?.operators ?? []), s.view.requester],
    action === 'revocation' ? 'ALERT: access could not be removed' : 'Access change failed',
    `${failure} ${describe(s)}`,
  );
  enter(s, {
    name: 'failed',
    action,
    failure,
    attempt,
    ...(revoking && { end: { end: revoking.end, by: revoking.by } }),
  });
}

/** The connector granted: the grant counts from this moment. */
export function activated(s: RequestState, startedAt: string, expiresAt: string, now: number): void {
  if (s.phase.name !== 'provisioning' || !s.grant) return;
  s.view.grant = { startedAt, expiresAt, extensions: 0, connector: s.grant.connector.type };
  record(s, now, 'provisioned', 'system', { startedAt, expiresAt });
  enter(s, { name: 'active' });
  notify(s, 'active', [s.view.requester], 'Access granted', `${describe(s)} until ${expiresAt}.`);
  // A cancel or revoke accepted while the connector worked: the access just granted goes again at once.
  if (s.pending.revoke) beginRevoking(s, { end: 'revoked', by: s.pending.revoke.by }, now);
  else if (s.pending.cancel) beginRevoking(s, { end: 'cancelled', by: s.pending.cancel.by }, now);
}

/** The access is gone at the target (or another grant still holds it there). */
export function revoked(s: RequestState, revokedAtTarget: boolean, now: number): void {
  if (s.phase.name !== 'revoking') return;
  const { end, by } = s.phase;
  if (s.view.grant) s.view.grant.endedAt = new Date(now).toISOString();
  record(s, now, end, by, {
    reason: end === 'revoked' ? s.pending.revoke?.reason : s.pending.cancel?.reason,
    revokedAtTarget,
  });
  enter(s, { name: 'closing', status: end, by, recorded: true });
}

/** The claim is free: the request shows its end. */
export function closed(s: RequestState, now: number): void {
  if (s.phase.name !== 'closing') return;
  const { status, by, recorded } = s.phase;
  for (const stage of s.view.stages)
    if (stage.status === 'waiting' || stage.status === 'open') stage.status = 'cancelled';
  closeExtension(s, 'cancelled', now);
  if (!recorded) record(s, now, status, by, {});
  s.view.pendingApprovers = [];
  enter(s, { name: 'closed', status });
  if (status !== 'rejected') {
    notify(s, `closed:${status}`, [s.view.requester], `Access request ${status.replace('_', ' ')}`, describe(s));
  }
}

// ---------- cancel, revoke, retry ----------

function operators(s: RequestState): readonly string[] {
  return s.grant?.operators ?? [];
}

export function checkCancel(s: RequestState, input: ActorInput): void {
  if (input.by !== s.view.requester && !operators(s).includes(input.by)) {
    refuse('NotAllowed', 'Only the requester, security or an admin can cancel this request.');
  }
  const p = s.phase;
  const open =
    p.name === 'validating' ||
    p.name === 'pending_approval' ||
    p.name === 'awaiting_seat' ||
    p.name === 'provisioning' ||
    (p.name === 'failed' && p.action === 'provisioning');
  if (!open || s.pending.cancel) {
    refuse(
      'InvalidState',
      `The request can no longer be cancelled (status: ${s.view.status}); revoke the grant instead.`,
    );
  }
}

export function applyCancel(s: RequestState, input: ActorInput, now: number): void {
  s.pending.cancel = input;
  record(s, now, 'cancel_requested', input.by, { reason: input.reason });
}

export function checkRevoke(s: RequestState, input: ActorInput): void {
  if (input.by === SYSTEM_ACTOR) return checkSystemRevoke(s);
  const spec = s.grant;
  if (s.phase.name !== 'active' || !spec || s.pending.revoke) {
    refuse('InvalidState', `Only an active grant can be revoked (status: ${s.view.status}).`);
  }
  if (!selfIds(s).includes(input.by) && !spec.revokers.includes(input.by)) {
    refuse('NotAllowed', 'Only the resource owners, security, admins or the holder can revoke this grant.');
  }
}

/**
 * grantflow's own automation (a leaver's offboarding, an access review) ends a request in whatever phase it is in:
 * before the grant as a cancel, once granted (or while the connector grants) as a revoke. Refused only when the
 * request is already ending.
 */
function checkSystemRevoke(s: RequestState): void {
  const p = s.phase;
  const ending =
    p.name === 'revoking' ||
    p.name === 'closing' ||
    p.name === 'closed' ||
    (p.name === 'failed' && p.action === 'revocation') ||
    s.pending.revoke !== undefined;
  if (ending) refuse('InvalidState', `The request is already ending (status: ${s.view.status}).`);
}

export function applyRevoke(s: RequestState, input: ActorInput, now: number): void {
  const p = s.phase;
  const granted = p.name === 'active' || p.name === 'provisioning';
  if (input.by === SYSTEM_ACTOR && !granted) {
    // Nothing granted yet: the request is cancelled, through a revocation if access may exist (advance decides).
    record(s, now, 'cancel_requested', input.by, { reason: input.reason });
    s.pending.cancel ??= input;
    return;
  }
  s.pending.revoke = input;
  record(s, now, 'revoke_requested', input.by, { reason: input.reason });
}

export function checkRetry(s: RequestState, input: ActorInput): void {
  if (s.phase.name !== 'failed')
    refuse('InvalidState', `Only a failed request can be retried (status: ${s.view.status}).`);
  if (!operators(s).includes(input.by)) refuse('NotAllowed', 'Only security or an admin can retry a failed request.');
}

export function applyRetry(s: RequestState, input: ActorInput, now: number): void {
  const p = s.phase;
  if (p.name !== 'failed') return;
  record(s, now, 'retried', input.by, { action: p.action, attempt: p.attempt + 1 });
  if (p.action === 'provisioning') return enter(s, { name: 'provisioning', attempt: p.attempt + 1 });
  const end: EndState = p.end ?? { end: 'revoked', by: input.by };
  // A manual revoke task that missed its SLA is asked again, with a new task and notification.
  if (s.grant?.connector.type === 'manual' && !fulfilled(s, 'revoke')) s.view.fulfilment = undefined;
  enter(s, { name: 'revoking', ...end, attempt: p.attempt + 1 });
}

// ---------- reads ----------

/** Who the request waits on now (stages, extension, review), for the view and the search attribute. */
export function refreshPending(s: RequestState): void {
  const open: StageView[] = [];
  const decision = decisionStage(s);
  if (decision) open.push(decision.stage);
  if (s.view.review?.status === 'open') open.push(s.view.review);
  const f = s.view.fulfilment;
  // A fulfiller's open task is in their inbox too.
  const fulfillers = f && (f.status === 'open' || (f.task === 'revoke' && f.status === 'overdue')) ? f.fulfillers : [];
  const pending = [...new Set([...open.flatMap(waitingOn), ...fulfillers])].sort();
  if (pending.join() !== s.view.pendingApprovers.join()) {
    s.view.pendingApprovers = pending;
    touch(s);
  }
}

/** The next moment something is due without any message: a stage clock, the expiry, a task's SLA, the review. */
export function nextWake(s: RequestState): number {
  const times = [reviewWake(s), fulfilmentWake(s), seatWake(s)];
  if (s.phase.name === 'pending_approval' && s.request) {
    const stage = s.view.stages[s.request.current];
    const spec = s.request.specs[s.request.current];
    if (stage && spec) times.push(nextTick(stage, spec));
  }
  if (s.phase.name === 'active') {
    if (s.view.grant) times.push(Date.parse(s.view.grant.expiresAt));
    times.push(extensionWake(s));
  }
  return Math.min(...times);
}

/** Whether the main loop must call out (an activity) rather than wait. */
export function needsWork(s: RequestState): boolean {
  const p = s.phase;
  if (p.name === 'validating' || p.name === 'closing') return true;
  if (p.name === 'awaiting_seat') return seatDue(s);
  if (p.name === 'provisioning') return s.grant?.connector.type !== 'manual' || fulfilled(s, 'grant');
  if (p.name === 'revoking') return s.grant?.connector.type !== 'manual' || fulfilled(s, 'revoke');
  return s.view.extension?.status === 'evaluating' && p.name === 'active';
}

export type { EndStatus };

function slaText(s: RequestState): string {
  const c = s.grant?.connector;
  return c?.type === 'manual' ? c.sla : 'its SLA';
}

function reasonsText(s: RequestState): string {
  return s.view.reasons.map((r) => r.message).join(' ');
}
