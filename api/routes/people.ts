import { z } from 'zod';
import type { AppContext } from '../context';
import type { ApiRouter } from '../router';

export const peopleQuery = z
  .object({
    q: z
      .string()
      .max(64, 'must be at most 64 characters')
      .regex(/\S/, 'must contain more than spaces')
      .meta({ description: 'Part of a directory id or display name, any case.', example: 'gra' }),
    limit: z.coerce
      .number({ error: 'must be a whole number from 1 to 20' })
      .int('must be a whole number from 1 to 20')
      .min(1, 'must be a whole number from 1 to 20')
      .max(20, 'must be a whole number from 1 to 20')
      .default(10),
  })
  .strict();

/** Exactly these three fields: a picker needs no status, groups, manager, e-mail or holdings. */
export const personSchema = z
  .object({ id: z.string(), name: z.string(), department: z.string().optional() })
  .strict()
  .meta({ id: 'Person' });
export const peopleSchema = z.object({ items: z.array(personSchema) }).meta({ id: 'People' });

/**
 * Finds people to name (a delegate, say) for any signed-in user. Only active people: a picker that offered someone
 * who left would let the caller learn who left, and the API refuses them as a delegate anyway. Service accounts are
 * not people and act only through their owner.
 */
export function registerPeopleRoutes(api: ApiRouter, ctx: AppContext): void {
  api.route({
    method: 'get',
    path: '/v1/people',
    operationId: 'findPeople',
    summary: 'Active people whose id or name contains the text (any signed-in user)',
    description: 'Answers id, display name and department only, at most `limit` of them, ids first-matching first.',
    tags: ['people'],
    query: peopleQuery,
    answers: [{ status: 200, description: 'Matching people.', schema: peopleSchema }],
    async handle({ res, query }) {
      const needle = query.q.trim().toLowerCase();
      const matches = ctx.config.directory.users
        .filter((u) => u.kind === 'human' && u.active)
        .map((u) => ({ u, at: rank(u.id.toLowerCase(), u.name.toLowerCase(), needle) }))
        .filter((m) => m.at < Infinity)
        .sort((a, b) => a.at - b.at || a.u.id.localeCompare(b.u.id))
        .slice(0, query.limit)
        .map(({ u }) => ({ id: u.id, name: u.name, ...(u.department !== undefined && { department: u.department }) }));
      res.set('Cache-Control', 'no-store').json({ items: matches });
    },
  });
}

/** 0: the id starts with it; 1: the name does; 2: either contains it; no match: Infinity. */
function rank(id: string, name: string, needle: string): number {
  if (id.startsWith(needle)) return 0;
  if (name.startsWith(needle) || name.split(/\s+/).some((w) => w.startsWith(needle))) return 1;
  if (id.includes(needle) || name.includes(needle)) return 2;
  return Infinity;
}
