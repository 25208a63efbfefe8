import { setHandler, condition } from '@temporalio/workflow';
import type { z } from 'zod';
import {
  actorMessage,
  decisionMessage,
  extendMessage,
  fulfilMessage,
  messageProblem,
  reviewMessage,
} from '../../domain/messages';
import {
  cancelSignal,
  cancelUpdate,
  decideSignal,
  decideUpdate,
  extendUpdate,
  fulfilUpdate,
  getRequestQuery,
  retrySignal,
  rerouteSignal,
  rerouteUpdate,
  retryUpdate,
  reviewSignal,
  reviewUpdate,
  revokeSignal,
  revokeUpdate,
  type DecisionResult,
  type ExtendResult,
  type MessageResult,
  type RerouteResult,
} from '../messages';
import { beginExtension, checkExtension } from './extension';
import { applyFulfil, checkFulfil } from './fulfilment';
import {
  applyCancel,
  applyRetry,
  applyRevoke,
  checkCancel,
  checkDecide,
  checkRetry,
  checkRevoke,
  decisionStage,
} from './machine';
import { refuse } from './refuse';
import { applyReroute, checkReroute, rerouteMessage } from './reroute';
import { applyReview, checkReview } from './review';
import { applyDecision } from './stages';
import { record, type RequestState } from './state';

/** What the handlers need of the workflow: its state, its clock, and a step that applies what became due. */
export interface HandlerContext {
  state: RequestState;
  now(): number;
  /** Advances the machine after a change and wakes the main loop. */
  step(): void;
}

function parse<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) refuse('Malformed', messageProblem(parsed.error));
  return parsed.data;
}

function actorOf(raw: unknown): string {
  const r = raw as { by?: unknown; approver?: unknown } | null | undefined;
  const who = typeof r?.by === 'string' ? r.by : typeof r?.approver === 'string' ? r.approver : undefined;
  return who && who.length <= 100 ? who : 'unknown';
}

/**
 * Every message: validated with the shared zod schema, checked and applied in one synchronous step (nothing can
 * slip in between), then the caller of an update waits until the bookkeeping that records it is written, so that
 * every read reflects it when the answer arrives.
 */
export function registerHandlers(ctx: HandlerContext): void {
  const s = ctx.state;

  /** Resolves once what is applied now is written, and the request is not half-way through closing. */
  async function settled(extra: () => boolean = () => true): Promise<void> {
    await condition(() => s.phase.name !== 'closing' && extra());
    const mark = s.outbox.queued;
    await condition(() => s.outbox.flushed >= mark);
  }

  function update<T extends z.ZodType, R, A = void>(
    schema: T,
    check: (input: z.output<T>) => void,
    apply: (input: z.output<T>) => A,
    answer: (applied: A) => R,
    wait?: () => boolean,
  ) {
    return {
      validator: (raw: unknown) => check(parse(schema, raw)),
      async handler(raw: unknown): Promise<R> {
        const input = parse(schema, raw);
        // Checked again in the same step as the change: a message accepted just before may have changed the state.
        check(input);
        const applied = apply(input);
        ctx.step();
        await settled(wait);
        return answer(applied);
      },
    };
  }

  /** Signals have no validator: a malformed or ineligible one is recorded as refused and changes nothing else. */
  function signal<T extends z.ZodType>(
    what: string,
    schema: T,
    check: (input: z.output<T>) => void,
    apply: (input: z.output<T>) => void,
  ) {
    return (raw: unknown): void => {
      try {
        const input = parse(schema, raw);
        check(input);
        apply(input);
      } catch (err) {
        const failure = err as { type?: string; message?: string };
        record(s, ctx.now(), 'refused', actorOf(raw), {
          message: what,
          refusal: failure.type ?? 'Malformed',
          reason: failure.message ?? String(err),
          via: 'signal',
        });
      }
      ctx.step();
    };
  }

  const status = (): MessageResult => ({ outcome: 'recorded', status: s.view.status });

  setHandler(getRequestQuery, () => s.published);

  const decide = (via: 'update' | 'signal') => (input: z.output<typeof decisionMessage>) => {
    const open = decisionStage(s);
    if (open) applyDecision(s, open.stage, input, via, ctx.now(), open.roundKey);
  };
  const d = update(
    decisionMessage,
    (input) => checkDecide(s, input),
    (input) => {
      const stage = decisionStage(s)?.stage;
      decide('update')(input);
      return stage;
    },
    (stage): DecisionResult => ({
      outcome: 'recorded',
      stage: stage?.name ?? '',
      stageStatus: stage?.status ?? 'open',
      status: s.view.status,
    }),
  );
  setHandler(decideUpdate, d.handler, { validator: d.validator });
  setHandler(
    decideSignal,
    signal('decision', decisionMessage, (input) => checkDecide(s, input), decide('signal')),
  );

  const cancel = update(
    actorMessage,
    (input) => checkCancel(s, input),
    (input) => applyCancel(s, input, ctx.now()),
    status,
  );
  setHandler(cancelUpdate, cancel.handler, { validator: cancel.validator });
  setHandler(
    cancelSignal,
    signal(
      'cancel',
      actorMessage,
      (input) => checkCancel(s, input),
      (input) => applyCancel(s, input, ctx.now()),
    ),
  );

  const revoke = update(
    actorMessage,
    (input) => checkRevoke(s, input),
    (input) => applyRevoke(s, input, ctx.now()),
    status,
  );
  setHandler(revokeUpdate, revoke.handler, { validator: revoke.validator });
  setHandler(
    revokeSignal,
    signal(
      'revoke',
      actorMessage,
      (input) => checkRevoke(s, input),
      (input) => applyRevoke(s, input, ctx.now()),
    ),
  );

  const extend = update(
    extendMessage,
    (input) => checkExtension(s, input),
    (input) => beginExtension(s, input, ctx.now()),
    (): ExtendResult => {
      const ext = s.view.extension;
      if (ext?.status === 'rejected') {
        refuse('ExtensionRefused', ext.reasons?.map((r) => r.message).join(' ') || 'The policy refused the extension.');
      }
      if (ext?.status === 'cancelled') refuse('InvalidState', 'The grant ended before the extension was decided.');
      return {
        outcome: ext?.status === 'approved' ? 'extended' : 'pending_approval',
        expiresAt: s.view.grant?.expiresAt ?? '',
      };
    },
    // The answer says whether the extension applied at once, so it waits for the policy's answer.
    () => s.view.extension?.status !== 'evaluating',
  );
  setHandler(extendUpdate, extend.handler, { validator: extend.validator });

  const review = (via: 'update' | 'signal') => (input: z.output<typeof reviewMessage>) =>
    applyReview(s, input, via, ctx.now());
  const r = update(reviewMessage, (input) => checkReview(s, input), review('update'), status);
  setHandler(reviewUpdate, r.handler, { validator: r.validator });
  setHandler(
    reviewSignal,
    signal('review', reviewMessage, (input) => checkReview(s, input), review('signal')),
  );

  const fulfil = update(
    fulfilMessage,
    (input) => checkFulfil(s, input),
    (input) => applyFulfil(s, input, ctx.now()),
    status,
  );
  setHandler(fulfilUpdate, fulfil.handler, { validator: fulfil.validator });

  const retry = update(
    actorMessage,
    (input) => checkRetry(s, input),
    (input) => applyRetry(s, input, ctx.now()),
    status,
  );
  setHandler(retryUpdate, retry.handler, { validator: retry.validator });
  setHandler(
    retrySignal,
    signal(
      'retry',
      actorMessage,
      (input) => checkRetry(s, input),
      (input) => applyRetry(s, input, ctx.now()),
    ),
  );

  // Only in runs that took patch `reroute` (asked once at the run's start, workflow.ts): an older run has no handler,
  // so the offboarding's update is refused as unknown and it records `reroute_needed` instead.
  if (s.patches?.reroute) {
    const reroute = update(
      rerouteMessage,
      (input) => checkReroute(s, input),
      (input) => applyReroute(s, input, ctx.now()),
      (): RerouteResult => ({ outcome: 'rerouted', pendingApprovers: s.view.pendingApprovers, status: s.view.status }),
    );
    setHandler(rerouteUpdate, reroute.handler, { validator: reroute.validator });
    setHandler(
      rerouteSignal,
      signal(
        'reroute',
        rerouteMessage,
        (input) => checkReroute(s, input),
        (input) => applyReroute(s, input, ctx.now()),
      ),
    );
  }
}
