import type { AuditEventInput, Notification } from '../../activities/types';
import type { FinalStatus, GrantSpec, ResolvedStage, Status } from '../../domain/model';
import type { ActorInput, RequestView, StageView } from '../messages';

/** How a live grant ends; `cancelled` when a cancel arrived after access may already have been granted. */
export type EndStatus = 'expired' | 'revoked' | 'cancelled';

/**
 * Where the request is in its lifecycle, with the data of that phase. Changed only by `enter()`; every transition
 * of the lifecycle is a call of it in machine.ts.
 */
export type Phase =
  | { name: 'validating' }
  | { name: 'pending_approval' }
  | { name: 'provisioning'; attempt: number }
  /**
   * Approved, waiting for a seat of a licence-limited entitlement (status `provisioning`, `view.seat` the place in
   * line). `since`: when it joined the line; `recheckAt`: when it asks again (absent: ask now).
   */
  | { name: 'awaiting_seat'; since: string; recheckAt?: number }
  | { name: 'active' }
  | { name: 'revoking'; end: EndStatus; by: string; attempt: number }
  | { name: 'failed'; action: 'provisioning' | 'revocation'; failure: string; attempt: number; end?: EndState }
  /** Decided, freeing the claim before the view shows the end. */
  | { name: 'closing'; status: FinalStatus; by: string; recorded?: boolean }
  | { name: 'closed'; status: FinalStatus };

export interface EndState {
  end: EndStatus;
  by: string;
}

/** A round of approval: the request's own stages, or one extension's. */
export interface Round {
  specs: ResolvedStage[];
  /** The index of the stage that is open or next. */
  current: number;
}

/**
 * Everything a request is, in one object that continue-as-new carries whole: nothing the next run needs lives
 * anywhere else.
 */
export interface RequestState {
  version: 2;
  view: RequestView;
  /** What reads see: the view as it was when the bookkeeping that records it was written. */
  published: RequestView;
  phase: Phase;
  grant?: GrantSpec;
  request?: Round;
  extension?: Round;
  reviewSpec?: ResolvedStage;
  /** Messages accepted and waiting for the main loop to act on them. */
  pending: { cancel?: ActorInput; revoke?: ActorInput };
  /** Set once a connector was asked to grant (it may have applied it) or a person fulfilled the grant by hand. */
  accessMayExist: boolean;
  counters: { audit: number; revision: number; extension: number; fulfilment: number };
  outbox: { events: AuditEventInput[]; notifications: Notification[]; queued: number; flushed: number };
  /** Bumped by every accepted message, so that the main loop wakes up. */
  tick: number;
  /**
   * The request's own clock (ms), in runs that have it (workflow.ts says why): moved only by what the history holds
   * (the run's start, a timer that fired, a message, a grant's start), so that a replay sees the same times.
   */
  clock?: number;
  /**
   * The patches this run took, each asked once at the run's start (workflow.ts says why): a patch asked in the middle
   * of a run would place its marker wherever that call happens to fall among the run's commands.
   */
  patches?: { businessHours: boolean; seats?: boolean; reroute?: boolean };
}

export function initialState(view: RequestView): RequestState {
  return {
    version: 2,
    view,
    published: clone(view),
    phase: { name: 'validating' },
    pending: {},
    accessMayExist: false,
    counters: { audit: 0, revision: 0, extension: 0, fulfilment: 0 },
    outbox: { events: [], notifications: [], queued: 0, flushed: 0 },
    tick: 0,
  };
}

/** The status a phase shows: the one mapping from phases to the status set in domain/. */
export function statusOf(phase: Phase, current: Status): Status {
  switch (phase.name) {
    case 'validating':
    case 'pending_approval':
    case 'provisioning':
    case 'active':
    case 'failed':
      return phase.name;
    // Access still exists while it is being removed (within the connector's budget).
    case 'revoking':
      return 'active';
    // Approved and in line for a seat: its provisioning has not started.
    case 'awaiting_seat':
      return 'provisioning';
    case 'closing':
      return current;
    case 'closed':
      return phase.status;
  }
}

/** The one place where the phase (and so the status) changes. */
export function enter(s: RequestState, phase: Phase): void {
  s.phase = phase;
  s.view.status = statusOf(phase, s.view.status);
  if (phase.name === 'failed') {
    s.view.failure = phase.failure;
    s.view.failedAction = phase.action;
  } else {
    s.view.failure = undefined;
    s.view.failedAction = undefined;
  }
  touch(s);
}

/** Marks the view changed: the next flush writes it. */
export function touch(s: RequestState): number {
  s.outbox.queued++;
  return s.outbox.queued;
}

const TIMELINE_LIMIT = 100;

/** Queues an audit event (idempotent per step: request id and a deterministic sequence number). */
export function record(
  s: RequestState,
  at: number,
  action: string,
  actor: string,
  data: Record<string, unknown> = {},
): void {
  const seq = ++s.counters.audit;
  const iso = new Date(at).toISOString();
  const who = actor || 'unknown';
  s.view.timeline.push({ at: iso, event: action, actor: who });
  if (s.view.timeline.length > TIMELINE_LIMIT) s.view.timeline.splice(0, s.view.timeline.length - TIMELINE_LIMIT);
  s.outbox.events.push({
    eventId: `${s.view.id}:${seq}:${action}`,
    requestId: s.view.id,
    actor: who,
    action,
    at: iso,
    data,
  });
  touch(s);
}

/** Queues a notification; `key` must name the round it belongs to, since keys are de-duplicated. */
export function notify(s: RequestState, key: string, to: readonly string[], subject: string, text: string): void {
  const recipients = [...new Set(to)].filter(Boolean);
  if (recipients.length === 0) return;
  s.outbox.notifications.push({ key: `${s.view.id}:${key}`, requestId: s.view.id, to: recipients, subject, text });
  touch(s);
}

export function describe(s: RequestState): string {
  const v = s.view;
  return `${v.requester} asks for ${v.entitlement} for ${v.beneficiary}: "${v.justification}" (request ${v.id}, status ${v.status}).`;
}

export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** People who may never decide, review or fulfil this request: the requester and the beneficiary. */
export function selfIds(s: RequestState): string[] {
  return [s.view.requester, s.view.beneficiary];
}

export function stageViewOf(spec: ResolvedStage, self: readonly string[]): StageView {
  return {
    name: spec.name,
    quorum: spec.quorum,
    required: spec.required,
    // The policy already leaves them out; this keeps any path (a stale directory, escalation) from adding them.
    approvers: spec.approvers.filter((id) => !self.includes(id)),
    fallback: spec.fallback.filter((id) => !self.includes(id)),
    status: 'waiting',
    escalated: false,
    decisions: [],
    remindersSent: 0,
  };
}
