import type { Evaluation } from '../../domain/model';
import type { ExtendInput, StageView } from '../messages';
import { refuse } from './refuse';
import { closeStage, nextTick, openStage, runClock } from './stages';
import { record, selfIds, stageViewOf, touch, type RequestState } from './state';

// An extension is a new period of access: the policy is asked again for the new total duration on today's
// directory, and the period needs the decisions that answer asks for (DESIGN "The promise", 1).

export function extensionInFlight(s: RequestState): boolean {
  const status = s.view.extension?.status;
  return status === 'evaluating' || status === 'pending_approval';
}

export function totalAfter(s: RequestState, durationMs: number): number {
  const grant = s.view.grant;
  if (!grant) return Infinity;
  return Date.parse(grant.expiresAt) + durationMs - Date.parse(grant.startedAt);
}

export function checkExtension(s: RequestState, input: ExtendInput): void {
  const grant = s.view.grant;
  if (s.phase.name !== 'active' || !grant || !s.grant || s.pending.revoke) {
    refuse('InvalidState', `Only an active grant can be extended (status: ${s.view.status}).`);
  }
  if (!selfIds(s).includes(input.by))
    refuse('NotAllowed', 'Only the requester or the beneficiary can extend this grant.');
  if (s.view.breakGlass)
    refuse('NotAllowed', 'A break-glass grant cannot be extended; request regular access instead.');
  // One extension at a time: a second one is refused until the first is decided, so they cannot add up unseen.
  if (extensionInFlight(s)) refuse('InvalidState', 'An extension of this grant is already waiting for a decision.');
  if (totalAfter(s, input.durationMs) > s.grant.maxDurationMs) {
    refuse(
      'ExtensionTooLong',
      `The extension would make the grant last longer than the entitlement allows (${s.grant.maxDurationMs / 3600000} hours).`,
    );
  }
}

export function beginExtension(s: RequestState, input: ExtendInput, now: number): void {
  const round = ++s.counters.extension;
  s.view.extension = {
    requestedBy: input.by,
    durationMs: input.durationMs,
    justification: input.justification,
    status: 'evaluating',
    stages: [],
    round,
    requestedAt: new Date(now).toISOString(),
  };
  s.extension = undefined;
  record(s, now, 'extension_requested', input.by, {
    round,
    durationMs: input.durationMs,
    justification: input.justification,
  });
}

/** Applies the policy's answer for the extension being evaluated. */
export function extensionEvaluated(s: RequestState, evaluation: Evaluation, now: number): void {
  const ext = s.view.extension;
  if (!ext || ext.status !== 'evaluating') return;
  if (s.phase.name !== 'active' || s.pending.revoke) return closeExtension(s, 'cancelled', now);
  if (!evaluation.valid) {
    ext.reasons = evaluation.reasons;
    ext.risk = evaluation.risk;
    ext.policyVersion = evaluation.policyVersion;
    return closeExtension(s, 'rejected', now, {
      reasons: evaluation.reasons.map((r) => r.message),
      ...(evaluation.policyVersion !== undefined && { policyVersion: evaluation.policyVersion }),
    });
  }
  ext.rule = evaluation.plan.rule;
  ext.risk = evaluation.risk;
  ext.policyVersion = evaluation.policyVersion;
  const total = totalAfter(s, ext.durationMs);
  const allowance = evaluation.grant.extensionWithoutApprovalMs;
  const free = evaluation.plan.kind === 'auto-approve' || (allowance !== undefined && total <= allowance);
  record(s, now, 'extension_evaluated', 'system', {
    round: ext.round,
    rule: ext.rule,
    risk: ext.risk.level,
    policyVersion: ext.policyVersion,
    needsApproval: !free,
  });
  if (free || evaluation.plan.kind !== 'stages') return applyExtension(s, 'system', now);
  s.extension = { specs: evaluation.plan.stages, current: 0 };
  ext.stages = evaluation.plan.stages.map((spec) => stageViewOf(spec, selfIds(s)));
  ext.status = 'pending_approval';
  const first = ext.stages[0];
  const spec = evaluation.plan.stages[0];
  if (first && spec) openStage(s, first, spec, now, `ext${ext.round}:${first.name}`);
}

function applyExtension(s: RequestState, by: string, now: number): void {
  const grant = s.view.grant;
  const ext = s.view.extension;
  if (!grant || !ext) return;
  grant.expiresAt = new Date(Date.parse(grant.expiresAt) + ext.durationMs).toISOString();
  grant.extensions++;
  ext.status = 'approved';
  record(s, now, 'extended', by, { round: ext.round, expiresAt: grant.expiresAt, extensions: grant.extensions });
}

export function closeExtension(
  s: RequestState,
  outcome: 'denied' | 'timed_out' | 'cancelled' | 'rejected',
  now: number,
  data: Record<string, unknown> = {},
): void {
  const ext = s.view.extension;
  if (!ext || !extensionInFlight(s)) return;
  for (const stage of ext.stages) if (stage.status === 'open' || stage.status === 'waiting') stage.status = 'cancelled';
  ext.status = outcome;
  record(s, now, 'extension_closed', 'system', { round: ext.round, outcome, ...data });
  touch(s);
}

/** The extension's open stage, if it has one. */
export function extensionStage(s: RequestState): { stage: StageView; key: string } | undefined {
  const ext = s.view.extension;
  const round = s.extension;
  if (ext?.status !== 'pending_approval' || !round) return undefined;
  const stage = ext.stages[round.current];
  return stage ? { stage, key: `ext${ext.round}:${stage.name}` } : undefined;
}

/** Moves the extension's round on: its clock, its next stage, its outcome. */
export function advanceExtension(s: RequestState, now: number): void {
  const ext = s.view.extension;
  const round = s.extension;
  const open = extensionStage(s);
  if (!ext || !round || !open) return;
  const spec = round.specs[round.current];
  if (!spec) return;
  const { stage, key } = open;
  if (stage.status === 'open' && runClock(s, stage, spec, now, key, selfIds(s))) closeStage(s, stage, 'timed_out', now);
  if (stage.status === 'denied' || stage.status === 'timed_out') return closeExtension(s, stage.status, now);
  if (stage.status !== 'approved') return;
  round.current++;
  const next = ext.stages[round.current];
  const nextSpec = round.specs[round.current];
  if (next && nextSpec) return openStage(s, next, nextSpec, now, `ext${ext.round}:${next.name}`);
  applyExtension(s, 'system', now);
}

export function extensionWake(s: RequestState): number {
  const open = extensionStage(s);
  const spec = s.extension?.specs[s.extension.current];
  return open && spec ? nextTick(open.stage, spec) : Infinity;
}
