import type { Config } from '../../domain';
import type { AppContext } from '../context';
import type { ApiRouter } from '../router';
import { catalogSchema, type CatalogBody } from '../schemas';

export function registerCatalogRoutes(api: ApiRouter, ctx: AppContext): void {
  const body = catalogOf(ctx.config);
  api.route({
    method: 'get',
    path: '/v1/catalog',
    operationId: 'getCatalog',
    summary: 'Resources and their entitlements, with the fields and durations each allows',
    tags: ['catalog'],
    answers: [{ status: 200, description: 'The catalog.', schema: catalogSchema }],
    async handle({ res }) {
      res.json(body);
    },
  });
}

/** What a requester needs to fill in a request; connector settings (URLs, secret names) stay private. */
function catalogOf(config: Config): CatalogBody {
  return {
    policyVersion: config.policyVersion,
    resources: config.catalog.resources.map((r) => ({
      id: r.id,
      name: r.name,
      sensitivity: r.sensitivity,
      connector: r.connector.type,
      entitlements: r.entitlements.map((e) => ({
        id: `${r.id}:${e.role}`,
        role: e.role,
        name: e.name,
        sensitivity: e.sensitivity ?? r.sensitivity,
        privileged: e.privileged,
        defaultDuration: e.defaultDuration,
        maxDuration: e.maxDuration,
        fields: e.fields.map((f) => ({
          name: f.name,
          label: f.label,
          required: f.required,
          ...(f.pattern !== undefined && { pattern: f.pattern }),
        })),
        ...(e.breakGlass && { breakGlass: { ttl: e.breakGlass.ttl } }),
        ...(e.seats && { seats: { limit: e.seats.limit, whenFull: e.seats.whenFull } }),
        conflicts: e.conflicts,
      })),
    })),
  };
}
