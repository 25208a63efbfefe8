import { z } from 'zod';
import type { RequestTags } from './taxonomy';
import type { WorkingTime } from './working-time';
import { durationSchema } from './duration';

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a lower-case id (letters, digits, . _ -)');

/** An IANA time zone such as `Europe/Berlin`, as the platform's time-zone database knows it. */
export const timeZoneSchema = z
  .string()
  .max(64)
  .refine(
    (zone) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be an IANA time zone such as Europe/Berlin or America/New_York' },
  );

// ---------- Directory ----------
export const identitySchema = z
  .object({
    // `system` and `unknown` are grantflow's own actors: an identity with one of them could act as grantflow.
    id: id.refine((v) => !RESERVED_ACTOR_IDS.includes(v), {
      message: 'is reserved for grantflow itself (system, unknown); choose another id',
    }),
    name: z.string().min(1).max(200),
    email: z.string().email().optional(),
    department: z.string().max(100).optional(),
    manager: id.optional(),
    groups: z.array(id).default([]),
    active: z.boolean().default(true),
    kind: z.enum(['human', 'service']).default('human'),
    /** The human who requests and answers for a service account. */
    owner: id.optional(),
    /** Where the person works, for business-hours SLAs and reminders; default: the policy calendar's zone. */
    timeZone: timeZoneSchema.optional(),
    /** While away, approvals are delegated to `to` until `until`. */
    delegation: z
      .object({ to: id, until: z.iso.datetime({ offset: true }) })
      .strict()
      .optional(),
  })
  .strict();
export type Identity = z.infer<typeof identitySchema>;

export const directorySchema = z.object({ users: z.array(identitySchema).min(1) }).strict();
export type Directory = z.infer<typeof directorySchema>;

// ---------- Catalog ----------
export const sensitivitySchema = z.enum(['low', 'medium', 'high', 'critical']);
export type Sensitivity = z.infer<typeof sensitivitySchema>;

/** `manager`, `resource-owner`, `resource-owner-manager`, `group:<id>` or `user:<id>`. */
export const approverSpecSchema = z.union([
  z.literal('manager'),
  z.literal('resource-owner'),
  // The managers of the resource's owners: an exception goes above the person who would usually wave it through.
  z.literal('resource-owner-manager'),
  z
    .string()
    .regex(
      /^(group|user):[a-z0-9][a-z0-9._-]{0,63}$/,
      'must be manager, resource-owner, resource-owner-manager, group:<id> or user:<id>',
    ),
]);
export type ApproverSpec = z.infer<typeof approverSpecSchema>;

export const connectorSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('postgres-role'), connectionEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/) }).strict(),
  z
    .object({
      type: z.literal('webhook'),
      url: z.url(),
      secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
    })
    .strict(),
  z.object({ type: z.literal('manual'), fulfillers: z.array(approverSpecSchema).min(1), sla: durationSchema }).strict(),
]);
export type ConnectorConfig = z.infer<typeof connectorSchema>;

export const fieldSchema = z
  .object({
    name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,31}$/),
    label: z.string().max(200),
    required: z.boolean().default(true),
    pattern: z.string().max(200).optional(),
  })
  .strict();
export type FieldSpec = z.infer<typeof fieldSchema>;

export const entitlementSchema = z
  .object({
    role: id,
    name: z.string().max(200),
    /** Overrides the resource's sensitivity for this entitlement. */
    sensitivity: sensitivitySchema.optional(),
    privileged: z.boolean().default(false),
    defaultDuration: durationSchema,
    maxDuration: durationSchema,
    fields: z.array(fieldSchema).default([]),
    breakGlass: z.object({ ttl: durationSchema }).strict().optional(),
    /** A licence limit: at most `limit` people hold it at once; beyond it requests wait in line or are refused. */
    seats: z
      .object({
        limit: z.number().int().min(1).max(1_000_000),
        whenFull: z.enum(['queue', 'refuse']).default('queue'),
        /** How often a request waiting in line asks again for a seat (a durable timer of its workflow). */
        recheckEvery: durationSchema.default('PT30S'),
      })
      .strict()
      .optional(),
    /** Entitlements (`resource:role`) nobody may hold together with this one. */
    conflicts: z.array(z.string()).default([]),
    /**
     * The role, group or policy name at the target system (e.g. `AdministratorAccess` for AWS). A postgres-role
     * connector's target must also be a plain lower-case role name; parseConfigs checks that.
     */
    target: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/, 'must be a name of letters, digits and _ . : / -'),
  })
  .strict();
export type EntitlementConfig = z.infer<typeof entitlementSchema>;

export const resourceSchema = z
  .object({
    id,
    name: z.string().max(200),
    owners: z.array(approverSpecSchema).min(1),
    sensitivity: sensitivitySchema,
    connector: connectorSchema,
    entitlements: z.array(entitlementSchema).min(1),
  })
  .strict();
export type Resource = z.infer<typeof resourceSchema>;

export const catalogSchema = z.object({ resources: z.array(resourceSchema).min(1) }).strict();
export type Catalog = z.infer<typeof catalogSchema>;

/** A flattened entitlement, addressed as `resource:role`. */
export interface Entitlement extends EntitlementConfig {
  id: string;
  resource: Resource;
  sensitivity: Sensitivity;
}

// ---------- Policy ----------
export const riskLevelSchema = z.enum(['low', 'medium', 'high', 'critical']);
export type RiskLevel = z.infer<typeof riskLevelSchema>;

export const quorumSchema = z.union([z.literal('any'), z.literal('all'), z.number().int().min(1).max(20)]);
export type Quorum = z.infer<typeof quorumSchema>;

export const slaSchema = z
  .object({
    reminders: z.array(durationSchema).max(10).default([]),
    escalateAfter: durationSchema.optional(),
    deadline: durationSchema,
    /** `business`: the durations count the approvers' working hours (policy `calendar`); default: wall-clock time. */
    clock: z.enum(['wall', 'business']).optional(),
  })
  .strict();

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day, HH:MM');
export const weekdaySchema = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
export type Weekday = z.infer<typeof weekdaySchema>;

/** Working days and hours: what a business-hours SLA counts, and when reminders may arrive. */
export const calendarSchema = z
  .object({
    /** For people the directory gives no time zone. */
    timeZone: timeZoneSchema.default('UTC'),
    workingDays: z.array(weekdaySchema).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri']),
    hours: z.object({ from: clockTime, to: clockTime }).strict().default({ from: '09:00', to: '17:00' }),
    /** Local dates (YYYY-MM-DD) nobody works, in every zone. */
    holidays: z.array(z.iso.date()).default([]),
    /** A reminder that falls outside working hours waits until this local time on the next working day. */
    remindAt: clockTime.default('09:00'),
  })
  .strict()
  .refine((c) => c.hours.from < c.hours.to, { message: 'hours.from must be before hours.to', path: ['hours'] })
  .refine((c) => c.remindAt >= c.hours.from && c.remindAt < c.hours.to, {
    message: 'remindAt must be within working hours',
    path: ['remindAt'],
  });
export type Calendar = z.infer<typeof calendarSchema>;

export const stageSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,40}$/),
    approvers: z.array(approverSpecSchema).min(1),
    quorum: quorumSchema.default('any'),
    sla: slaSchema,
  })
  .strict();
export type StageConfig = z.infer<typeof stageSchema>;

export const ruleSchema = z
  .object({
    name: z.string().min(1).max(80),
    when: z
      .object({
        entitlements: z.array(z.string()).optional(),
        sensitivity: z.array(sensitivitySchema).optional(),
        privileged: z.boolean().optional(),
        beneficiaryKind: z.enum(['human', 'service']).optional(),
        breakGlass: z.boolean().optional(),
        riskAtLeast: riskLevelSchema.optional(),
        riskAtMost: riskLevelSchema.optional(),
        durationOver: durationSchema.optional(),
      })
      .strict()
      .default({}),
    /** `auto-approve`, or the stages in order. */
    plan: z.union([z.literal('auto-approve'), z.array(stageSchema).min(1)]),
  })
  .strict();
export type Rule = z.infer<typeof ruleSchema>;

/** Refusals a request may ask to be excused from, as an exception with a compensating control. */
export const exceptableReasonSchema = z.enum(['duration_too_long', 'sod_conflict']);
export type ExceptableReason = z.infer<typeof exceptableReasonSchema>;

export const exceptionPolicySchema = z
  .object({
    /** Which refusals an exception may override; any other refusal still refuses. */
    allow: z.array(exceptableReasonSchema).min(1),
    /** Even as an exception, no grant is longer than this. */
    maxDuration: durationSchema.optional(),
    /** Stages added after the rule's own (an auto-approved request gets only these). */
    stages: z.array(stageSchema).min(1),
  })
  .strict();
export type ExceptionPolicy = z.infer<typeof exceptionPolicySchema>;

export const policySchema = z
  .object({
    version: z.string().min(1).max(40),
    /** Groups with standing powers: security (sees all, revokes, reviews break-glass), auditors, admins. */
    roles: z.object({ security: id, auditors: z.array(id).default([]), admins: z.array(id).default([]) }).strict(),
    /** Who reviews a break-glass grant, and by when. */
    breakGlassReview: stageSchema,
    /** Extension beyond this total asks for approval again. */
    extensionWithoutApprovalUpTo: durationSchema.optional(),
    rules: z.array(ruleSchema).min(1),
    /** Working days, hours and holidays for business-hours SLAs and reminders; absent: wall-clock time only. */
    calendar: calendarSchema.optional(),
    /** How requests outside policy are routed; absent: no exceptions, every refusal stands. */
    exceptions: exceptionPolicySchema.optional(),
  })
  .strict();
export type Policy = z.infer<typeof policySchema>;

// ---------- Requests ----------
export const requestInputSchema = z
  .object({
    entitlement: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}:[a-z0-9][a-z0-9._-]{0,63}$/, 'must be resource:role'),
    justification: z.string().trim().min(10, 'must say why, in at least 10 characters').max(2000),
    beneficiary: id.optional(),
    duration: durationSchema.optional(),
    fields: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,31}$/), z.string().max(200)).default({}),
    breakGlass: z.boolean().default(false),
    /** Asks to be excused from a refusal the policy allows exceptions for (a duration over the maximum, an SoD conflict). */
    exception: z
      .object({
        compensatingControl: z
          .string()
          .trim()
          .min(20, 'must describe the compensating control in at least 20 characters')
          .max(2000),
        /** Review the grant this often instead of the usual interval; shorter is the point. */
        reviewEvery: durationSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type RequestInput = z.infer<typeof requestInputSchema>;

export const statusSchema = z.enum([
  'validating',
  'rejected',
  'pending_approval',
  'provisioning',
  'active',
  'denied',
  'timed_out',
  'cancelled',
  'expired',
  'revoked',
  'failed',
]);
export type Status = z.infer<typeof statusSchema>;
export const FINAL_STATUSES: readonly Status[] = ['rejected', 'denied', 'timed_out', 'cancelled', 'expired', 'revoked'];
/**
 * Statuses in which a request holds or awaits its entitlement: everything not final. The one list that policy
 * (duplicates, separation of duties), workflow, store and API use; `failed` is open, since access may still exist.
 */
export const OPEN_STATUSES: readonly Status[] = statusSchema.options.filter((s) => !FINAL_STATUSES.includes(s));
/**
 * The actor of grantflow's own decisions (expiry, policy) and of its lifecycle automation (a leaver's offboarding, an
 * access review's revoke). Reserved: no directory identity may carry it or `unknown`, so no token can act as it.
 */
export const SYSTEM_ACTOR = 'system';
export const RESERVED_ACTOR_IDS: readonly string[] = [SYSTEM_ACTOR, 'unknown'];
export type FinalStatus = 'rejected' | 'denied' | 'timed_out' | 'cancelled' | 'expired' | 'revoked';

export type ReviewState = 'pending' | 'cleared' | 'flagged';

/** An existing request that holds or awaits the same or a conflicting entitlement. */
export interface Holding {
  requestId: string;
  /** Whose holding it is: the beneficiary, or another member of their circle (owner and owned service accounts). */
  beneficiary?: string;
  entitlement: string;
  status: Status;
  breakGlass: boolean;
}

/** Everything the policy needs to know, gathered by the load-facts activity. */
export interface RequestFacts {
  requestId: string;
  requester: string;
  input: RequestInput;
  now: string;
  /** The beneficiary's other open or live requests. */
  holdings: Holding[];
  /** Has the beneficiary ever held an entitlement on this resource? */
  heldResourceBefore: boolean;
}

export interface Reason {
  code: string;
  message: string;
  field?: string;
}

export interface Risk {
  score: number;
  level: RiskLevel;
  reasons: string[];
}

/** A stage with its approvers resolved to user ids. */
export interface ResolvedStage {
  name: string;
  quorum: Quorum;
  /** Who may decide from the start (delegates of away approvers included). */
  approvers: string[];
  /** Who is added on escalation: delegates, then the approvers' managers, then security. */
  fallback: string[];
  /** How many approvals settle the stage. */
  required: number;
  remindersMs: number[];
  escalateAfterMs?: number;
  deadlineMs: number;
  /** Set when the durations count business hours of the approvers' calendar rather than wall-clock time. */
  clock?: 'business';
  /** A business-hours stage's working time, resolved when the policy was asked (domain/working-time.ts). */
  workingTime?: WorkingTime;
}

/** What an exception excuses, and the control that is meant to make up for it. */
export interface ExceptionPlan {
  /** The refusals the exception overrides, as `evaluate` would have given them. */
  waived: Reason[];
  compensatingControl: string;
  reviewEveryMs?: number;
  /** The names of the stages the exception added (after the rule's own). */
  stages: string[];
}

export type Plan =
  | { kind: 'auto-approve'; rule: string }
  | { kind: 'stages'; rule: string; stages: ResolvedStage[]; exception?: ExceptionPlan }
  | { kind: 'break-glass'; rule: string; ttlMs: number; review: ResolvedStage };

export interface GrantSpec {
  entitlement: string;
  resource: string;
  target: string;
  beneficiary: string;
  durationMs: number;
  maxDurationMs: number;
  connector: ConnectorConfig;
  /** For the manual connector: who may mark the task fulfilled. */
  fulfillers: string[];
  /** Who may revoke a live grant: resource owners, security and admins (the beneficiary and requester always may). */
  revokers: string[];
  /** Who may retry a failed provisioning: security and admins. */
  operators: string[];
  /** An extension that keeps the total within this many ms needs no new approval; absent: every extension does. */
  extensionWithoutApprovalMs?: number;
  /** The entitlement's licence limit (catalog `seats`): provisioning waits for a seat or is refused when all are taken. */
  seats?: { limit: number; whenFull: 'queue' | 'refuse'; recheckMs: number };
}

export type Evaluation =
  /**
   * `policyVersion`: the policy that refused it. `tags` (domain/taxonomy.ts) in both. Both absent in evaluations
   * recorded in histories before they were kept.
   */
  | {
      valid: false;
      reasons: Reason[];
      risk?: Risk;
      existingRequestId?: string;
      policyVersion?: string;
      tags?: RequestTags;
    }
  | {
      valid: true;
      reasons: [];
      risk: Risk;
      plan: Plan;
      grant: GrantSpec;
      policyVersion: string;
      tags?: RequestTags;
    };
