import type { Evaluation, GrantSpec, RequestInput, ReviewState, Risk, Status } from '../domain/model';
import type { SeatDecision } from '../domain/seats';

/** One audit event; `eventId` (request id + step) makes the append idempotent across activity retries. */
export interface AuditEventInput {
  eventId: string;
  requestId?: string;
  /** A user id, or `system` for the workflow's own steps. */
  actor: string;
  action: string;
  at: string;
  data?: Record<string, unknown>;
}

/** The row lists, the inbox and KPIs read; `revision` increases with every write of one request. */
export interface RequestProjection {
  requestId: string;
  revision: number;
  requester: string;
  beneficiary: string;
  entitlement: string;
  resource: string;
  breakGlass: boolean;
  status: Status;
  reviewState?: ReviewState;
  risk?: Risk;
  justification: string;
  pendingApprovers: string[];
  involved: string[];
  submittedAt: string;
  firstDecisionAt?: string;
  approvedAt?: string;
  startedAt?: string;
  expiresAt?: string;
  endedAt?: string;
  escalated: boolean;
  autoApproved: boolean;
  /** The tags as `name:value` keywords, every owner included (domain/taxonomy.ts tagKeywords); absent before tags. */
  tags?: string[];
  /** The workflow's full view, for reads that must not wait on Temporal. */
  view: unknown;
}

export interface Notification {
  /** Idempotency key: one notification per key, however often the activity runs. */
  key: string;
  requestId: string;
  to: string[];
  subject: string;
  text: string;
}

/** One state transition's bookkeeping: written in one transaction (activities/bookkeeping.ts). */
export interface BookkeepingStep {
  events: AuditEventInput[];
  notifications: Notification[];
  projection: RequestProjection;
}

export interface EvaluateInput {
  requestId: string;
  requester: string;
  input: RequestInput;
  now: string;
}

export interface GrantInput {
  requestId: string;
  grant: GrantSpec;
  startedAt: string;
  expiresAt: string;
}

export interface Activities {
  /** Loads the directory, catalog, policy and the beneficiary's holdings, evaluates, and claims the entitlement. */
  evaluateRequest(input: EvaluateInput): Promise<Evaluation>;
  /**
   * Takes a seat of a licence-limited entitlement for an approved request, or its place in line, under the
   * entitlement's lock (activities/seats.ts); idempotent per request. The claim's release frees it.
   */
  takeSeat(input: {
    requestId: string;
    beneficiary: string;
    entitlement: string;
    breakGlass: boolean;
    since: string;
    limit: number;
    whenFull: 'queue' | 'refuse';
  }): Promise<SeatDecision>;
  /** Frees the beneficiary's claim on the entitlement (and the request's seat) when the request ends. */
  releaseClaim(input: { requestId: string; beneficiary: string; entitlement: string }): Promise<void>;
  recordAudit(event: AuditEventInput): Promise<void>;
  project(projection: RequestProjection): Promise<void>;
  notify(notification: Notification): Promise<void>;
  /** Grants at the target through the connector (idempotent) and records the live grant. */
  provision(input: GrantInput): Promise<void>;
  /**
   * The request's bookkeeping for one step: its audit events, its projection row and its notifications' outbox rows
   * in one transaction, then the notifications sent. Idempotent: events by id, the projection by revision,
   * notifications by key.
   */
  bookkeep(input: BookkeepingStep): Promise<void>;
  /** Grants at the target (idempotent) and records the live grant; the grant counts from the connector's success. */
  grantAccess(input: {
    requestId: string;
    grant: GrantSpec;
    /** When the workflow asked: the connector call's times, so that every retry sends the same body. */
    plannedAt?: string;
  }): Promise<{ startedAt: string; expiresAt: string }>;
  /** Asks the policy again for an extension (the new total duration, today's directory); claims nothing. */
  evaluateExtension(input: EvaluateInput): Promise<Evaluation>;
  /** Ends the grant; revokes at the target only when no other live grant holds the same entitlement. */
  deprovision(input: { requestId: string; grant: GrantSpec; endedAt: string }): Promise<{ revokedAtTarget: boolean }>;
}
