import { z } from 'zod';
import { actorId } from '../../domain/messages';
import { SYSTEM_ACTOR } from '../../domain/model';
import type { RerouteInput, StageView } from '../messages';
import { decisionStage } from './machine';
import { refuse } from './refuse';
import { waitingOn } from './stages';
import { describe, notify, record, selfIds, touch, type RequestState } from './state';

// A leaver's open approvals (DESIGN "Identity lifecycle"): the offboarding tells each request that waits on them, and
// the request hands the leaver's seat to the stage's fallback, the people escalation would have added.

export const rerouteMessage = z
  .object({ by: actorId, leaver: actorId, reason: z.string().trim().max(2000).optional() })
  .strict();

/** A stage that may still need the leaver, with the key its notifications are de-duplicated under. */
interface Seat {
  stage: StageView;
  key: string;
  open: boolean;
}

/** Every stage not yet settled: the open one (request or extension), the ones after it, and an open review. */
function seats(s: RequestState): Seat[] {
  const out: Seat[] = [];
  const decision = decisionStage(s);
  if (decision) {
    const prefix = decision.roundKey === 'request' ? 'req' : decision.roundKey;
    for (const stage of decision.round) {
      if (stage.status === 'open' || stage.status === 'waiting') {
        out.push({ stage, key: `${prefix}:${stage.name}`, open: stage.status === 'open' });
      }
    }
  }
  const review = s.view.review;
  if (review?.status === 'open') out.push({ stage: review, key: 'review', open: true });
  return out;
}

/** An approver the stage still waits on (or will), who has not decided. */
function names(seat: Seat, leaver: string): boolean {
  return waitingOn(seat.stage).includes(leaver) || seat.stage.fallback.includes(leaver);
}

/**
 * Only grantflow itself reroutes (the API never sends it); and only a request with an open stage that waits on the
 * leaver has anything to reroute, so a repeated or stray message is refused and changes nothing.
 */
export function checkReroute(s: RequestState, input: RerouteInput): void {
  if (input.by !== SYSTEM_ACTOR) {
    refuse('NotAllowed', 'Only grantflow’s own offboarding (system) can reroute a leaver’s approvals.');
  }
  if (!seats(s).some((seat) => seat.open && waitingOn(seat.stage).includes(input.leaver))) {
    refuse('StageClosed', `No open stage of request ${s.view.id} waits on ${input.leaver}.`);
  }
}

/**
 * Takes the leaver out of every unsettled stage and adds the stage's fallback in their place (never the requester,
 * the beneficiary or someone already there). The stage needs as many approvals as before: a reroute never makes
 * approval easier. The fallback is then spent, so the stage counts as escalated; a stage that can no longer reach
 * its count (nobody left to add) stays open to its deadline, and the requester is told.
 */
export function applyReroute(s: RequestState, input: RerouteInput, now: number): void {
  const self = selfIds(s);
  const changes: Record<string, unknown>[] = [];
  for (const seat of seats(s)) {
    if (!names(seat, input.leaver)) continue;
    const stage = seat.stage;
    stage.fallback = stage.fallback.filter((id) => id !== input.leaver);
    let added: string[] = [];
    const seated = waitingOn(stage).includes(input.leaver);
    if (seated) {
      stage.approvers = stage.approvers.filter((id) => id !== input.leaver);
      added = stage.fallback.filter((id) => !stage.approvers.includes(id) && !self.includes(id));
      stage.approvers.push(...added);
      stage.fallback = stage.fallback.filter((id) => !added.includes(id));
      if (added.length > 0) stage.escalated = true;
    }
    const approvals = stage.decisions.filter((d) => d.decision === 'approve').length;
    const unmet = approvals + waitingOn(stage).length < stage.required;
    changes.push({ stage: stage.name, key: seat.key, open: seat.open, added, required: stage.required, unmet });
    touch(s);
    // Only a stage that waited on the leaver has news for anyone; one that merely had them as fallback has none.
    if (!seat.open || !seated) continue;
    notify(
      s,
      `${seat.key}:rerouted:${input.leaver}`,
      added,
      `Your decision is needed: ${s.view.entitlement}`,
      describe(s),
    );
    notify(
      s,
      `${seat.key}:rerouted:${input.leaver}:requester`,
      [s.view.requester],
      'Your request has a new approver',
      unmet
        ? `${input.leaver} left and nobody can take their place in stage ${stage.name}; it closes at ${stage.deadlineAt}.`
        : `${input.leaver} left; stage ${stage.name} now waits on ${waitingOn(stage).join(', ')}.`,
    );
  }
  record(s, now, 'rerouted', input.by, { leaver: input.leaver, reason: input.reason, stages: changes });
}
