import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ExceptionPlan,
  GrantSpec,
  Quorum,
  Reason,
  RequestInput,
  ReviewState,
  Risk,
  Status,
} from '../domain/model';
import type { RequestTags } from '../domain/taxonomy';

// Wire names are stable verbs: running workflows depend on them, so never rename one.

export interface DecisionInput {
  /** Set by the API from the bearer token, or by an operator sending a signal. */
  approver: string;
  decision: 'approve' | 'deny';
  comment?: string;
  /** Where the person decided (domain/messages.ts decisionChannel), for the audit trail. */
  via?: 'api' | 'slack' | 'portal';
}
export interface DecisionResult {
  outcome: 'recorded';
  stage: string;
  /** The stage's state after this decision. */
  stageStatus: StageStatus;
  status: Status;
}

export interface ActorInput {
  by: string;
  reason?: string;
}
/** grantflow's offboarding hands a leaver's open approvals on: only `system` sends it (domain/model.ts SYSTEM_ACTOR). */
export interface RerouteInput {
  by: string;
  /** The approver who left. */
  leaver: string;
  reason?: string;
}
export interface RerouteResult {
  outcome: 'rerouted';
  /** Who the request waits on now. */
  pendingApprovers: string[];
  status: Status;
}
export interface ExtendInput {
  by: string;
  /** Added to the current expiry, in ms (the API parses the ISO-8601 duration). */
  durationMs: number;
  justification: string;
}
export interface ExtendResult {
  outcome: 'extended' | 'pending_approval';
  expiresAt: string;
}
export interface ReviewInput {
  by: string;
  outcome: 'cleared' | 'flagged';
  comment?: string;
}
export interface FulfilInput {
  by: string;
  comment?: string;
}
export interface MessageResult {
  outcome: 'recorded';
  status: Status;
}

/**
 * Why a message was refused. Validators throw an ApplicationFailure with one of these types, so a refused update
 * leaves no trace in the workflow history; the caller (API) answers with it and records the refused attempt.
 */
export const refusalTypes = [
  'SelfApproval',
  'NotEligible',
  'StageClosed',
  'AlreadyDecided',
  'InvalidState',
  'NotAllowed',
  'ExtensionTooLong',
  'ExtensionRefused',
  'Malformed',
] as const;
export type RefusalType = (typeof refusalTypes)[number];

export const decideUpdate = defineUpdate<DecisionResult, [DecisionInput]>('decide');
export const decideSignal = defineSignal<[DecisionInput]>('decide');
export const cancelUpdate = defineUpdate<MessageResult, [ActorInput]>('cancel');
export const cancelSignal = defineSignal<[ActorInput]>('cancel');
export const revokeUpdate = defineUpdate<MessageResult, [ActorInput]>('revoke');
export const revokeSignal = defineSignal<[ActorInput]>('revoke');
export const extendUpdate = defineUpdate<ExtendResult, [ExtendInput]>('extend');
export const reviewUpdate = defineUpdate<MessageResult, [ReviewInput]>('review');
export const reviewSignal = defineSignal<[ReviewInput]>('review');
export const fulfilUpdate = defineUpdate<MessageResult, [FulfilInput]>('fulfil');
/** An operator retries a failed provisioning or revocation. */
export const retrySignal = defineSignal<[ActorInput]>('retry');
export const retryUpdate = defineUpdate<MessageResult, [ActorInput]>('retry');
/** A leaver's open approvals go to the stage's fallback; only in runs that took patch `reroute`. */
export const rerouteUpdate = defineUpdate<RerouteResult, [RerouteInput]>('reroute');
export const rerouteSignal = defineSignal<[RerouteInput]>('reroute');
export const getRequestQuery = defineQuery<RequestView>('getRequest');

// ---------- The view: what the query, the API and the projection show ----------

export type StageStatus = 'waiting' | 'open' | 'approved' | 'denied' | 'timed_out' | 'cancelled';

export interface Decision {
  approver: string;
  decision: 'approve' | 'deny';
  comment?: string;
  at: string;
  via: 'update' | 'signal';
  /** Where the person decided: the API, Slack or the portal (absent for an operator's signal). */
  channel?: 'api' | 'slack' | 'portal';
}

export interface StageView {
  name: string;
  quorum: Quorum;
  required: number;
  /** Who may decide now (escalation adds the fallback). */
  approvers: string[];
  fallback: string[];
  status: StageStatus;
  escalated: boolean;
  decisions: Decision[];
  /** How many reminders went out. */
  remindersSent?: number;
  openedAt?: string;
  escalatesAt?: string;
  deadlineAt?: string;
  closedAt?: string;
  /** Set when the deadlines count business hours: which calendar, e.g. `business hours (…) in Europe/Berlin`. */
  calendar?: string;
  /** A business-hours stage's reminders: when, and to whom (in each approver's working hours). */
  reminders?: { at: string; approvers: string[] }[];
}

export interface ReviewView extends StageView {
  outcome?: Exclude<ReviewState, 'pending'>;
  reviewedBy?: string;
  comment?: string;
}

export interface FulfilmentView {
  task: 'grant' | 'revoke';
  fulfillers: string[];
  openedAt: string;
  dueAt: string;
  completedBy?: string;
  completedAt?: string;
  /** Which task of this request (1, 2, …); a retry opens a new one. */
  round?: number;
  /** `overdue`: a grant task is closed at its SLA; a revoke task stays open (access must still go). */
  status?: 'open' | 'completed' | 'overdue' | 'cancelled';
}

export interface GrantView {
  startedAt: string;
  expiresAt: string;
  endedAt?: string;
  extensions: number;
  connector: GrantSpec['connector']['type'];
}

/** A licence-limited entitlement's seat for this request: in line (with its place) or held. */
export interface SeatView {
  state: 'queued' | 'held';
  /** The place in line (1: next) while queued. */
  position?: number;
  limit: number;
  /** Seats in use when the request last asked. */
  used: number;
  queuedAt?: string;
  heldAt?: string;
}

export interface ExtensionView {
  requestedBy: string;
  durationMs: number;
  justification: string;
  /** `evaluating`: the policy is being asked again for the new total duration and today's directory. */
  status: 'evaluating' | 'pending_approval' | 'approved' | 'denied' | 'timed_out' | 'cancelled' | 'rejected';
  stages: StageView[];
  /** Which extension of this grant (1, 2, …). */
  round?: number;
  requestedAt?: string;
  /** The policy's answer for this extension: its rule, risk and version, or why it was refused. */
  rule?: string;
  risk?: Risk;
  policyVersion?: string;
  reasons?: Reason[];
}

export interface TimelineEntry {
  at: string;
  event: string;
  actor?: string;
  detail?: string;
}

export interface RequestView {
  id: string;
  workflowId: string;
  requester: string;
  beneficiary: string;
  entitlement: string;
  resource: string;
  breakGlass: boolean;
  justification: string;
  fields: Record<string, string>;
  status: Status;
  reviewState?: ReviewState;
  reasons: Reason[];
  existingRequestId?: string;
  risk?: Risk;
  plan?: { kind: 'auto-approve' | 'stages' | 'break-glass'; rule: string; policyVersion: string };
  /** Type, application, sensitivity, urgency and owners (domain/taxonomy.ts), from the policy's evaluation. */
  tags?: RequestTags;
  /** Set when the request was accepted as an exception to policy: what it waives and the control instead. */
  exception?: ExceptionPlan;
  stages: StageView[];
  pendingApprovers: string[];
  extension?: ExtensionView;
  review?: ReviewView;
  fulfilment?: FulfilmentView;
  grant?: GrantView;
  /** Set for an entitlement with a seat limit once the request was approved. */
  seat?: SeatView;
  failure?: string;
  /** What failed while the status reads `failed`: the grant, or its revocation (access may still exist). */
  failedAction?: 'provisioning' | 'revocation';
  submittedAt: string;
  updatedAt: string;
  /** The most recent steps; the audit trail keeps them all. */
  timeline: TimelineEntry[];
}

export interface AccessRequestArgs {
  requestId: string;
  requester: string;
  input: RequestInput;
  submittedAt: string;
  /** Set when the workflow continues as new with a live grant. */
  carried?: CarriedState;
  /** Continue as new past this many history events (default 2000); tests lower it. */
  historyLimit?: number;
  /** accessRequestV2: the whole state, carried by continue-as-new. */
  state?: unknown;
  /** accessRequestV2: attempts a connector gets before the request shows `failed` (default 12, about 3 minutes). */
  connectorAttempts?: number;
}

export interface CarriedState {
  view: RequestView;
  grant: GrantSpec;
  revision: number;
  auditSeq: number;
}

/** The view a request starts from, before validation; the API shows it when asked before the workflow can answer. */
export function initialView(args: AccessRequestArgs): RequestView {
  const { input } = args;
  return {
    id: args.requestId,
    workflowId: workflowIdFor(args.requestId),
    requester: args.requester,
    beneficiary: input.beneficiary ?? args.requester,
    entitlement: input.entitlement,
    resource: input.entitlement.split(':')[0] ?? '',
    breakGlass: input.breakGlass,
    justification: input.justification,
    fields: input.fields,
    status: 'validating',
    reasons: [],
    stages: [],
    pendingApprovers: [],
    submittedAt: args.submittedAt,
    updatedAt: args.submittedAt,
    timeline: [],
  };
}

export function workflowIdFor(requestId: string): string {
  return `access-request-${requestId}`;
}
