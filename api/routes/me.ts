import { z } from 'zod';
import type { Config } from '../../domain';
import { RESERVED_ACTOR_IDS } from '../../domain/model';
import { setOwnDelegation } from '../../directory/delegations';
import type { DirectoryView } from '../../directory/view';
import type { Caller } from '../caller';
import type { AppContext } from '../context';
import { Problem } from '../problem';
import type { ApiRouter } from '../router';

/** Longer than a quarter away is an organisational change, which belongs in the directory source, not here. */
export const MAX_DELEGATION_DAYS = 90;

const delegationSchema = z
  .object({
    to: z.string().meta({ description: 'Who decides in their place.' }),
    until: z.string().meta({ description: 'ISO 8601 instant; the delegation ends then.' }),
  })
  .meta({ id: 'Delegation' });

export const delegationInput = z
  .object({
    to: z
      .string()
      .min(1)
      .max(64)
      .meta({ description: 'The directory id of an active person, not yourself.', example: 'grace' }),
    until: z.iso
      .datetime({ offset: true })
      .meta({ description: `When it ends: in the future, at most ${MAX_DELEGATION_DAYS} days ahead.` }),
  })
  .strict()
  .meta({ id: 'DelegationInput' });

export const meSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    email: z.string().optional(),
    groups: z.array(z.string()),
    delegation: delegationSchema.nullable().meta({ description: 'Set while the caller is away; null otherwise.' }),
  })
  .meta({ id: 'Me', description: 'The caller, as the directory knows the person the token names.' });

/**
 * The caller and their own delegation. There is no user in any path here: whose delegation changes comes from the
 * token alone, so nobody can set or clear another person's.
 */
export function registerMeRoutes(api: ApiRouter, ctx: AppContext, directory: DirectoryView | undefined): void {
  const me = (config: Config, caller: Caller): z.infer<typeof meSchema> => {
    const { identity } = caller;
    return {
      id: identity.id,
      name: identity.name,
      ...(identity.email !== undefined && { email: identity.email }),
      groups: identity.groups,
      delegation: config.users.get(caller.id)?.delegation ?? null,
    };
  };
  /** Stores the change, then answers from the snapshot it produced (the directory's version moved). */
  const store = async (caller: Caller, delegation: { to: string; until: string } | null) => {
    if (!directory) {
      throw new Problem(
        'invalid-state',
        'This API reads the directory from its files only; delegations are kept in the directory in PostgreSQL.',
      );
    }
    await setOwnDelegation(ctx.pool, caller.id, delegation);
    ctx.config = await directory.current();
    return me(ctx.config, caller);
  };

  api.route({
    method: 'get',
    path: '/v1/me',
    operationId: 'getMe',
    summary: 'Who the token names: the directory identity the API acts for',
    description: 'The portal shows and acts as this identity; it never decodes the token itself.',
    tags: ['people'],
    answers: [{ status: 200, description: 'The caller.', schema: meSchema }],
    async handle({ res, caller }) {
      res.set('Cache-Control', 'no-store').json(me(ctx.config, caller));
    },
  });

  api.route({
    method: 'put',
    path: '/v1/me/delegation',
    operationId: 'setMyDelegation',
    summary: 'Hand your approvals to someone while you are away',
    description:
      'Stages that open while it holds list the delegate beside you. It replaces the delegation your directory ' +
      `source reports. 400 for yourself, a reserved id, someone who is not an active person, or an end that is ` +
      `past or more than ${MAX_DELEGATION_DAYS} days ahead; 409 when the API does not keep the directory in ` +
      'PostgreSQL.',
    tags: ['people'],
    limited: true,
    body: delegationInput,
    answers: [{ status: 200, description: 'The caller with the delegation set.', schema: meSchema }],
    problems: [409, 422],
    async handle({ res, body, caller }) {
      // The body fits the schema; whom it names and when it ends are checked against the directory and the clock.
      const errors = checkDelegation(ctx.config, caller, body, Date.now());
      if (errors.length > 0) {
        const first = errors[0] as { field: string; message: string };
        throw new Problem(
          'invalid-delegation',
          errors.length === 1 ? `The delegation is not possible: ${first.field} ${first.message}.` : 'See errors.',
          { errors },
        );
      }
      const until = new Date(body.until).toISOString();
      res.set('Cache-Control', 'no-store').json(await store(caller, { to: body.to, until }));
    },
  });

  api.route({
    method: 'delete',
    path: '/v1/me/delegation',
    operationId: 'clearMyDelegation',
    summary: 'Take your approvals back',
    description:
      'Clears your delegation, also one your directory source reports, until you set one again. Stages already ' +
      'open keep the approvers they opened with.',
    tags: ['people'],
    limited: true,
    answers: [{ status: 200, description: 'The caller without a delegation.', schema: meSchema }],
    problems: [409],
    async handle({ res, caller }) {
      res.set('Cache-Control', 'no-store').json(await store(caller, null));
    },
  });
}

/** Why the directory cannot take this delegation, as field errors; none when it can. */
export function checkDelegation(
  config: Config,
  caller: Pick<Caller, 'id'>,
  input: { to: string; until: string },
  now: number,
): { field: string; message: string }[] {
  const errors: { field: string; message: string }[] = [];
  const delegate = config.users.get(input.to);
  if (input.to === caller.id)
    errors.push({ field: 'to', message: 'is you: a delegation hands your approvals to someone else' });
  else if (RESERVED_ACTOR_IDS.includes(input.to)) {
    errors.push({ field: 'to', message: "is reserved for grantflow's own automation" });
  } else if (!delegate) errors.push({ field: 'to', message: 'names nobody in the directory' });
  else if (!delegate.active) errors.push({ field: 'to', message: `names ${delegate.id}, who is no longer active` });
  else if (delegate.kind !== 'human') {
    errors.push({ field: 'to', message: `names ${delegate.id}, a service account: only a person can decide` });
  }
  const until = Date.parse(input.until);
  if (until <= now) errors.push({ field: 'until', message: 'is not in the future' });
  else if (until > now + MAX_DELEGATION_DAYS * 86_400_000) {
    errors.push({ field: 'until', message: `is more than ${MAX_DELEGATION_DAYS} days ahead` });
  }
  return errors;
}
