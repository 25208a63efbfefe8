import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import type { AuditKeyring } from '../../activities/audit-chain';
import type { CampaignDefinitions } from '../../domain/campaign';
import { campaignKey, campaignStatusKey } from '../../workflows/search-attributes';
import {
  cancelCampaignSignal,
  campaignWorkflowId,
  confirmCampaignSignal,
  type CampaignArgs,
} from '../../workflows/campaign/messages';
import type { Caller } from '../caller';
import type { AppContext } from '../context';
import { Problem } from '../problem';
import type { ApiRouter } from '../router';
import {
  bulkDecisionInput,
  campaignKpiSchema,
  campaignListSchema,
  campaignParams,
  campaignSchema,
  cancelCampaignInput,
  confirmCampaignInput,
  decisionInput,
  decisionResultSchema,
  evidenceQuery,
  evidenceSchema,
  inboxQuery,
  inboxSchema,
  itemParams,
  startCampaignInput,
} from '../campaign-schemas';
import { createCampaignStore, evidenceCsv } from '../campaign-store';

export interface CampaignRouteDeps {
  definitions: CampaignDefinitions;
  keyring: AuditKeyring;
  taskQueue: string;
}

/** Access reviews: campaigns (security and admins), the reviewer's inbox and decisions, evidence (auditors). */
export function registerCampaignRoutes(api: ApiRouter, ctx: AppContext, deps: CampaignRouteDeps): void {
  const store = createCampaignStore(ctx.pool, deps.keyring);
  const tags = ['reviews'];

  const requireOperator = (caller: Caller) => {
    const { security, admins } = ctx.config.policy.roles;
    if (!caller.identity.groups.some((g) => g === security || admins.includes(g))) {
      throw new Problem('forbidden', 'Campaigns are started and cancelled by security and admins only.');
    }
  };
  const requireSecurity = (caller: Caller) => {
    if (!caller.identity.groups.includes(ctx.config.policy.roles.security)) {
      throw new Problem('forbidden', "Only security confirms a campaign's default.");
    }
  };
  const found = async (id: string) => {
    const c = await store.get(id);
    if (!c) throw new Problem('not-found', `No campaign ${id}.`);
    return c;
  };

  api.route({
    method: 'get',
    path: '/v1/campaigns',
    operationId: 'listCampaigns',
    summary: 'Campaign runs, newest first, and the definitions they start from (security, auditors, admins)',
    tags,
    answers: [{ status: 200, description: 'The campaigns.', schema: campaignListSchema }],
    async handle({ res, caller }) {
      if (!caller.seesAll) throw new Problem('forbidden', 'Campaigns are open to security, auditors and admins only.');
      res.json({
        items: await store.list(),
        definitions: [...deps.definitions.byId.values()].map((d) => ({
          id: d.id,
          name: d.name,
          default: d.default,
          ...(d.schedule && { schedule: d.schedule.cron }),
        })),
      });
    },
  });

  api.route({
    method: 'post',
    path: '/v1/campaigns',
    operationId: 'startCampaign',
    summary: 'Start a one-off run of a campaign definition (security and admins)',
    tags,
    limited: true,
    body: startCampaignInput,
    answers: [
      {
        status: 202,
        description: 'Started; the snapshot is being taken.',
        schema: z.object({ id: z.string() }),
        headers: { Location: 'The campaign.' },
      },
    ],
    problems: [404],
    async handle({ res, body, caller }) {
      requireOperator(caller);
      const definition = deps.definitions.byId.get(body.definition);
      if (!definition) {
        throw new Problem('not-found', `No campaign definition "${body.definition}" in campaigns.yaml.`, {
          errors: [{ field: 'definition', message: 'is not a campaign definition' }],
        });
      }
      const id = campaignWorkflowId(definition.id, randomUUID());
      const args: CampaignArgs = { definition, startedBy: caller.id };
      await ctx.client.workflow.start('accessReviewCampaign', {
        workflowId: id,
        taskQueue: deps.taskQueue,
        args: [args],
        typedSearchAttributes: [
          { key: campaignKey, value: definition.id },
          { key: campaignStatusKey, value: 'snapshotting' },
        ],
        staticSummary: `${definition.name}, started by ${caller.id}`,
      });
      res.status(202).location(`/v1/campaigns/${id}`).json({ id });
    },
  });

  api.route({
    method: 'get',
    path: '/v1/campaigns/:id',
    operationId: 'getCampaign',
    summary: 'One campaign run with its progress (security, auditors, admins)',
    tags,
    params: campaignParams,
    answers: [{ status: 200, description: 'The campaign.', schema: campaignSchema }],
    problems: [404],
    async handle({ res, params, caller }) {
      if (!caller.seesAll) throw new Problem('forbidden', 'Campaigns are open to security, auditors and admins only.');
      res.json(await found(params.id));
    },
  });

  api.route({
    method: 'post',
    path: '/v1/campaigns/:id/cancel',
    operationId: 'cancelCampaign',
    summary: 'Cancel a campaign before it applies anything (security and admins)',
    tags,
    limited: true,
    params: campaignParams,
    body: cancelCampaignInput,
    answers: [{ status: 202, description: 'The campaign will stop; nothing is applied.', schema: campaignSchema }],
    problems: [404, 409],
    async handle({ res, params, body, caller }) {
      requireOperator(caller);
      const c = await found(params.id);
      if (!['snapshotting', 'open', 'awaiting_confirmation'].includes(c.status)) {
        throw new Problem('invalid-state', `Campaign ${c.id} is ${c.status}; only a campaign not yet applying stops.`);
      }
      await signal(params.id, () =>
        ctx.client.workflow
          .getHandle(params.id)
          .signal(cancelCampaignSignal, { by: caller.id, ...(body.reason && { reason: body.reason }) }),
      );
      res.status(202).json(c);
    },
  });

  api.route({
    method: 'post',
    path: '/v1/campaigns/:id/confirm',
    operationId: 'confirmCampaign',
    summary: "Answer the revoke-share guard: apply the default's revokes, or keep those items (security)",
    tags,
    limited: true,
    params: campaignParams,
    body: confirmCampaignInput,
    answers: [{ status: 202, description: 'The campaign applies its results.', schema: campaignSchema }],
    problems: [404, 409],
    async handle({ res, params, body, caller }) {
      requireSecurity(caller);
      const c = await found(params.id);
      if (c.status !== 'awaiting_confirmation') {
        throw new Problem('invalid-state', `Campaign ${c.id} is ${c.status}; it is not waiting for a confirmation.`);
      }
      await signal(params.id, () =>
        ctx.client.workflow.getHandle(params.id).signal(confirmCampaignSignal, { by: caller.id, apply: body.apply }),
      );
      res.status(202).json(c);
    },
  });

  api.route({
    method: 'get',
    path: '/v1/reviews/inbox',
    operationId: 'getReviewInbox',
    summary: "The caller's items to review in open campaigns (their own, and those of people they stand in for)",
    tags,
    query: inboxQuery,
    answers: [
      { status: 200, description: 'One page; `next` is the `after` of the following one.', schema: inboxSchema },
    ],
    async handle({ res, query, caller }) {
      res.json(await store.inbox(ctx.config, caller.id, query));
    },
  });

  api.route({
    method: 'post',
    path: '/v1/reviews/items/:itemId/decision',
    operationId: 'decideReviewItem',
    summary: 'Keep or revoke one item (its reviewer or their delegate; never the holder)',
    tags,
    limited: true,
    params: itemParams,
    body: decisionInput,
    answers: [
      { status: 200, description: 'Recorded; applied when the campaign closes.', schema: decisionResultSchema },
    ],
    problems: [404, 409],
    async handle({ res, params, body, caller }) {
      const items = await store.decide(ctx.config, caller.id, [params.itemId], body.decision, body.comment);
      res.json({ items });
    },
  });

  api.route({
    method: 'post',
    path: '/v1/reviews/decisions',
    operationId: 'decideReviewItems',
    summary: 'Keep or revoke several items with one comment, all or none',
    tags,
    limited: true,
    body: bulkDecisionInput,
    answers: [
      { status: 200, description: 'Recorded; applied when the campaign closes.', schema: decisionResultSchema },
    ],
    problems: [404, 409],
    async handle({ res, body, caller }) {
      const ids = [...new Set(body.items)];
      res.json({ items: await store.decide(ctx.config, caller.id, ids, body.decision, body.comment) });
    },
  });

  api.route({
    method: 'get',
    path: '/v1/campaigns/:id/evidence',
    operationId: 'exportCampaignEvidence',
    summary: 'Every item with its reviewer, decision, outcome and audit sequence numbers (security and auditors)',
    tags,
    params: campaignParams,
    query: evidenceQuery,
    answers: [
      { status: 200, description: 'The evidence (format=json).', schema: evidenceSchema },
      { status: 200, description: 'The evidence (format=csv).', schema: z.string(), contentType: 'text/csv' },
    ],
    problems: [404],
    async handle({ res, params, query, caller }) {
      if (!caller.auditor) throw new Problem('forbidden', 'Evidence is open to security and auditors only.');
      const evidence = await store.evidence(params.id);
      if (!evidence) throw new Problem('not-found', `No campaign ${params.id}.`);
      await ctx.audit.append([
        {
          eventId: `api:campaign-evidence:${randomUUID()}`,
          requestId: params.id,
          actor: caller.id,
          action: 'campaign.evidence_exported',
          at: new Date().toISOString(),
          data: { format: query.format },
        },
      ]);
      res.attachment(`${params.id}-evidence.${query.format}`);
      if (query.format === 'csv') res.type('text/csv; charset=utf-8').send(evidenceCsv(evidence));
      else res.json(evidence);
    },
  });

  api.route({
    method: 'get',
    path: '/v1/campaigns/:id/kpis',
    operationId: 'getCampaignKpis',
    summary: 'Completion, revoke rate, overdue reviewers and rubber-stamping (security, auditors, admins)',
    tags,
    params: campaignParams,
    answers: [{ status: 200, description: 'The figures.', schema: campaignKpiSchema }],
    problems: [404],
    async handle({ res, params, caller }) {
      if (!caller.seesAll) throw new Problem('forbidden', 'KPIs are open to security, auditors and admins only.');
      const kpis = await store.kpis(params.id);
      if (!kpis) throw new Problem('not-found', `No campaign ${params.id}.`);
      res.json(kpis);
    },
  });
}

async function signal(id: string, send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new Problem('invalid-state', `Campaign ${id} is no longer running.`);
    }
    throw err;
  }
}
