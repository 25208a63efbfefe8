import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { z } from 'zod';
import { durationMs, formatDuration } from '../../domain';
import { MAX_EXTENSION_MS } from '../../domain/messages';
import {
  cancelUpdate,
  decideUpdate,
  extendUpdate,
  fulfilUpdate,
  refusalTypes,
  retryUpdate,
  reviewUpdate,
  revokeUpdate,
  type RefusalType,
} from '../../workflows/messages';
import { canSee, subjectOfView, type Caller } from '../caller';
import type { AppContext } from '../context';
import { fieldErrors, notFound, Problem, refusalProblems, validationProblem } from '../problem';
import type { ApiRouter } from '../router';
import {
  decisionInput,
  decisionResultSchema,
  extendInput,
  extendResultSchema,
  fulfilInput,
  idempotencyKeyHeader,
  messageResultSchema,
  reasonInput,
  requestParams,
  reviewInput,
} from '../schemas';
import { readView } from './requests';

type Message = 'decide' | 'cancel' | 'revoke' | 'extend' | 'review' | 'fulfil' | 'retry';

interface MessageRoute<B extends z.ZodType, Arg, Ret> {
  message: Message;
  path: string;
  operationId: string;
  summary: string;
  description: string;
  body: B;
  result: z.ZodType;
  /** Problem statuses besides the common ones and 403, 404, 409. */
  problems?: number[];
  update: UpdateDefinition<Ret, [Arg]>;
  /** Builds the update's argument; the actor is always the caller. */
  input(caller: Caller, body: z.output<B>): Arg;
}

/**
 * The messages a person sends a running request. The workflow's validators decide who may send what; a refusal is
 * answered with the workflow's own sentence and recorded in the audit trail, because a refused update leaves no
 * trace in the workflow's history.
 */
export function registerMessageRoutes(api: ApiRouter, ctx: AppContext): void {
  const route = <B extends z.ZodType, Arg, Ret>(m: MessageRoute<B, Arg, Ret>) =>
    api.route({
      method: 'post',
      path: `/v1/requests/:id/${m.path}`,
      operationId: m.operationId,
      summary: m.summary,
      description: m.description,
      tags: ['messages'],
      limited: true,
      params: requestParams,
      body: m.body,
      headers: z.object({
        'Idempotency-Key': idempotencyKeyHeader
          .optional()
          .meta({ description: 'Makes a retry deliver the message once (it becomes the update id).' }),
      }),
      answers: [{ status: 200, description: "The workflow's answer.", schema: m.result }],
      problems: [403, 404, 409, ...(m.problems ?? [])],
      async handle({ req, res, params, body, caller }) {
        const updateId = updateIdOf(req, m.message, caller);
        res.json(
          await deliver(ctx, caller, params.id, m.message, () =>
            ctx.workflows.update(params.id, m.update, m.input(caller, body as z.output<B>), updateId),
          ),
        );
      },
    });

  route({
    message: 'decide',
    path: 'decisions',
    operationId: 'decide',
    summary: 'Approve or deny the open stage',
    description:
      '403 when you made the request or are not an eligible approver; 409 when no stage is open or you already decided.',
    body: decisionInput,
    result: decisionResultSchema,
    update: decideUpdate,
    input: (caller, body) => ({
      approver: caller.id,
      decision: body.decision,
      comment: body.comment,
      via: 'api' as const,
    }),
  });
  route({
    message: 'cancel',
    path: 'cancel',
    operationId: 'cancel',
    summary: 'Cancel a request that has no grant yet (requester only)',
    description: '409 once provisioning has begun: revoke the grant instead.',
    body: reasonInput,
    result: messageResultSchema,
    update: cancelUpdate,
    input: (caller, body) => ({ by: caller.id, reason: body.reason }),
  });
  route({
    message: 'revoke',
    path: 'revoke',
    operationId: 'revoke',
    summary: 'Revoke a live grant (holder, resource owners, security, admins)',
    description: '409 when there is no live grant.',
    body: reasonInput,
    result: messageResultSchema,
    update: revokeUpdate,
    input: (caller, body) => ({ by: caller.id, reason: body.reason }),
  });
  route({
    message: 'extend',
    path: 'extend',
    operationId: 'extend',
    summary: 'Extend a live grant (requester or beneficiary)',
    description:
      "Extends at once within the policy's no-approval allowance, otherwise asks for approval again; 422 when the " +
      "grant would outlast the entitlement's maximum duration, or the extension is longer than any may be (P3660D).",
    body: extendInput,
    result: extendResultSchema,
    problems: [422],
    update: extendUpdate,
    input: (caller, body) => ({
      by: caller.id,
      durationMs: extensionMs(body.duration),
      justification: body.justification,
    }),
  });
  route({
    message: 'review',
    path: 'review',
    operationId: 'review',
    summary: 'Review a break-glass access after the incident (security)',
    description: '403 for whoever invoked or held the access and for non-reviewers; 409 when no review is open.',
    body: reviewInput,
    result: messageResultSchema,
    update: reviewUpdate,
    input: (caller, body) => ({ by: caller.id, outcome: body.outcome, comment: body.comment }),
  });
  route({
    message: 'fulfil',
    path: 'fulfil',
    operationId: 'fulfil',
    summary: 'Confirm a manual grant or removal is done (named fulfillers)',
    description: '403 for non-fulfillers and for changes to your own access; 409 when no task is open.',
    body: fulfilInput,
    result: messageResultSchema,
    update: fulfilUpdate,
    input: (caller, body) => ({ by: caller.id, comment: body.comment }),
  });
  route({
    message: 'retry',
    path: 'retry',
    operationId: 'retry',
    summary: 'Retry a failed grant or revocation (security, admins)',
    description: '403 for anyone but security and admins; 409 when the request has not failed.',
    body: reasonInput,
    result: messageResultSchema,
    update: retryUpdate,
    input: (caller, body) => ({ by: caller.id, reason: body.reason }),
  });
}

/**
 * An extension longer than the workflow's message schema takes would come back as a malformed message; refused here
 * first, as what it is: longer than any grant may be extended.
 */
function extensionMs(duration: string): number {
  const ms = durationMs(duration);
  if (ms <= MAX_EXTENSION_MS) return ms;
  const most = formatDuration(MAX_EXTENSION_MS);
  throw new Problem('extension-too-long', `An extension is at most ${most}; ${duration} is longer.`, {
    errors: [{ field: 'duration', message: `must be at most ${most}` }],
  });
}

function updateIdOf(req: Request, message: Message, caller: Caller): string {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return randomUUID();
  const parsed = idempotencyKeyHeader.safeParse(raw);
  if (!parsed.success) throw validationProblem(fieldErrors(parsed.error.issues, 'Idempotency-Key'), 'header');
  return `${message}:${caller.id}:${parsed.data}`;
}

function isRefusal(type: string | undefined | null): type is RefusalType {
  return (refusalTypes as readonly (string | null | undefined)[]).includes(type);
}

/** How a message reached the API: the portal and curl use HTTP updates; chat clicks arrive through Slack. */
export type Channel = 'update' | 'slack';

/** Sends one message and turns the workflow's refusal into a Problem with its sentence, recorded in the trail. */
export async function deliver<R>(
  ctx: AppContext,
  caller: Caller,
  id: string,
  message: Message,
  send: () => Promise<R>,
  via: Channel = 'update',
): Promise<R> {
  try {
    return await send();
  } catch (err) {
    const failure = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (failure instanceof ApplicationFailure && isRefusal(failure.type)) {
      await recordRefusal(ctx, caller, id, message, failure.type, failure.message, via);
      // A refusal must not tell a stranger that the request exists.
      if (!(await visible(ctx, caller, id))) throw notFound('request');
      throw new Problem(refusalProblems[failure.type], failure.message, { refusal: failure.type });
    }
    if (err instanceof WorkflowNotFoundError) throw await closedOrUnknown(ctx, caller, id, message, via);
    throw err;
  }
}

/** An update to a closed workflow reads as "not found": tell a closed request (409) from an unknown one (404). */
async function closedOrUnknown(
  ctx: AppContext,
  caller: Caller,
  id: string,
  message: Message,
  via: Channel,
): Promise<Problem> {
  const row = await ctx.store.subject(id);
  if (!row || !canSee(caller, row)) return notFound('request');
  if (!(await ctx.workflows.exists(id)) && row.status === 'validating') return notFound('request');
  const detail = `Request ${id} is closed (status: ${row.status}); it accepts no more messages.`;
  await recordRefusal(ctx, caller, id, message, 'RequestClosed', detail, via);
  return new Problem('request-closed', detail, { refusal: 'RequestClosed' });
}

/** Asked of the live view first: the projection may not yet list an approver of a stage that just opened. */
async function visible(ctx: AppContext, caller: Caller, id: string): Promise<boolean> {
  const view = await readView(ctx, id).catch(() => undefined);
  if (view) return canSee(caller, subjectOfView(view));
  const row = await ctx.store.subject(id);
  return row !== undefined && canSee(caller, row);
}

export async function recordRefusal(
  ctx: AppContext,
  caller: Pick<Caller, 'id'>,
  requestId: string,
  message: Message,
  refusal: string,
  reason: string,
  via: Channel = 'update',
): Promise<void> {
  ctx.metrics.refusals.inc({ message, refusal });
  await ctx.audit.append([
    {
      eventId: `api:${requestId}:refused:${randomUUID()}`,
      requestId,
      actor: caller.id,
      action: 'refused',
      at: new Date().toISOString(),
      data: { message, refusal, reason, via },
    },
  ]);
}
