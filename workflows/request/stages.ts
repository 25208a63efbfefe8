import type { ResolvedStage } from '../../domain/model';
import { stageTimes } from '../../domain/working-time';
import type { DecisionInput, StageView } from '../messages';
import { refuse } from './refuse';
import { describe, notify, record, touch, type RequestState } from './state';

/**
 * Opens a stage now: its deadline, escalation and reminders count from this moment, in wall-clock time or, for a
 * business-hours stage, in its approvers' working time (the deadlines are then kept in the view, with the calendar).
 */
export function openStage(s: RequestState, stage: StageView, spec: ResolvedStage, now: number, key: string): void {
  stage.status = 'open';
  stage.openedAt = new Date(now).toISOString();
  // Runs recorded before business hours counted keep wall-clock deadlines.
  const times = spec.workingTime && s.patches?.businessHours ? stageTimes(spec.workingTime, now, spec) : undefined;
  if (spec.workingTime && times) {
    stage.calendar = spec.workingTime.calendar;
    stage.deadlineAt = new Date(times.deadlineAt).toISOString();
    stage.escalatesAt = times.escalatesAt !== undefined ? new Date(times.escalatesAt).toISOString() : undefined;
    stage.reminders = times.reminders.map((r) => ({ at: new Date(r.at).toISOString(), approvers: r.approvers }));
  } else {
    stage.deadlineAt = new Date(now + spec.deadlineMs).toISOString();
    stage.escalatesAt =
      spec.escalateAfterMs !== undefined ? new Date(now + spec.escalateAfterMs).toISOString() : undefined;
  }
  stage.remindersSent = 0;
  record(s, now, 'stage_opened', 'system', { stage: stage.name, approvers: stage.approvers, required: stage.required });
  notify(s, `${key}:open`, stage.approvers, `Your decision is needed: ${s.view.entitlement}`, describe(s));
}

export function closeStage(s: RequestState, stage: StageView, status: StageView['status'], now: number): void {
  stage.status = status;
  stage.closedAt = new Date(now).toISOString();
  touch(s);
}

export function waitingOn(stage: StageView): string[] {
  return stage.approvers.filter((id) => !stage.decisions.some((d) => d.approver === id));
}

/**
 * Runs an open stage's clock: escalation, reminders and the deadline that are due by `now`. Returns true when the
 * deadline passed (the caller closes the stage as timed out).
 */
export function runClock(
  s: RequestState,
  stage: StageView,
  spec: ResolvedStage,
  now: number,
  key: string,
  self: readonly string[],
): boolean {
  if (stage.status !== 'open' || !stage.openedAt) return false;
  const clock = clockOf(stage, spec);
  if (now >= clock.deadline) {
    record(s, now, 'stage_timed_out', 'system', { stage: stage.name });
    return true;
  }
  if (clock.escalates !== undefined && !stage.escalated && now >= clock.escalates) {
    // Escalation never lands on the requester or the beneficiary.
    const added = stage.fallback.filter((id) => !stage.approvers.includes(id) && !self.includes(id));
    stage.approvers.push(...added);
    stage.escalated = true;
    record(s, now, 'escalated', 'system', { stage: stage.name, added });
    notify(s, `${key}:escalated`, added, `Escalated to you: ${s.view.entitlement}`, describe(s));
    notify(
      s,
      `${key}:escalated:requester`,
      [s.view.requester],
      'Your request was escalated',
      `Stage ${stage.name} had no decision in time; it now also waits on ${added.join(', ') || 'nobody new'}.`,
    );
  }
  let sent = stage.remindersSent ?? 0;
  while (sent < clock.reminders.length && now >= (clock.reminders[sent]?.at as number)) {
    const to = clock.reminders[sent]?.approvers;
    sent++;
    // A business-hours reminder goes to the approvers of its zone; those escalation added have none, so any.
    const listed = new Set(clock.reminders.flatMap((r) => r.approvers ?? []));
    const waiting = waitingOn(stage).filter((id) => !to || to.includes(id) || !listed.has(id));
    if (to && waiting.length === 0) continue;
    record(s, now, 'reminded', 'system', { stage: stage.name, approvers: waiting });
    notify(s, `${key}:reminder:${sent}`, waiting, `Reminder: ${s.view.entitlement} waits for you`, describe(s));
    notify(
      s,
      `${key}:reminder:${sent}:requester`,
      [s.view.requester],
      'Your request is still waiting',
      `Stage ${stage.name} waits on ${waiting.join(', ')}; it closes at ${stage.deadlineAt}.`,
    );
  }
  stage.remindersSent = sent;
  return false;
}

/** The next moment the stage's clock has something to do. */
export function nextTick(stage: StageView, spec: ResolvedStage): number {
  if (stage.status !== 'open' || !stage.openedAt) return Infinity;
  const clock = clockOf(stage, spec);
  const times = [clock.deadline];
  if (clock.escalates !== undefined && !stage.escalated) times.push(clock.escalates);
  const next = clock.reminders[stage.remindersSent ?? 0];
  if (next !== undefined) times.push(next.at);
  return Math.min(...times);
}

interface StageClock {
  deadline: number;
  escalates?: number;
  /** In order; `approvers` only for business-hours reminders, which are per zone. */
  reminders: { at: number; approvers?: string[] }[];
}

/** A stage's times: those kept in the view for a business-hours stage, else counted from its opening. */
function clockOf(stage: StageView, spec: ResolvedStage): StageClock {
  if (stage.calendar && stage.deadlineAt) {
    return {
      deadline: Date.parse(stage.deadlineAt),
      ...(stage.escalatesAt !== undefined && { escalates: Date.parse(stage.escalatesAt) }),
      reminders: (stage.reminders ?? []).map((r) => ({ at: Date.parse(r.at), approvers: r.approvers })),
    };
  }
  const opened = Date.parse(stage.openedAt ?? '');
  return {
    deadline: opened + spec.deadlineMs,
    ...(spec.escalateAfterMs !== undefined && { escalates: opened + spec.escalateAfterMs }),
    reminders: [...spec.remindersMs].sort((a, b) => a - b).map((ms) => ({ at: opened + ms })),
  };
}

/**
 * Throws the refusal a decision deserves; the workflow, not the API, is the authority on eligibility. `round` is
 * the round the stage belongs to: within it, each stage needs a different person.
 */
export function checkDecision(
  stage: StageView | undefined,
  round: readonly StageView[],
  input: DecisionInput,
  self: readonly string[],
  status: string,
  id: string,
): asserts stage is StageView {
  if (!stage || stage.status !== 'open') {
    refuse('StageClosed', `No stage of request ${id} is open for decisions (status: ${status}).`);
  }
  if (self.includes(input.approver)) {
    refuse('SelfApproval', 'You cannot decide on a request that you made or that would give you access.');
  }
  const earlier = round.find((st) => st.decisions.some((d) => d.approver === input.approver));
  if (earlier === stage) refuse('AlreadyDecided', `You already decided on stage ${stage.name} of this request.`);
  if (earlier) {
    refuse('AlreadyDecided', `You already decided on stage ${earlier.name}; another person must decide ${stage.name}.`);
  }
  if (!stage.approvers.includes(input.approver)) {
    refuse('NotEligible', `You are not an eligible approver for stage ${stage.name} of this request.`);
  }
}

/** Records a decision on the stage and settles the stage when its quorum is met or someone denies. */
export function applyDecision(
  s: RequestState,
  stage: StageView,
  input: DecisionInput,
  via: 'update' | 'signal',
  now: number,
  round: string,
): void {
  stage.decisions.push({
    approver: input.approver,
    decision: input.decision,
    comment: input.comment,
    at: new Date(now).toISOString(),
    via,
    ...(input.via && { channel: input.via }),
  });
  record(s, now, 'decision_recorded', input.approver, {
    round,
    stage: stage.name,
    decision: input.decision,
    comment: input.comment,
    via,
    ...(input.via && { channel: input.via }),
  });
  const approvals = stage.decisions.filter((d) => d.decision === 'approve').length;
  // One denial settles the stage: access needs every stage's consent.
  if (input.decision === 'deny') closeStage(s, stage, 'denied', now);
  else if (approvals >= stage.required) closeStage(s, stage, 'approved', now);
}
