import { z } from 'zod';
import type { AppContext } from '../context';
import type { ApiRouter } from '../router';

const delegationSchema = z
  .object({
    to: z.string().meta({ description: 'Who decides in their place.' }),
    until: z.string().meta({ description: 'ISO 8601 instant; the delegation ends then.' }),
  })
  .meta({ id: 'Delegation' });

export const meSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    email: z.string().optional(),
    groups: z.array(z.string()),
    delegation: delegationSchema.nullable().meta({ description: 'Set while the caller is away; null otherwise.' }),
  })
  .meta({ id: 'Me', description: 'The caller, as the directory knows the person the token names.' });

export function registerMeRoutes(api: ApiRouter, ctx: AppContext): void {
  api.route({
    method: 'get',
    path: '/v1/me',
    operationId: 'getMe',
    summary: 'Who the token names: the directory identity the API acts for',
    description: 'The portal shows and acts as this identity; it never decodes the token itself.',
    tags: ['people'],
    answers: [{ status: 200, description: 'The caller.', schema: meSchema }],
    async handle({ res, caller }) {
      const { identity } = caller;
      const delegation = ctx.config.users.get(caller.id)?.delegation;
      res.set('Cache-Control', 'no-store').json({
        id: identity.id,
        name: identity.name,
        ...(identity.email !== undefined && { email: identity.email }),
        groups: identity.groups,
        delegation: delegation ?? null,
      });
    },
  });
}
