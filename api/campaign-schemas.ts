import { z } from 'zod';
import {
  campaignDefaultSchema,
  campaignStatusSchema,
  itemOutcomeSchema,
  recommendationReasonSchema,
} from '../domain/campaign';

// Access reviews at the edge: inputs strict, outputs as sent; the same schemas parse, type and document.

const campaignIdPattern = /^campaign-[a-z0-9][a-z0-9._-]{0,63}-[A-Za-z0-9:._-]{1,64}$/;
export const campaignParams = z
  .object({
    id: z
      .string()
      .regex(campaignIdPattern, 'is not a campaign id')
      .meta({ description: 'The campaign id.', example: 'campaign-analytics-quarterly-2026-12-01T09:00:00Z' }),
  })
  .strict();
export const itemParams = z
  .object({
    itemId: z
      .string()
      .regex(/^[1-9][0-9]{0,17}$/, 'is not an item id')
      .meta({ description: 'The item id.' }),
  })
  .strict();

const comment = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(2000, 'must be at most 2000 characters')
  .meta({ description: 'Why; required to keep privileged access.' });

export const startCampaignInput = z
  .object({
    definition: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a campaign definition id'),
  })
  .strict()
  .meta({ id: 'StartCampaignInput' });
export const cancelCampaignInput = z
  .object({ reason: z.string().trim().min(1).max(500).optional() })
  .strict()
  .meta({ id: 'CancelCampaignInput' });
export const confirmCampaignInput = z
  .object({
    apply: z.boolean().meta({
      description: "true: apply the default's revokes; false: keep what the default would have revoked.",
    }),
  })
  .strict()
  .meta({ id: 'ConfirmCampaignInput' });

export const decisionInput = z
  .object({ decision: z.enum(['keep', 'revoke']), comment: comment.optional() })
  .strict()
  .meta({ id: 'ReviewDecisionInput' });
export const bulkDecisionInput = z
  .object({
    items: z
      .array(z.string().regex(/^[1-9][0-9]{0,17}$/, 'is not an item id'))
      .min(1)
      .max(500),
    decision: z.enum(['keep', 'revoke']),
    comment: comment.optional(),
  })
  .strict()
  .meta({ id: 'BulkReviewDecisionInput' });

export const inboxQuery = z
  .object({
    campaign: z.string().regex(campaignIdPattern, 'is not a campaign id').optional(),
    /** Decided items too (reviewers may change their mind while the campaign is open). */
    all: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    limit: z.coerce
      .number({ error: 'must be a whole number from 1 to 500' })
      .int()
      .min(1, 'must be a whole number from 1 to 500')
      .max(500, 'must be a whole number from 1 to 500')
      .default(100),
    after: z
      .string()
      .regex(/^[1-9][0-9]{0,17}$/, 'must be an item id from `next`')
      .optional(),
  })
  .strict();
export const evidenceQuery = z.object({ format: z.enum(['json', 'csv']).default('json') }).strict();

const reasonSchema = z.object({ code: recommendationReasonSchema, message: z.string() });

export const campaignSchema = z
  .object({
    id: z.string(),
    definition: z.string(),
    name: z.string(),
    status: campaignStatusSchema,
    default: campaignDefaultSchema,
    startedBy: z.string(),
    startedAt: z.string(),
    dueAt: z.string(),
    closedAt: z.string().optional(),
    items: z.number().int(),
    decided: z.number().int(),
    guard: z
      .object({
        share: z.number(),
        max: z.number(),
        defaultRevokes: z.number().int(),
        confirmedBy: z.string().optional(),
        apply: z.boolean().optional(),
      })
      .optional(),
    cancelledBy: z.string().optional(),
  })
  .meta({ id: 'Campaign' });
export type CampaignBody = z.infer<typeof campaignSchema>;

export const campaignListSchema = z
  .object({
    items: z.array(campaignSchema),
    definitions: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        default: campaignDefaultSchema,
        schedule: z.array(z.string()).optional(),
      }),
    ),
  })
  .meta({ id: 'CampaignList' });

export const reviewItemSchema = z
  .object({
    id: z.string(),
    campaignId: z.string(),
    campaignName: z.string(),
    dueAt: z.string(),
    requestId: z.string(),
    holder: z.string(),
    entitlement: z.string(),
    privileged: z.boolean(),
    grantedAt: z.string(),
    recommendation: z.enum(['keep', 'revoke']),
    reasons: z.array(reasonSchema),
    decision: z.enum(['keep', 'revoke']).optional(),
    comment: z.string().optional(),
  })
  .meta({ id: 'ReviewItem' });
export type ReviewItemBody = z.infer<typeof reviewItemSchema>;
export const inboxSchema = z
  .object({ items: z.array(reviewItemSchema), next: z.string().optional() })
  .meta({ id: 'ReviewInbox' });

export const decisionResultSchema = z
  .object({
    items: z.array(z.object({ id: z.string(), decision: z.enum(['keep', 'revoke']), auditSeq: z.number().int() })),
  })
  .meta({ id: 'ReviewDecisionResult' });

export const evidenceItemSchema = z.object({
  itemId: z.string(),
  requestId: z.string(),
  holder: z.string(),
  entitlement: z.string(),
  privileged: z.boolean(),
  grantedAt: z.string(),
  assigned: z.array(z.string()),
  reviewers: z.array(z.string()),
  recommendation: z.enum(['keep', 'revoke']),
  reasons: z.array(reasonSchema),
  decision: z.enum(['keep', 'revoke']).optional(),
  decisionSource: z.enum(['reviewer', 'default']).optional(),
  decidedBy: z.string().optional(),
  decidedAt: z.string().optional(),
  comment: z.string().optional(),
  outcome: itemOutcomeSchema,
  failure: z.string().optional(),
  appliedAt: z.string().optional(),
  /** When the grant ended at the target (the request's own record), for revoked items. */
  revokedAtTarget: z.string().optional(),
  /** Audit sequence numbers: the decision, the campaign's outcome for the item, the request's own `revoked`. */
  decisionSeq: z.number().int().optional(),
  appliedSeq: z.number().int().optional(),
  requestRevokedSeq: z.number().int().optional(),
});
export const evidenceSchema = z
  .object({
    format: z.literal('grantflow-campaign-evidence'),
    exportedAt: z.string(),
    campaign: campaignSchema,
    /** The campaign's own audit events (started, opened, guard, defaults, closed) with their chain position. */
    events: z.array(
      z.object({ seq: z.number().int(), action: z.string(), actor: z.string(), at: z.string(), hash: z.string() }),
    ),
    items: z.array(evidenceItemSchema),
  })
  .meta({ id: 'CampaignEvidence' });
export type EvidenceBody = z.infer<typeof evidenceSchema>;

export const campaignKpiSchema = z
  .object({
    campaignId: z.string(),
    items: z.number().int(),
    decidedByReviewers: z.number().int(),
    completion: z.number().meta({ description: 'Share of items a reviewer decided (not the default).' }),
    revokeRate: z.number().nullable().meta({ description: 'Share of decided items revoked.' }),
    overdueReviewers: z.array(z.object({ reviewer: z.string(), open: z.number().int() })),
    rubberStamping: z.array(
      z.object({
        reviewer: z.string(),
        decisions: z.number().int(),
        secondsPerItem: z.number(),
      }),
    ),
  })
  .meta({ id: 'CampaignKpis' });
export type CampaignKpiBody = z.infer<typeof campaignKpiSchema>;
