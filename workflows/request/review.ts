import type { ResolvedStage } from '../../domain/model';
import type { ReviewInput } from '../messages';
import { refuse } from './refuse';
import { closeStage, nextTick, openStage, runClock } from './stages';
import { describe, notify, record, selfIds, stageViewOf, type RequestState } from './state';

// The mandatory post-incident review of a break-glass access: it runs beside the grant and outlives it.

export function openReview(s: RequestState, spec: ResolvedStage, now: number): void {
  s.reviewSpec = spec;
  s.view.review = stageViewOf(spec, selfIds(s));
  s.view.reviewState = 'pending';
  openStage(s, s.view.review, spec, now, 'review');
}

export function reviewOpen(s: RequestState): boolean {
  return s.view.review?.status === 'open';
}

/** Flags a review nobody did in time: an ignored review is a finding in itself. */
export function runReviewClock(s: RequestState, now: number): void {
  const review = s.view.review;
  if (!review || !s.reviewSpec || review.status !== 'open') return;
  if (!runClock(s, review, s.reviewSpec, now, 'review', selfIds(s))) return;
  closeStage(s, review, 'timed_out', now);
  review.outcome = 'flagged';
  s.view.reviewState = 'flagged';
  record(s, now, 'review_overdue', 'system', {});
  notify(s, 'review:overdue', s.grant?.operators ?? [], 'Break-glass review overdue', describe(s));
}

export function reviewWake(s: RequestState): number {
  return s.view.review && s.reviewSpec ? nextTick(s.view.review, s.reviewSpec) : Infinity;
}

export function checkReview(s: RequestState, input: ReviewInput): void {
  const review = s.view.review;
  if (!review || review.status !== 'open') refuse('StageClosed', 'This request has no open break-glass review.');
  if (selfIds(s).includes(input.by)) {
    refuse('SelfApproval', 'You cannot review a break-glass access that you invoked or held.');
  }
  if (!review.approvers.includes(input.by)) {
    refuse('NotEligible', 'You are not an eligible reviewer of this break-glass access.');
  }
}

export function applyReview(s: RequestState, input: ReviewInput, via: 'update' | 'signal', now: number): void {
  const review = s.view.review;
  if (!review) return;
  review.decisions.push({
    approver: input.by,
    decision: input.outcome === 'cleared' ? 'approve' : 'deny',
    comment: input.comment,
    at: new Date(now).toISOString(),
    via,
  });
  closeStage(s, review, 'approved', now);
  review.outcome = input.outcome;
  review.reviewedBy = input.by;
  review.comment = input.comment;
  s.view.reviewState = input.outcome;
  record(s, now, 'reviewed', input.by, { outcome: input.outcome, comment: input.comment, via });
}
