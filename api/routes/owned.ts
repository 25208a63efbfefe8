import { z } from 'zod';
import { resolvePrincipals } from '../../domain/approvers';
import type { Config } from '../../domain';
import type { Caller } from '../caller';
import type { AppContext } from '../context';
import { Problem } from '../problem';
import type { ApiRouter } from '../router';

/** One answer, one page: an owner with more live grants than this needs the audit export, not a screen. */
const MAX_GRANTS = 1000;

export const ownedQuery = z
  .object({
    resource: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a resource id')
      .optional()
      .meta({ description: 'Only this resource; it must be one you own.' }),
  })
  .strict();

const ownedGrantSchema = z.object({
  requestId: z.string(),
  holder: z.string(),
  holderName: z.string().optional(),
  entitlement: z.string(),
  entitlementName: z.string(),
  requester: z.string(),
  grantedAt: z.string().optional(),
  expiresAt: z.string().optional(),
});
export const ownedGrantsSchema = z
  .object({
    resources: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        grants: z.array(ownedGrantSchema),
      }),
    ),
    truncated: z.boolean().meta({ description: `More than ${MAX_GRANTS} live grants: only the first are listed.` }),
  })
  .meta({ id: 'OwnedGrants', description: 'Who holds what on the resources the caller owns.' });
export type OwnedGrantsBody = z.infer<typeof ownedGrantsSchema>;

/** The resources whose owners (as the catalog names them, groups resolved) include the caller. */
export function ownedResources(config: Config, caller: Caller): Config['catalog']['resources'] {
  return config.catalog.resources.filter((r) => resolvePrincipals(config, r.owners).includes(caller.id));
}

/**
 * An owner's view of their resources: every live grant, whoever asked for it and however it was approved (an
 * auto-approved grant never involved the owner, so the request list does not show it to them). Revoking goes through
 * the request's own `revoke` message, whose validator already accepts the resource's owners.
 */
export function registerOwnedRoutes(api: ApiRouter, ctx: AppContext): void {
  api.route({
    method: 'get',
    path: '/v1/owned/grants',
    operationId: 'listOwnedGrants',
    summary: "Live grants on the resources the caller owns (each resource's owners only)",
    tags: ['owners'],
    query: ownedQuery,
    answers: [{ status: 200, description: 'The live grants, by resource.', schema: ownedGrantsSchema }],
    problems: [403],
    async handle({ res, query, caller }) {
      const { config } = ctx;
      let resources = ownedResources(config, caller);
      if (query.resource !== undefined) {
        resources = resources.filter((r) => r.id === query.resource);
        if (resources.length === 0) {
          throw new Problem('forbidden', `You are not an owner of ${query.resource}.`, {
            errors: [{ field: 'resource', message: 'is not a resource you own' }],
          });
        }
      }
      const { rows } = await ctx.pool.query<{
        id: string;
        beneficiary: string;
        entitlement: string;
        resource: string;
        requester: string;
        started_at: Date | null;
        expires_at: Date | null;
      }>(
        `SELECT id, beneficiary, entitlement, resource, requester, started_at, expires_at
           FROM requests
          WHERE resource = ANY($1::text[]) AND status = 'active'
          ORDER BY resource, entitlement, beneficiary, id
          LIMIT ${MAX_GRANTS + 1}`,
        [resources.map((r) => r.id)],
      );
      const listed = rows.slice(0, MAX_GRANTS);
      res.set('Cache-Control', 'no-store').json({
        truncated: rows.length > MAX_GRANTS,
        resources: resources.map((r) => ({
          id: r.id,
          name: r.name,
          grants: listed
            .filter((g) => g.resource === r.id)
            .map((g) => ({
              requestId: g.id,
              holder: g.beneficiary,
              ...(config.users.get(g.beneficiary) && { holderName: config.users.get(g.beneficiary)?.name }),
              entitlement: g.entitlement,
              entitlementName: config.entitlements.get(g.entitlement)?.name ?? g.entitlement,
              requester: g.requester,
              ...(g.started_at && { grantedAt: g.started_at.toISOString() }),
              ...(g.expires_at && { expiresAt: g.expires_at.toISOString() }),
            })),
        })),
      } satisfies OwnedGrantsBody);
    },
  });
}
