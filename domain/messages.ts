import { z } from 'zod';

// The messages a running request accepts, as the workflow receives them (the actor filled in by the API from the
// token, or typed by an operator into a signal). The workflow validates every message with these schemas at its
// edge, so a malformed signal is refused and recorded rather than acted on.

export const actorId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'must be a directory user id');
const comment = z.string().trim().max(2000);

/**
 * Where a person made a decision (the portal, a chat app, the API directly), for the audit trail. Not the transport
 * (update or signal), which the workflow knows itself. Optional, so messages without it stay valid; a worker built
 * before this field refuses it (the schema is strict), so senders add it only once every worker has this schema.
 */
export const decisionChannel = z.enum(['api', 'slack', 'portal']);

export const decisionMessage = z
  .object({
    approver: actorId,
    decision: z.enum(['approve', 'deny']),
    comment: comment.optional(),
    via: decisionChannel.optional(),
  })
  .strict();
export const actorMessage = z.object({ by: actorId, reason: comment.optional() }).strict();
/** The longest extension any request takes, whatever its catalog says: ten years. The API refuses longer first. */
export const MAX_EXTENSION_MS = 10 * 366 * 86_400_000;
export const extendMessage = z
  .object({
    by: actorId,
    durationMs: z.number().int().positive().max(MAX_EXTENSION_MS),
    justification: z.string().trim().min(1).max(2000),
  })
  .strict();
export const reviewMessage = z
  .object({ by: actorId, outcome: z.enum(['cleared', 'flagged']), comment: comment.optional() })
  .strict();
export const fulfilMessage = z.object({ by: actorId, comment: comment.optional() }).strict();

/** One sentence naming the first bad field, for a refusal. */
export function messageProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'The message is malformed.';
  const field = issue.path.length ? issue.path.join('.') : 'message';
  return `The message is malformed: ${field} ${issue.message}.`;
}
