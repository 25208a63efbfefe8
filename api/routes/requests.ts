import { createHash, randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { canonicalJson } from '../../activities/audit';
import {
  evaluate,
  formatDuration,
  sodCircle,
  type Config,
  type Evaluation,
  type RequestInput,
  type RiskLevel,
} from '../../domain';
import { initialView, type AccessRequestArgs, type RequestView } from '../../workflows/messages';
import { canSee, subjectOfView, type Caller } from '../caller';
import type { AppContext } from '../context';
import { fieldErrors, notFound, Problem, validationProblem, type FieldError } from '../problem';
import { previewDiagram, viewDiagram } from '../plan-diagram';
import type { ApiRouter } from '../router';
import {
  idempotencyKeyHeader,
  listQuery,
  previewSchema,
  requestInput,
  requestDetailSchema,
  requestPageSchema,
  requestParams,
  requestViewSchema,
  type Preview,
} from '../schemas';

/** How long a submission waits for the workflow to finish validating before answering with what it has. */
const SUBMIT_WAIT_MS = 3000;

/** Policy reasons that mean the body does not fit the catalog: refused at the edge, before any workflow starts. */
const CATALOG_REASONS = new Set([
  'unknown_entitlement',
  'field_missing',
  'field_invalid',
  'field_unknown',
  'duration_too_long',
  'break_glass_not_allowed',
]);

export function registerRequestRoutes(api: ApiRouter, ctx: AppContext): void {
  // The directory in ctx.config moves with every sync, so handlers read it at call time.
  const { store, workflows } = ctx;

  api.route({
    method: 'post',
    path: '/v1/requests',
    operationId: 'submitRequest',
    summary: 'Submit a request for access',
    description:
      "Starts the request's workflow and answers once it has validated the request (or after about 3 seconds). " +
      'A request the policy rejects (e.g. a separation-of-duties conflict) is created with status `rejected` and ' +
      'its reasons; a body that does not fit the catalog is refused with 422 and nothing starts.',
    tags: ['requests'],
    limited: true,
    body: requestInput,
    headers: z.object({ 'Idempotency-Key': idempotencyKeyHeader.optional() }),
    answers: [
      {
        status: 201,
        description: 'Created; the view as validation left it.',
        schema: requestViewSchema,
        headers: { Location: 'The new request.' },
      },
      {
        status: 200,
        description: 'A retry with the same Idempotency-Key and body: the request created the first time.',
        schema: requestViewSchema,
        headers: { Location: 'The request.' },
      },
    ],
    problems: [422],
    async handle({ req, res, body: input, caller }) {
      const { config } = ctx;
      const idempotencyKey = idempotencyKeyOf(req);
      const misfits = catalogMisfits(config, caller, input);
      if (misfits.length > 0) {
        const first = misfits[0]?.message ?? '';
        throw new Problem(
          'invalid-request',
          misfits.length === 1 ? first : `${first} (and ${misfits.length - 1} more)`,
          {
            errors: misfits,
          },
        );
      }
      const entitlement = input.entitlement;
      const claim = await store.claim({
        id: randomUUID(),
        requester: caller.id,
        beneficiary: input.beneficiary ?? caller.id,
        entitlement,
        resource: resourceOf(entitlement),
        justification: input.justification,
        breakGlass: input.breakGlass,
        idempotencyKey,
        bodyHash: createHash('sha256').update(canonicalJson(input)).digest('hex'),
        submittedAt: new Date().toISOString(),
      });
      const args: AccessRequestArgs = {
        requestId: claim.id,
        requester: caller.id,
        input,
        submittedAt: claim.submittedAt,
      };
      try {
        await workflows.start(args, { risk: await riskAtSubmission(ctx, args, caller) });
      } catch (err) {
        // Without a key nobody can retry this attempt, so its row must not linger as a request that never ran.
        if (!claim.replay && idempotencyKey === undefined) await store.release(claim.id).catch(() => undefined);
        throw err;
      }
      const view =
        (await waitForView(ctx, claim.id, (v) => v.status !== 'validating', SUBMIT_WAIT_MS)) ?? initialView(args);
      res
        .status(claim.replay ? 200 : 201)
        .location(`/v1/requests/${claim.id}`)
        .json(view);
    },
  });

  api.route({
    method: 'post',
    path: '/v1/requests/preview',
    operationId: 'previewRequest',
    summary: 'Preview a request: validation, risk and the approval plan with named approvers',
    description: 'Evaluates the policy exactly as a submission would, now; nothing is started or stored.',
    tags: ['requests'],
    limited: true,
    body: requestInput,
    answers: [{ status: 200, description: 'What would happen.', schema: previewSchema }],
    async handle({ res, body: input, caller }) {
      const { config } = ctx;
      const beneficiary = input.beneficiary ?? caller.id;
      // Someone else's holdings are not the caller's business: the policy refuses such a beneficiary anyway.
      const facts = caller.own.includes(beneficiary)
        ? await store.holdings(beneficiary, sodCircle(config, beneficiary), resourceOf(input.entitlement))
        : { holdings: [], heldResourceBefore: false };
      const evaluation = evaluate(
        { requestId: 'preview', requester: caller.id, input, now: new Date().toISOString(), ...facts },
        config,
      );
      res.json(toPreview(evaluation, config));
    },
  });

  api.route({
    method: 'get',
    path: '/v1/requests/:id',
    operationId: 'getRequest',
    summary: 'The full view of a request',
    description:
      'The view as the workflow last wrote it (every accepted decision or change is written before its answer), ' +
      'so it holds when Temporal cannot be reached or no longer keeps a closed request.',
    tags: ['requests'],
    params: requestParams,
    answers: [{ status: 200, description: 'The request.', schema: requestDetailSchema }],
    problems: [404],
    async handle({ res, params, caller }) {
      const view = await readView(ctx, params.id);
      if (!view || !canSee(caller, subjectOfView(view))) throw notFound('request');
      const planDiagram = viewDiagram(view, ctx.config);
      res.json({ ...view, ...(planDiagram !== undefined && { planDiagram }) });
    },
  });

  api.route({
    method: 'get',
    path: '/v1/requests',
    operationId: 'listRequests',
    summary: 'Requests the caller may see, newest first',
    tags: ['requests'],
    query: listQuery,
    answers: [{ status: 200, description: 'One page.', schema: requestPageSchema }],
    async handle({ res, query, caller }) {
      res.json(await store.list(caller, query));
    },
  });
}

/**
 * The view as the workflow last wrote it to PostgreSQL, which is what its query would answer (the workflow publishes
 * a view only once it is written); the query only for a request whose first view is not written yet.
 *
 * Why not the query first: a query sent while the worker is busy reaches it as a "legacy query" with the whole
 * history, the worker replays the workflow to answer it, and with SDK 1.24 the next workflow task after that replay
 * runs with the clock of the last replayed task (seen in the model test: a stage opened seconds "earlier" than its
 * history says). A later replay then takes other decisions and fails as nondeterministic. Reading PostgreSQL keeps
 * the API from sending queries at all.
 */
export async function readView(ctx: AppContext, id: string): Promise<RequestView | undefined> {
  const row = await ctx.store.subject(id);
  if (row?.view) return row.view;
  try {
    return await ctx.workflows.view(id);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Polls the written view until `done` holds or `waitMs` passes; the last view seen, if any. */
async function waitForView(
  ctx: AppContext,
  id: string,
  done: (view: RequestView) => boolean,
  waitMs: number,
): Promise<RequestView | undefined> {
  const until = Date.now() + waitMs;
  let last: RequestView | undefined;
  for (let pause = 25; ; pause = Math.min(pause * 2, 200)) {
    last = (await ctx.store.subject(id))?.view ?? last;
    if ((last && done(last)) || Date.now() >= until) return last;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, until - Date.now()))));
  }
}

function idempotencyKeyOf(req: Request): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const parsed = idempotencyKeyHeader.safeParse(raw);
  if (!parsed.success) throw validationProblem(fieldErrors(parsed.error.issues, 'Idempotency-Key'), 'header');
  return parsed.data;
}

function resourceOf(entitlement: string): string {
  return entitlement.split(':')[0] ?? '';
}

/** What the catalog alone says is wrong with the body (facts about people and holdings are the workflow's). */
/** The risk the policy gives the request now, for the operator's summary (the workflow evaluates it again). */
async function riskAtSubmission(
  ctx: AppContext,
  args: AccessRequestArgs,
  caller: Caller,
): Promise<RiskLevel | undefined> {
  const { input, requester } = args;
  const beneficiary = input.beneficiary ?? requester;
  try {
    const facts = caller.own.includes(beneficiary)
      ? await ctx.store.holdings(beneficiary, sodCircle(ctx.config, beneficiary), resourceOf(input.entitlement))
      : { holdings: [], heldResourceBefore: false };
    return evaluate({ requestId: args.requestId, requester, input, now: args.submittedAt, ...facts }, ctx.config).risk
      ?.level;
  } catch {
    return undefined; // a summary without a risk rather than no request
  }
}

function catalogMisfits(config: Config, caller: Caller, input: RequestInput): FieldError[] {
  const evaluation = evaluate(
    {
      requestId: 'submission',
      requester: caller.id,
      input,
      now: new Date().toISOString(),
      holdings: [],
      heldResourceBefore: true,
    },
    config,
  );
  if (evaluation.valid) return [];
  return evaluation.reasons
    .filter((r) => CATALOG_REASONS.has(r.code))
    .map((r) => ({ field: r.field ?? 'entitlement', message: r.message }));
}

function toPreview(evaluation: Evaluation, config: Config): Preview {
  const base = { policyVersion: config.policyVersion, risk: evaluation.risk };
  if (!evaluation.valid) {
    return {
      ...base,
      valid: false,
      reasons: evaluation.reasons,
      ...(evaluation.existingRequestId !== undefined && { existingRequestId: evaluation.existingRequestId }),
    };
  }
  const { plan, grant } = evaluation;
  const stages = plan.kind === 'stages' ? plan.stages : plan.kind === 'break-glass' ? [plan.review] : [];
  return {
    ...base,
    valid: true,
    reasons: [],
    plan: {
      kind: plan.kind,
      rule: plan.rule,
      stages: stages.map((s) => ({
        name: s.name,
        quorum: s.quorum,
        required: s.required,
        approvers: s.approvers.map((id) => ({ id, name: config.users.get(id)?.name ?? id })),
        fallback: s.fallback,
        ...(s.escalateAfterMs !== undefined && { escalateAfter: formatDuration(s.escalateAfterMs) }),
        deadline: formatDuration(s.deadlineMs),
      })),
    },
    grant: {
      beneficiary: grant.beneficiary,
      duration: formatDuration(grant.durationMs),
      maxDuration: formatDuration(grant.maxDurationMs),
      connector: grant.connector.type,
    },
    ...(plan.kind === 'stages' &&
      plan.exception && {
        exception: {
          waived: plan.exception.waived,
          compensatingControl: plan.exception.compensatingControl,
          ...(plan.exception.reviewEveryMs !== undefined && {
            reviewEvery: formatDuration(plan.exception.reviewEveryMs),
          }),
          stages: plan.exception.stages,
        },
      }),
    planDiagram: previewDiagram(evaluation, config),
  };
}
