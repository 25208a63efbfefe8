import { randomUUID } from 'node:crypto';
import express, { type Router } from 'express';
import { verifySlackRequest } from '@slack/bolt';
import { z } from 'zod';
import { decideUpdate } from '../../workflows/messages';
import { resolveCaller } from '../caller';
import type { AppContext } from '../context';
import { Problem } from '../problem';
import { deliver, recordRefusal } from '../routes/messages';
import { APPROVE, CHAT_DECIDABLE, DENY, portalLink } from './blocks';
import type { Slack } from './client';

/** Slack's window: a request signed more than 5 minutes from now, either way, is refused as stale. */
export const MAX_SKEW_SECONDS = 300;
const REPLAY_MEMORY = '10 minutes';

const payloadSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().regex(/^[A-Z0-9]{2,32}$/) }),
  trigger_id: z.string().max(200).optional(),
  actions: z
    .array(z.object({ action_id: z.string().max(64), value: z.string().max(200).optional() }))
    .min(1)
    .max(5),
});
type Payload = z.output<typeof payloadSchema>;

const requestId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/);

/**
 * POST /slack/interactions: Slack's request signature (v0, HMAC-SHA256 of the raw body) is checked by Bolt's
 * verifier, the timestamp within 5 minutes both ways, and each signature once (a replay inside the window is
 * refused). Only then is the click read: the Slack user is mapped to a directory identity through Slack's own
 * users.info (by email), and the decision goes to the workflow like any other, whose validator decides eligibility.
 */
export function slackRouter(ctx: AppContext, slack: Slack): Router {
  const router = express.Router();
  router.post(
    '/slack/interactions',
    express.raw({ type: 'application/x-www-form-urlencoded', limit: '64kb' }),
    async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
      const signature = req.header('x-slack-signature') ?? '';
      const timestamp = Number(req.header('x-slack-request-timestamp'));
      if (!raw || !signature || !Number.isInteger(timestamp)) {
        throw new Problem('unauthenticated', 'A Slack request needs its body, X-Slack-Signature and timestamp.');
      }
      if (Math.abs(Date.now() / 1000 - timestamp) > MAX_SKEW_SECONDS) {
        throw new Problem('unauthenticated', 'The Slack request is stale: signed more than 5 minutes from now.');
      }
      try {
        verifySlackRequest({
          signingSecret: slack.settings.signingSecret,
          body: raw,
          headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
        });
      } catch {
        throw new Problem('unauthenticated', 'The Slack signature does not match.');
      }
      const fresh = await ctx.pool.query(
        'INSERT INTO slack_deliveries (signature) VALUES ($1) ON CONFLICT DO NOTHING',
        [signature],
      );
      if (fresh.rowCount === 0) throw new Problem('unauthenticated', 'This Slack request was already handled.');
      void ctx.pool
        .query(`DELETE FROM slack_deliveries WHERE received_at < now() - interval '${REPLAY_MEMORY}'`)
        .catch(() => undefined);

      const parsed = payloadSchema.safeParse(parseJson(new URLSearchParams(raw).get('payload')));
      // Slack wants an answer within 3 seconds; what happens next is told in an ephemeral message.
      res.status(200).end();
      if (!parsed.success) {
        ctx.log.warn({ issues: parsed.error.issues }, 'slack interaction not understood');
        return;
      }
      await handle(ctx, slack, parsed.data).catch((err: unknown) => ctx.log.error({ err }, 'slack interaction failed'));
    },
  );
  return router;
}

async function handle(ctx: AppContext, slack: Slack, payload: Payload): Promise<void> {
  const action = payload.actions[0];
  if (!action || (action.action_id !== APPROVE && action.action_id !== DENY)) return; // link buttons need nothing
  const id = requestId.safeParse(action.value);
  if (!id.success) return;
  const slackUser = payload.user.id;
  const tell = (text: string) =>
    slack.web.chat
      .postMessage({ channel: slackUser, text })
      .then(() => undefined)
      .catch((err: unknown) => ctx.log.warn({ err }, 'slack reply failed'));
  const refuse = async (actor: string, refusal: string, reason: string) => {
    await recordRefusal(ctx, { id: actor }, id.data, 'decide', refusal, reason, 'slack');
    await tell(reason);
  };

  const identity = await slack.identityOf(slackUser);
  if (!identity) {
    await refuse(
      `slack:${slackUser}`,
      'UnknownSlackUser',
      'Your Slack account matches nobody in the directory, so grantflow cannot take your decision.',
    );
    return;
  }
  let caller;
  try {
    caller = resolveCaller(ctx.config, identity.id);
  } catch (err) {
    await refuse(identity.id, 'NotAllowed', err instanceof Problem ? err.detail : 'You may not decide.');
    return;
  }
  const view = await ctx.workflows.view(id.data).catch(() => undefined);
  if (view && !(view.risk && CHAT_DECIDABLE.has(view.risk.level))) {
    await refuse(
      caller.id,
      'DecideInPortal',
      `${view.entitlement} is ${view.risk?.level ?? 'unassessed'} risk: decide in the portal, ${portalLink(slack.settings.portalUrl, view.id)}`,
    );
    return;
  }
  const decision = action.action_id === APPROVE ? 'approve' : 'deny';
  try {
    const result = await deliver(
      ctx,
      caller,
      id.data,
      'decide',
      () =>
        ctx.workflows.update(
          id.data,
          decideUpdate,
          { approver: caller.id, decision, via: 'slack' as const },
          `decide:${caller.id}:slack:${payload.trigger_id ?? randomUUID()}`,
        ),
      'slack',
    );
    // The workflow records the decision; this event says it came through Slack, from which Slack account.
    await ctx.audit.append([
      {
        eventId: `api:${id.data}:slack-decision:${randomUUID()}`,
        requestId: id.data,
        actor: caller.id,
        action: 'decided_in_chat',
        at: new Date().toISOString(),
        data: { via: 'slack', slackUser, decision, stage: result.stage },
      },
    ]);
    await tell(`Recorded: you ${decision === 'approve' ? 'approved' : 'denied'} ${id.data}.`);
  } catch (err) {
    // deliver has already audited a workflow refusal; the approver hears the workflow's own sentence.
    await tell(err instanceof Problem ? err.detail : 'grantflow could not take your decision; try the portal.');
    if (!(err instanceof Problem)) throw err;
  }
}

function parseJson(text: string | null): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}
