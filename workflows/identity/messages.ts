import { defineQuery } from '@temporalio/workflow';
import type { Status } from '../../domain/model';

// Wire names are stable: running offboardings depend on them.

/** Why a request is ended: the leaver asked for it, holds it, or owns the service account that holds it. */
export type EndRole = 'requester' | 'beneficiary' | 'service-account';

export interface OffboardingArgs {
  identityId: string;
  /** The directory version of the leave event: with the identity, it names the offboarding. */
  version: number;
  source: string;
  change: 'deactivated' | 'deleted';
  /** Carried by continue-as-new. */
  state?: OffboardingState;
  /** Continue as new past this many history events (default 2000); tests lower it. */
  historyLimit?: number;
}

export interface PlannedRequest {
  requestId: string;
  status: Status;
  role: EndRole;
  /** The service account the request is for, when role is `service-account`. */
  serviceAccount?: string;
}

/** An open approval that waits on the leaver: the request workflow must hand the stage to someone else. */
export interface Reroute {
  requestId: string;
  stage?: string;
  pendingApprovers: string[];
  /** What the request answered the offboarding's `reroute` (absent: not sent, as in offboardings before it). */
  outcome?: RerouteOutcome;
  /** Who the request waits on after it was rerouted. */
  to?: string[];
  detail?: string;
}

/**
 * `rerouted`: the stage went to its fallback; `not_waiting`: the request no longer waits on the leaver; `unsupported`:
 * its run predates rerouting (a person must hand the stage on); `refused`: anything else (security is told).
 */
export type RerouteOutcome = 'rerouted' | 'not_waiting' | 'unsupported' | 'refused';

export interface RerouteAnswer {
  requestId: string;
  outcome: RerouteOutcome;
  to?: string[];
  detail?: string;
}

export interface OffboardingPlan {
  /** False when the identity is active again: the offboarding stops. */
  gone: boolean;
  /** Service accounts the leaver owns with no other valid owner. */
  serviceAccounts: string[];
  /**
   * Who takes those accounts over: the leaver's manager (the first active one up the chain), or else a member of the
   * security group. Absent when there is nobody: then the accounts' access is ended like the leaver's own.
   */
  successor?: string;
  end: PlannedRequest[];
  reroute: Reroute[];
  /** Active members of the security group, who are told what needs a person. */
  security: string[];
}

export type EndOutcome = 'ending' | 'already_ended' | 'refused' | 'stopped';

export interface EndResult {
  requestId: string;
  outcome: EndOutcome;
  /** The request's status after the message (or when it was found ended). */
  status?: Status;
  detail?: string;
}

export type Settled = 'ended' | 'revocation_failed' | 'unsettled';

/** What the offboarding's poll learns: whether the leaver is still gone, and where each request got to. */
export interface SettledAnswer {
  gone: boolean;
  requests: Record<string, { status: Status; settled: Settled }>;
}

/** A service account handed to a new owner, with the review of its access that the handover opens. */
export interface Handover {
  account: string;
  owner: string;
  previousOwner: string;
  /** The one-off access-review campaign of the account's live grants; absent when it holds none. */
  review?: string;
  /** The account's live grants when it was handed over (each an item of the review). */
  grants: number;
}

export interface HandoverAnswer {
  /** The leaver is active again: nothing was handed over. */
  stopped: boolean;
  handovers: Handover[];
}

/** What a stopped offboarding had done: ended, sent but still ending (not undone), and never sent. */
export interface StopReport {
  because: string;
  alreadyEnded: { requestId: string; status?: Status }[];
  stillEnding: string[];
  notSent: string[];
}

export interface EndedRequest extends PlannedRequest {
  outcome: EndOutcome;
  /** Where the request got to: ended (a final status), its revocation failed (operators alerted), or still moving. */
  settled?: Settled;
  finalStatus?: Status;
  detail?: string;
}

export interface OffboardingState {
  identityId: string;
  version: number;
  phase: 'planning' | 'ending' | 'waiting' | 'finishing' | 'completed' | 'stopped';
  /** Sweeps of the leaver's requests so far; a sweep that finds nothing new ends the loop. */
  sweeps: number;
  requests: EndedRequest[];
  reroute: Reroute[];
  serviceAccounts: string[];
  /** Who takes the service accounts over (see OffboardingPlan.successor). */
  successor?: string;
  handovers: Handover[];
  security: string[];
  startedAt: string;
  finishedAt?: string;
  /** Set when the identity came back while the offboarding ran. */
  stoppedBecause?: string;
  /** Set with stoppedBecause: what had been done by then. */
  stop?: StopReport;
}

export const getOffboardingQuery = defineQuery<OffboardingState>('getOffboarding');

export function offboardingWorkflowId(identityId: string, version: number): string {
  return `offboarding-${identityId}-v${version}`;
}

export function offboardingReason(identityId: string): string {
  return `offboarding: ${identityId} left`;
}

// ---------- Movers ----------

export interface MoverArgs {
  identityId: string;
  /** The directory version of the change of manager or department. */
  version: number;
  source: string;
}

/** A live grant whose approval rested on what changed: the new manager must vouch for it again. */
export interface Recertification {
  requestId: string;
  entitlement: string;
  why: string;
}

export interface MoverPlan {
  /** False when the identity is no longer active (a leaver's offboarding takes over). */
  active: boolean;
  oldManager?: string;
  newManager?: string;
  oldDepartment?: string;
  newDepartment?: string;
  recertify: Recertification[];
  /** The mover's open requests waiting on the old manager. */
  reroute: Reroute[];
  /** Who is told: the new manager, or security when there is none. */
  reviewers: string[];
}

export interface MoverState extends MoverPlan {
  identityId: string;
  version: number;
  phase: 'planning' | 'completed';
}

export const getMoverQuery = defineQuery<MoverState>('getMover');

export function moverWorkflowId(identityId: string, version: number): string {
  return `mover-${identityId}-v${version}`;
}

// ---------- Directory sync (pulled sources) ----------

export interface DirectorySyncArgs {
  dryRun: boolean;
  /** Who asked: a person for an on-demand sync, `ldap-sync (scheduled)` for the schedule's runs. */
  actor: string;
  /** The held sync (awaiting_confirmation) that `actor`, a member of security, confirms; the source is read again. */
  confirm?: string;
}

/** A sync's outcome; its diff stays in PostgreSQL (directory_syncs), never in the history. */
export interface DirectorySyncOutcome {
  id: string;
  /** A SyncStatus, or `refused`: a confirmation that was not allowed (see `refusal`), with nothing changed. */
  status: string;
  error?: string;
  refusal?: 'forbidden' | 'not-found' | 'invalid-state';
  changes: number;
  deactivations: number;
}

export const DIRECTORY_SYNC_SCHEDULE_ID = 'directory-sync-ldap';
