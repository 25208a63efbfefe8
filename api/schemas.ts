import { z } from 'zod';
import {
  durationSchema,
  quorumSchema,
  requestInputSchema,
  riskLevelSchema,
  sensitivitySchema,
  statusSchema,
} from '../domain';
import type { RequestView } from '../workflows/messages';

// The single source for parsing, TypeScript types and the OpenAPI document. Inputs are strict (unknown fields are
// refused); outputs describe what the API sends.

const userId = z.string().meta({ description: 'A directory user id.', example: 'alice' });
// Normalised to UTC: any RFC 3339 offset is fine here, PostgreSQL takes fewer; before year 1 is the beginning of time.
const instant = z.iso
  .datetime({ offset: true })
  .transform((v) => {
    const at = new Date(v);
    return at.getUTCFullYear() < 1 ? '0001-01-01T00:00:00.000Z' : at.toISOString();
  })
  .meta({ description: 'An ISO-8601 instant.' });

// Free text as JSON Schema counts it: code points, the limit on what was sent, the minimum on what is left once the
// whitespace JavaScript's trim() removes is gone. The pattern shows the minimum; both are checked by code, not regex,
// because regex engines disagree on what \s and a character are.
// Text is also what PostgreSQL can keep: no NUL (text and jsonb refuse it) and no unpaired surrogate (jsonb refuses
// it). The patterns exclude NUL; an unpaired surrogate is not Unicode text, cannot be sent as UTF-8 and has no place
// in a pattern most regex engines compile, so only the code (and the description) refuses it.
const WS_CHARS = '\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const UNSTORABLE_CHARS = '\\u0000';
const WS = `[${WS_CHARS}]`;
const NOT_WS = `[^${WS_CHARS}${UNSTORABLE_CHARS}]`;
const CHAR = `[^${UNSTORABLE_CHARS}]`;
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const UNSTORABLE = /[\u0000\p{Cs}]/u;
const STORABLE_MESSAGE = 'must not contain NUL characters or unpaired surrogates';
const codePoints = (v: string) => [...v].length;
function text(opts: { max: number; min?: number; message?: string }) {
  const { max, min = 0 } = opts;
  const schema = z
    .string()
    .refine((v) => !UNSTORABLE.test(v), STORABLE_MESSAGE)
    .refine((v) => codePoints(v) <= max, `must be at most ${max} characters`)
    .transform((v) => v.trim())
    .refine((v) => codePoints(v) >= min, opts.message ?? `must be at least ${min} characters`);
  const pattern = min > 0 ? `^${WS}*${NOT_WS}${CHAR}{${Math.max(0, min - 2)},}${NOT_WS}${WS}*$` : `^${CHAR}*$`;
  return schema.meta({ type: 'string', maxLength: max, pattern, ...(min > 0 && { minLength: min }) } as never);
}
/** Text kept as sent (no trim): a form field's value, a filter; storable like any text. */
function plain(max: number) {
  return z
    .string()
    .refine((v) => !UNSTORABLE.test(v), STORABLE_MESSAGE)
    .refine((v) => codePoints(v) <= max, `must be at most ${max} characters`)
    .meta({ type: 'string', maxLength: max, pattern: `^${CHAR}*$` } as never);
}
const comment = text({ max: 2000 });

// The API takes the part of the ISO-8601 duration grammar that means a positive length, written without leading
// zeros, as one pattern: the document shows exactly what is accepted (the domain parser also reads `P0DT4H`).
const DAYS = '[1-9]\\d{0,3}D';
const TIME =
  'T(?:[1-9]\\d{0,4}H(?:[1-9]\\d{0,5}M)?(?:[1-9]\\d{0,6}S)?|[1-9]\\d{0,5}M(?:[1-9]\\d{0,6}S)?|[1-9]\\d{0,6}S)';
const API_DURATION = new RegExp(`^P(?:${DAYS}(?:${TIME})?|${TIME})$`);
const justification = text({ max: 2000, min: 10, message: 'must say why, in at least 10 characters' });
const apiDuration = z
  .string()
  .regex(API_DURATION, 'must be an ISO-8601 duration of days, hours, minutes or seconds, e.g. P30D or PT4H')
  .pipe(durationSchema);

export const requestIdParam = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a request id')
  .meta({ description: 'The request id.', example: '4b1c6a62-3f0e-4d7c-9a51-2b8c9b1f3e7a' });
export const requestParams = z.object({ id: requestIdParam }).strict();

export const idempotencyKeyHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1 to 200 visible ASCII characters')
  .meta({ description: 'Makes a retried POST safe: the same key and body answer with the same request.' });

// ---------- Inputs ----------

const MAX_FIELDS = 20;

export const requestInput = requestInputSchema
  .extend({
    duration: apiDuration
      .optional()
      .meta({ description: "How long, as an ISO-8601 duration; at most the entitlement's `maxDuration` (catalog)." }),
    justification,
    fields: z
      .record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,31}$/), plain(200))
      .default({})
      .refine((f) => Object.keys(f).length <= MAX_FIELDS, `must have at most ${MAX_FIELDS} fields`)
      .meta({
        maxProperties: MAX_FIELDS,
        description: 'The form fields the entitlement requires (catalog `fields`: names, patterns); no others.',
        propertyNames: { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,31}$' },
      }),
    // The domain's checks, written so the document shows them: the duration as the pattern, the minimum after trim.
    exception: z
      .object({
        compensatingControl: text({
          max: 2000,
          min: 20,
          message: 'must describe the compensating control in at least 20 characters',
        }),
        reviewEvery: apiDuration
          .optional()
          .meta({ description: 'Review the grant this often instead of the usual interval (ISO-8601 duration).' }),
      })
      .strict()
      .optional(),
  })
  .meta({
    id: 'RequestInput',
    description:
      'What to request. Who asks comes from the bearer token, never from the body. Whether it fits the catalog ' +
      '(a known entitlement, its fields, its maximum duration, break-glass allowed) is answered with 422.',
    example: {
      entitlement: 'analytics-db:read',
      justification: 'Quarterly revenue report for the board',
      duration: 'P7D',
    },
  });

export const decisionInput = z
  .object({ decision: z.enum(['approve', 'deny']), comment: comment.optional() })
  .strict()
  .meta({ id: 'DecisionInput' });
export const reasonInput = z.object({ reason: comment.optional() }).strict().meta({ id: 'ReasonInput' });
export const extendInput = z
  .object({
    duration: apiDuration.meta({ description: 'How much longer, as an ISO-8601 duration.', example: 'P7D' }),
    justification,
  })
  .strict()
  .meta({ id: 'ExtendInput' });
export const reviewInput = z
  .object({ outcome: z.enum(['cleared', 'flagged']), comment: comment.optional() })
  .strict()
  .meta({ id: 'ReviewInput' });
export const fulfilInput = z.object({ comment: comment.optional() }).strict().meta({ id: 'FulfilInput' });

const limit = (max: number, fallback: number) => {
  const message = `must be a whole number from 1 to ${max}`;
  return z.coerce
    .number({ error: message })
    .int(message)
    .min(1, message)
    .max(max, message)
    .default(fallback)
    .meta({ description: `Page size, 1 to ${max} (default ${fallback}).` });
};

/**
 * A page position, `<submitted_at in microseconds since the epoch>~<id>`. Any cursor of that shape is a position
 * to page from (the pattern says exactly what is accepted); there is nothing to forge, the caller's visibility
 * filter applies on every page.
 */
export const CURSOR = /^(\d{1,16})~([A-Za-z0-9][A-Za-z0-9._-]{0,99})$/;
const cursor = z
  .string()
  .regex(CURSOR, 'is not a valid cursor')
  .optional()
  .meta({ description: 'The `next` value of the previous page.' });

/** The request type tag (domain/taxonomy.ts). */
export const requestTypeSchema = z.enum(['new', 'extension', 'break-glass', 'exception', 'birthright']);

const flag = z.enum(['true', 'false']).transform((v) => v === 'true');

const STATUS = `(?:${statusSchema.options.join('|')})`;
const STATUS_LIST = new RegExp(`^${STATUS}(?:,${STATUS})*$`);

export const listQuery = z
  .object({
    status: z
      .string()
      .regex(STATUS_LIST, 'must be statuses separated by commas')
      .transform((v) => v.split(','))
      .pipe(z.array(statusSchema))
      .optional()
      .meta({ description: 'One status or several, comma-separated.' }),
    mine: flag.optional().meta({ description: 'Only requests the caller made (or made for their service accounts).' }),
    resource: plain(64).optional(),
    entitlement: plain(129).optional(),
    beneficiary: plain(64).optional(),
    type: requestTypeSchema
      .optional()
      .meta({ description: 'The request type tag, e.g. `exception` to list the exceptions to policy.' }),
    tag: z
      .string()
      .regex(
        /^(type|application|sensitivity|urgency|owner):[a-z0-9][a-z0-9._:-]{0,128}$/,
        'must be a tag as name:value, the name one of type, application, sensitivity, urgency, owner',
      )
      .optional()
      .meta({ description: 'One tag as `name:value`, e.g. `owner:carol` or `application:payroll`.' }),
    limit: limit(100, 25),
    cursor,
  })
  .strict();
export type ListQuery = z.output<typeof listQuery>;

export const inboxQuery = z.object({ limit: limit(100, 25), cursor }).strict();

// A half-open period [from, to): a `to` at or before `from` is an empty period and matches nothing.
const range = {
  from: instant.optional().meta({ description: 'Inclusive start (ISO-8601).' }),
  to: instant.optional().meta({ description: 'Exclusive end (ISO-8601); at or before `from`, the period is empty.' }),
};

export const auditQuery = z
  .object({
    ...range,
    requestId: requestIdParam.optional(),
    limit: limit(500, 100),
    after: z
      .string()
      .regex(/^\d{1,15}$/, 'must be a sequence number')
      .transform(Number)
      .optional()
      .meta({ description: 'The `next` value of the previous page.' }),
  })
  .strict();

export const auditExportQuery = z
  .object({ format: z.enum(['json', 'csv']).default('json'), ...range, requestId: requestIdParam.optional() })
  .strict();

export const kpiQuery = z.object(range).strict();

// ---------- Outputs ----------

export const problemSchema = z
  .object({
    type: z.string().meta({ example: 'urn:grantflow:problem:validation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    requestId: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details.' });

const reasonSchema = z.object({ code: z.string(), message: z.string(), field: z.string().optional() });
const riskSchema = z
  .object({ score: z.number(), level: riskLevelSchema, reasons: z.array(z.string()) })
  .meta({ id: 'Risk' });
const decisionSchema = z.object({
  approver: userId,
  decision: z.enum(['approve', 'deny']),
  comment: z.string().optional(),
  at: z.string(),
  via: z.enum(['update', 'signal']),
  channel: z.enum(['api', 'slack', 'portal']).optional(),
});
const stageStatusSchema = z.enum(['waiting', 'open', 'approved', 'denied', 'timed_out', 'cancelled']);
const stageSchema = z
  .object({
    name: z.string(),
    quorum: quorumSchema,
    required: z.number().int(),
    approvers: z.array(userId),
    fallback: z.array(userId),
    status: stageStatusSchema,
    escalated: z.boolean(),
    decisions: z.array(decisionSchema),
    remindersSent: z.number().int().optional(),
    openedAt: z.string().optional(),
    escalatesAt: z.string().optional(),
    deadlineAt: z.string().optional(),
    closedAt: z.string().optional(),
    calendar: z.string().optional().meta({
      description: 'Set when the deadlines count business hours: the calendar and the approvers’ time zones.',
    }),
    reminders: z
      .array(z.object({ at: z.string(), approvers: z.array(userId) }))
      .optional()
      .meta({ description: 'A business-hours stage’s reminders, each in its approvers’ working hours.' }),
  })
  .meta({ id: 'Stage' });
const reviewStateSchema = z.enum(['pending', 'cleared', 'flagged']);
const requestTagsSchema = z
  .object({
    type: requestTypeSchema,
    application: z.string(),
    sensitivity: sensitivitySchema.optional(),
    urgency: z.enum(['emergency', 'normal']),
    owners: z.array(userId),
  })
  .meta({ id: 'RequestTags', description: 'What reporting, routing and the Temporal UI filter on.' });

export const requestViewSchema = z
  .object({
    id: z.string(),
    workflowId: z.string(),
    requester: userId,
    beneficiary: userId,
    entitlement: z.string(),
    resource: z.string(),
    breakGlass: z.boolean(),
    justification: z.string(),
    fields: z.record(z.string(), z.string()),
    status: statusSchema,
    reviewState: reviewStateSchema.optional(),
    reasons: z.array(reasonSchema),
    existingRequestId: z.string().optional(),
    risk: riskSchema.optional(),
    plan: z
      .object({ kind: z.enum(['auto-approve', 'stages', 'break-glass']), rule: z.string(), policyVersion: z.string() })
      .optional(),
    tags: requestTagsSchema.optional(),
    exception: z
      .object({
        waived: z.array(reasonSchema),
        compensatingControl: z.string(),
        reviewEveryMs: z.number().optional(),
        stages: z.array(z.string()),
      })
      .optional()
      .meta({ description: 'Set when the request was accepted as an exception: what it waives, and the control.' }),
    stages: z.array(stageSchema),
    pendingApprovers: z.array(userId),
    extension: z
      .object({
        requestedBy: userId,
        durationMs: z.number(),
        justification: z.string(),
        status: z.enum(['evaluating', 'pending_approval', 'approved', 'denied', 'timed_out', 'cancelled', 'rejected']),
        stages: z.array(stageSchema),
        round: z.number().int().optional(),
        requestedAt: z.string().optional(),
        rule: z.string().optional(),
        risk: riskSchema.optional(),
        policyVersion: z.string().optional(),
        reasons: z.array(reasonSchema).optional(),
      })
      .optional(),
    review: stageSchema
      .extend({
        outcome: z.enum(['cleared', 'flagged']).optional(),
        reviewedBy: z.string().optional(),
        comment: z.string().optional(),
      })
      .optional(),
    fulfilment: z
      .object({
        task: z.enum(['grant', 'revoke']),
        fulfillers: z.array(userId),
        openedAt: z.string(),
        dueAt: z.string(),
        completedBy: z.string().optional(),
        completedAt: z.string().optional(),
        round: z.number().int().optional(),
        status: z.enum(['open', 'completed', 'overdue', 'cancelled']).optional(),
      })
      .optional(),
    grant: z
      .object({
        startedAt: z.string(),
        expiresAt: z.string(),
        endedAt: z.string().optional(),
        extensions: z.number().int(),
        connector: z.enum(['postgres-role', 'webhook', 'manual']),
      })
      .optional(),
    seat: z
      .object({
        state: z.enum(['queued', 'held']),
        position: z.number().int().optional().meta({ description: 'The place in line (1: next) while queued.' }),
        limit: z.number().int(),
        used: z.number().int().meta({ description: 'Seats in use (people) when the request last asked.' }),
        queuedAt: z.string().optional(),
        heldAt: z.string().optional(),
      })
      .optional()
      .meta({
        description:
          'For an entitlement with a seat limit, once approved: waiting in line for a seat (status `provisioning`) ' +
          'or holding one. A freed seat goes to the first in line.',
      }),
    failure: z.string().optional(),
    failedAction: z.enum(['provisioning', 'revocation']).optional(),
    submittedAt: z.string(),
    updatedAt: z.string(),
    timeline: z.array(
      z.object({ at: z.string(), event: z.string(), actor: z.string().optional(), detail: z.string().optional() }),
    ),
  })
  .meta({ id: 'Request', description: "The request's full view, as the workflow holds it." });

// The schema documents the workflow's view: keep them the same type, or this stops compiling.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _viewMatches: Same<z.output<typeof requestViewSchema>, RequestView> = true;
void _viewMatches;

export const requestSummarySchema = z
  .object({
    id: z.string(),
    requester: userId,
    beneficiary: userId,
    entitlement: z.string(),
    resource: z.string(),
    status: statusSchema,
    breakGlass: z.boolean(),
    reviewState: reviewStateSchema.optional(),
    riskLevel: riskLevelSchema.optional(),
    type: requestTypeSchema.optional(),
    pendingApprovers: z.array(userId),
    submittedAt: z.string(),
    updatedAt: z.string(),
    expiresAt: z.string().optional(),
  })
  .meta({ id: 'RequestSummary' });
export type RequestSummary = z.output<typeof requestSummarySchema>;

export const requestPageSchema = z
  .object({ items: z.array(requestSummarySchema), next: z.string().optional() })
  .meta({ id: 'RequestPage' });

const planDiagramSchema = z.string().meta({
  description:
    'The approval plan as a Mermaid flowchart (https://mermaid.js.org): stages in order, quorum, who, SLA, ' +
    'escalation path and why the rule applied.',
  example: 'flowchart TD\n  request(["analytics-db:read for Alice Adams (alice)"])\n  …',
});

/** A request's view as GET /v1/requests/:id answers it: the workflow's view and its plan as a picture. */
export const requestDetailSchema = requestViewSchema
  .extend({ planDiagram: planDiagramSchema.optional() })
  .meta({ id: 'RequestDetail', description: "The request's full view, with its approval plan as a diagram." });

const resolvedStageSchema = z.object({
  name: z.string(),
  quorum: quorumSchema,
  required: z.number().int(),
  approvers: z.array(z.object({ id: userId, name: z.string() })),
  fallback: z.array(userId),
  escalateAfter: z.string().optional(),
  deadline: z.string(),
});
export const previewSchema = z
  .object({
    valid: z.boolean(),
    reasons: z.array(reasonSchema),
    existingRequestId: z.string().optional(),
    risk: riskSchema.optional(),
    plan: z
      .object({
        kind: z.enum(['auto-approve', 'stages', 'break-glass']),
        rule: z.string(),
        stages: z.array(resolvedStageSchema),
      })
      .optional(),
    grant: z
      .object({ beneficiary: userId, duration: z.string(), maxDuration: z.string(), connector: z.string() })
      .optional(),
    /** Present when the request is submitted as an exception the policy accepts. */
    exception: z
      .object({
        waived: z.array(reasonSchema),
        compensatingControl: z.string(),
        reviewEvery: z.string().optional(),
        stages: z.array(z.string()),
      })
      .optional(),
    policyVersion: z.string(),
    planDiagram: planDiagramSchema.optional(),
  })
  .meta({ id: 'Preview', description: 'What would happen on submission; nothing is started or stored.' });
export type Preview = z.output<typeof previewSchema>;

export const decisionResultSchema = z
  .object({ outcome: z.literal('recorded'), stage: z.string(), stageStatus: stageStatusSchema, status: statusSchema })
  .meta({ id: 'DecisionResult' });
export const messageResultSchema = z
  .object({ outcome: z.literal('recorded'), status: statusSchema })
  .meta({ id: 'MessageResult' });
export const extendResultSchema = z
  .object({ outcome: z.enum(['extended', 'pending_approval']), expiresAt: z.string() })
  .meta({ id: 'ExtendResult' });

const fieldSpecSchema = z.object({
  name: z.string(),
  label: z.string(),
  required: z.boolean(),
  pattern: z.string().optional(),
});
export const catalogSchema = z
  .object({
    policyVersion: z.string(),
    resources: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        sensitivity: sensitivitySchema,
        connector: z.enum(['postgres-role', 'webhook', 'manual']),
        entitlements: z.array(
          z.object({
            id: z.string().meta({ example: 'analytics-db:read' }),
            role: z.string(),
            name: z.string(),
            sensitivity: sensitivitySchema,
            privileged: z.boolean(),
            defaultDuration: z.string(),
            maxDuration: z.string(),
            fields: z.array(fieldSpecSchema),
            breakGlass: z.object({ ttl: z.string() }).optional(),
            seats: z
              .object({ limit: z.number().int(), whenFull: z.enum(['queue', 'refuse']) })
              .optional()
              .meta({ description: 'A licence limit: beyond it an approved request waits in line, or is refused.' }),
            conflicts: z.array(z.string()),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'Catalog' });
export type CatalogBody = z.output<typeof catalogSchema>;

const auditEventSchema = z
  .object({
    seq: z.number().int(),
    eventId: z.string(),
    requestId: z.string().optional(),
    actor: z.string(),
    action: z.string(),
    at: z.string(),
    data: z.record(z.string(), z.unknown()),
    prevHash: z.string(),
    hash: z.string().meta({ description: 'SHA-256 over prevHash and the canonical content with seq: public.' }),
    keyId: z.string().optional().meta({ description: 'The HMAC key that made `mac`; absent on unkeyed events.' }),
    mac: z.string().optional().meta({ description: 'HMAC-SHA256 of keyId and hash, under a key not in the database.' }),
  })
  .meta({ id: 'AuditEvent' });
export const auditPageSchema = z
  .object({ events: z.array(auditEventSchema), next: z.number().int().optional() })
  .meta({ id: 'AuditPage' });
export const checkpointSchema = z
  .object({
    version: z.literal(1),
    seq: z.number().int(),
    hash: z.string(),
    at: z.string(),
    keyId: z.string(),
    signature: z.string().meta({ description: 'Ed25519 over the canonical JSON of the other fields, base64url.' }),
  })
  .meta({ id: 'AuditCheckpoint' });
export const checkpointKeySchema = z
  .object({
    keyId: z.string(),
    algorithm: z.literal('Ed25519'),
    pem: z.string(),
    jwk: z.record(z.string(), z.string()),
  })
  .meta({ id: 'AuditCheckpointKey' });
export const auditExportSchema = z
  .object({
    format: z.literal('grantflow-audit-export'),
    version: z.literal(1),
    exportedAt: z.string(),
    complete: z.boolean().meta({ description: 'Unfiltered: every event from the first to the checkpoint.' }),
    filter: z.record(z.string(), z.string()),
    checkpoint: checkpointSchema.nullable(),
    publicKey: checkpointKeySchema.nullable(),
    events: z.array(auditEventSchema),
  })
  .meta({ id: 'AuditExport' });
export const auditVerifySchema = z
  .object({
    ok: z.boolean(),
    count: z.number().int(),
    unkeyed: z.number().int(),
    head: z.object({ seq: z.number().int(), hash: z.string() }),
    checkpoint: z
      .object({ seq: z.number().int(), hash: z.string(), at: z.string(), keyId: z.string(), holds: z.boolean() })
      .optional(),
    afterCheckpoint: z.number().int(),
    macChecked: z.boolean(),
    findings: z.array(
      z.object({
        kind: z.enum([
          'changed',
          'missing',
          'reordered',
          'tail_cut',
          'checkpoint_mismatch',
          'checkpoint_forged',
          'unknown_key',
          'unkeyed_after_keyed',
        ]),
        seq: z.number().int(),
        toSeq: z.number().int().optional(),
        eventId: z.string().optional(),
        message: z.string(),
      }),
    ),
  })
  .meta({ id: 'AuditVerification' });

const percentiles = z
  .object({ p50: z.number().nullable(), p90: z.number().nullable() })
  .meta({ description: 'Seconds; null when no request got that far.' });
const rate = z.number().nullable().meta({ description: 'A fraction from 0 to 1; null when nothing to count.' });
export const kpiSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    counts: z.object({
      submitted: z.number().int(),
      rejected: z.number().int(),
      accepted: z.number().int(),
      autoApproved: z.number().int(),
      breakGlass: z.number().int(),
      routed: z.number().int(),
      escalated: z.number().int(),
      denied: z.number().int(),
      timedOut: z.number().int(),
    }),
    timeToFirstDecision: percentiles,
    timeToApprove: percentiles.describe('Seconds from submission to the last approval, of requests sent to approvers.'),
    timeToAccess: percentiles,
    rates: z.object({
      autoApproval: rate.meta({ description: 'Auto-approved among accepted requests.' }),
      escalation: rate.meta({ description: 'Escalated among requests routed to approvers.' }),
      denial: rate.meta({ description: 'Denied among requests routed to approvers.' }),
      timedOut: rate.meta({ description: 'Timed out among requests routed to approvers.' }),
    }),
    backlog: z.object({
      byResource: z.array(z.object({ resource: z.string(), pending: z.number().int(), oldestSubmittedAt: z.string() })),
      byApprover: z.array(z.object({ approver: userId, pending: z.number().int() })),
    }),
    exceptions: z
      .object({
        byResourceAndReason: z.array(
          z.object({
            resource: z.string(),
            reason: z.string().meta({ description: 'The refusal waived, e.g. `sod_conflict`, `duration_too_long`.' }),
            count: z.number().int(),
          }),
        ),
      })
      .meta({ description: 'Requests accepted as exceptions to policy, by what they waived (one per refusal).' }),
    escalations: z
      .object({
        byResourceAndStage: z.array(
          z.object({
            resource: z.string(),
            rule: z.string(),
            stage: z.string(),
            count: z.number().int(),
          }),
        ),
      })
      .meta({
        description:
          'Stages that escalated, by resource and the rule and stage whose approvers did not decide in time (the ' +
          'reason an escalation happens); the extension stages of a request count under its latest extension.',
      }),
    seats: z
      .array(
        z.object({
          entitlement: z.string(),
          limit: z.number().int(),
          whenFull: z.enum(['queue', 'refuse']),
          used: z.number().int().meta({ description: 'People holding a seat now (provisioning, live or failed).' }),
          queued: z.number().int().meta({ description: 'People waiting in line for a seat now.' }),
        }),
      )
      .meta({ description: 'Seat use now of every entitlement with a seat limit (catalog `seats`).' }),
  })
  .meta({ id: 'Kpis' });
export type Kpis = z.output<typeof kpiSchema>;

export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.object({ postgres: z.enum(['ok', 'failed']), temporal: z.enum(['ok', 'failed']) }),
  })
  .meta({ id: 'Readiness' });
