import type { RequestProjection } from '../../activities/types';
import { OPEN_STATUSES } from '../../domain/model';
import { tagKeywords } from '../../domain/taxonomy';
import type { RequestView } from '../messages';

/** The row that lists, inboxes and KPIs read, from the view as published. */
export function projectionOf(view: RequestView, revision: number): RequestProjection {
  const stages = [...view.stages, ...(view.extension?.stages ?? [])];
  const decisions = stages.flatMap((s) => s.decisions);
  const firstDecision = decisions.map((d) => d.at).sort()[0];
  const approvedStage = [...view.stages].reverse().find((s) => s.status === 'approved');
  const allApproved = view.stages.length > 0 && view.stages.every((s) => s.status === 'approved');
  return {
    requestId: view.id,
    revision,
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
      view.plan?.kind === 'stages' ? (allApproved ? approvedStage?.closedAt : undefined) : view.grant?.startedAt,
    startedAt: view.grant?.startedAt,
    expiresAt: view.grant?.expiresAt,
    endedAt: OPEN_STATUSES.includes(view.status) ? undefined : (view.grant?.endedAt ?? view.updatedAt),
    escalated: stages.some((s) => s.escalated),
    autoApproved: view.plan?.kind === 'auto-approve',
    // The column lists every owner: only the search attribute has a size limit.
    ...(view.tags && { tags: tagKeywords(view.tags, Infinity) }),
    view,
  };
}

export function summaryOf(v: RequestView): string {
  const lines = [
    `**${v.entitlement}** for **${v.beneficiary}** (requested by ${v.requester}) — **${v.status}**`,
    v.risk ? `Risk: ${v.risk.level} (${v.risk.score}): ${v.risk.reasons.join('; ')}` : '',
    v.pendingApprovers.length ? `Waiting on: ${v.pendingApprovers.join(', ')}` : '',
    v.grant
      ? `Grant: ${v.grant.startedAt} → ${v.grant.expiresAt}${v.grant.endedAt ? ` (ended ${v.grant.endedAt})` : ''}`
      : '',
    v.failure ? `Failed (${v.failedAction}): ${v.failure}` : '',
    v.reviewState ? `Break-glass review: ${v.reviewState}` : '',
    v.reasons.length ? `Rejected: ${v.reasons.map((r) => r.message).join(' ')}` : '',
  ];
  return lines.filter(Boolean).join('\n\n');
}
