import { z } from 'zod';
import type { Identity } from '../../domain';
import type { DirectorySource } from '../../directory/records';
import type { SyncRefusal } from '../../directory/sync-schedule';
import type { SyncResult } from '../../directory/sync';
import type { Caller } from '../caller';
import type { AppContext } from '../context';
import { Problem } from '../problem';
import type { ApiRouter } from '../router';

/** An on-demand pull of the directory source (LDAP); absent when the source pushes (SCIM) or is a file (YAML). */
export interface DirectorySyncRunner {
  run(opts: { dryRun: boolean; actor: string }): Promise<SyncResult>;
  /** A member of security confirms a held mass deactivation (the source is read again; unchanged, it applies). */
  confirm(opts: { syncId: string; by: string }): Promise<SyncResult | SyncRefusal>;
}

export interface IdentityRouteDeps {
  source: DirectorySource;
  sync?: DirectorySyncRunner;
}

const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, 'is not an identity id')
  .meta({ description: 'A directory identity id.', example: 'alice' });

const holdingSchema = z.object({
  requestId: z.string(),
  entitlement: z.string(),
  startedAt: z.string().optional(),
  expiresAt: z.string().optional(),
});

const identitySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(['human', 'service']),
    status: z.enum(['active', 'inactive', 'deleted']),
    source: z.enum(['yaml', 'scim', 'ldap']),
    email: z.string().optional(),
    department: z.string().optional(),
    manager: z.string().optional().meta({ description: 'The manager in force (an id).' }),
    owner: z.string().optional().meta({ description: 'A service account’s owner in force (after any handover).' }),
    groups: z.array(z.string()),
    version: z.number().int().optional().meta({ description: 'The directory version of its last change.' }),
    holdings: z.array(holdingSchema).meta({ description: 'Live grants held.' }),
  })
  .meta({ id: 'Identity', description: 'An identity as the directory in force holds it, with what it holds.' });
type IdentityBody = z.output<typeof identitySchema>;

const handoverSchema = z.object({
  owner: z.string(),
  previousOwner: z.string(),
  offboarding: z.string(),
  handedAt: z.string(),
  review: z.string().optional().meta({ description: 'The access-review campaign the handover opened.' }),
});

const reviewSchema = z.object({
  campaign: z.string(),
  status: z.string(),
  startedAt: z.string(),
  decision: z.enum(['keep', 'revoke']).optional(),
});

const serviceAccountSchema = identitySchema
  .extend({
    ownerValid: z.boolean().meta({ description: 'The owner is an active person (else it may not be requested for).' }),
    handover: handoverSchema.optional(),
    lastReview: reviewSchema.optional().meta({ description: 'The latest access review of any of its grants.' }),
  })
  .meta({ id: 'ServiceAccount', description: 'A service account with its owner, grants and last review.' });

const listQuery = z
  .object({
    status: z.enum(['active', 'inactive', 'deleted']).optional(),
    kind: z.enum(['human', 'service']).optional(),
    manager: idSchema.optional(),
    limit: z.coerce
      .number({ error: 'must be a whole number from 1 to 500' })
      .int()
      .min(1, 'must be a whole number from 1 to 500')
      .max(500, 'must be a whole number from 1 to 500')
      .default(100),
    after: idSchema.optional().meta({ description: 'The `next` of the page before.' }),
  })
  .strict();

const syncRowSchema = z.object({
  id: z.string(),
  status: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
  changes: z.number().int(),
  deactivations: z.array(z.string()),
});
const syncStatusSchema = z
  .object({
    source: z.enum(['yaml', 'scim', 'ldap']),
    version: z.number().int().meta({ description: 'The directory’s version (one per change).' }),
    pulled: z.boolean().meta({ description: 'Whether POST /v1/directory/sync can pull the source now.' }),
    syncs: z.array(syncRowSchema).meta({ description: 'The last 20 pulled syncs, newest first.' }),
  })
  .meta({ id: 'DirectorySyncStatus' });
const syncBody = z
  .object({ dryRun: z.boolean().default(true).meta({ description: 'Only report the diff (the default).' }) })
  .strict();
const syncAnswerSchema = z
  .object({
    id: z.string(),
    status: z.enum(['applied', 'dry_run', 'failed', 'awaiting_confirmation', 'confirmed', 'superseded']),
    error: z.string().optional(),
    limit: z.number().int().optional().meta({ description: 'Deactivations allowed without a confirmation.' }),
    changes: z.array(z.object({ id: z.string(), change: z.string(), fields: z.array(z.string()) })),
    deactivations: z.array(z.string()),
    skipped: z.array(z.string()).optional(),
  })
  .meta({ id: 'DirectorySyncResult' });

/** The directory for security and admins: identities, service accounts, and the source's sync. */
export function registerIdentityRoutes(api: ApiRouter, ctx: AppContext, deps: IdentityRouteDeps): void {
  const tags = ['directory'];
  const operator = (caller: Caller) => {
    const { security, admins } = ctx.config.policy.roles;
    return caller.identity.groups.some((g) => g === security || admins.includes(g));
  };
  const requireOperator = (caller: Caller, what: string) => {
    if (!operator(caller)) throw new Problem('forbidden', `${what} is for security and admins only.`);
  };

  api.route({
    method: 'get',
    path: '/v1/identities',
    operationId: 'listIdentities',
    summary: 'Identities with status, source, manager, owner and holdings (security and admins)',
    tags,
    query: listQuery,
    answers: [
      {
        status: 200,
        description: 'A page, ordered by id.',
        schema: z.object({ items: z.array(identitySchema), next: z.string().optional() }),
      },
    ],
    problems: [403],
    async handle({ res, query, caller }) {
      requireOperator(caller, 'The directory');
      const facts = await storedFacts();
      const users = ctx.config.directory.users
        .filter((u) => (query.after === undefined || u.id > query.after) && (!query.kind || u.kind === query.kind))
        .filter((u) => query.manager === undefined || u.manager === query.manager)
        .filter((u) => !query.status || statusOf(u, facts.get(u.id)) === query.status)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      const page = users.slice(0, query.limit);
      const held = await holdings(page.map((u) => u.id));
      const items = page.map((u) => body(u, facts.get(u.id), held.get(u.id) ?? []));
      res.json({ items, ...(users.length > query.limit && { next: page.at(-1)?.id }) });
    },
  });

  api.route({
    method: 'get',
    path: '/v1/identities/:id',
    operationId: 'getIdentity',
    summary: 'One identity (security and admins; anyone their own)',
    tags,
    params: z.object({ id: idSchema }).strict(),
    answers: [{ status: 200, description: 'The identity.', schema: identitySchema }],
    problems: [403, 404],
    async handle({ res, params, caller }) {
      // The same answer whether or not the id exists: a plain user learns nothing about anyone else.
      if (params.id !== caller.id) requireOperator(caller, 'Another person’s directory record');
      const user = ctx.config.users.get(params.id);
      if (!user) throw new Problem('not-found', `There is no identity ${params.id} in the directory.`);
      const facts = await storedFacts([params.id]);
      const held = await holdings([params.id]);
      res.json(body(user, facts.get(user.id), held.get(user.id) ?? []));
    },
  });

  api.route({
    method: 'get',
    path: '/v1/service-accounts',
    operationId: 'listServiceAccounts',
    summary: 'Service accounts with their owners, grants and last review (security and admins)',
    tags,
    answers: [
      {
        status: 200,
        description: 'Every service account.',
        schema: z.object({ items: z.array(serviceAccountSchema) }),
      },
    ],
    problems: [403],
    async handle({ res, caller }) {
      requireOperator(caller, 'The service accounts');
      const accounts = ctx.config.directory.users.filter((u) => u.kind === 'service');
      const ids = accounts.map((u) => u.id);
      const [facts, held, handovers, reviews] = await Promise.all([
        storedFacts(ids),
        holdings(ids),
        ctx.pool.query<{
          account_id: string;
          owner_id: string;
          previous_owner: string;
          offboarding_id: string;
          review_campaign: string | null;
          handed_at: Date;
        }>('SELECT * FROM service_account_handovers WHERE account_id = ANY($1::text[])', [ids]),
        ctx.pool.query<{ holder: string; campaign: string; status: string; started_at: Date; decision: string | null }>(
          `SELECT DISTINCT ON (i.holder) i.holder, c.id AS campaign, c.status, c.started_at, i.decision
             FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id
            WHERE i.holder = ANY($1::text[]) ORDER BY i.holder, c.started_at DESC`,
          [ids],
        ),
      ]);
      const handoverOf = new Map(handovers.rows.map((h) => [h.account_id, h]));
      const reviewOf = new Map(reviews.rows.map((r) => [r.holder, r]));
      const items = accounts.map((u) => {
        const h = handoverOf.get(u.id);
        const r = reviewOf.get(u.id);
        const owner = u.owner ? ctx.config.users.get(u.owner) : undefined;
        return {
          ...body(u, facts.get(u.id), held.get(u.id) ?? []),
          ownerValid: owner?.active === true && owner.kind === 'human',
          ...(h && {
            handover: {
              owner: h.owner_id,
              previousOwner: h.previous_owner,
              offboarding: h.offboarding_id,
              handedAt: h.handed_at.toISOString(),
              ...(h.review_campaign !== null && { review: h.review_campaign }),
            },
          }),
          ...(r && {
            lastReview: {
              campaign: r.campaign,
              status: r.status,
              startedAt: r.started_at.toISOString(),
              ...((r.decision === 'keep' || r.decision === 'revoke') && { decision: r.decision }),
            },
          }),
        };
      });
      res.json({ items });
    },
  });

  api.route({
    method: 'get',
    path: '/v1/directory/sync',
    operationId: 'getDirectorySync',
    summary: 'The directory source, its version and its last pulled syncs (security and admins)',
    tags,
    answers: [{ status: 200, description: 'The sync status.', schema: syncStatusSchema }],
    problems: [403],
    async handle({ res, caller }) {
      requireOperator(caller, 'The directory sync');
      const [{ rows: version }, { rows }] = await Promise.all([
        ctx.pool.query<{ v: string }>('SELECT coalesce(max(version), 0) AS v FROM directory_changes'),
        ctx.pool.query<{
          id: string;
          status: string;
          diff: { identities?: unknown[]; groups?: unknown[]; deactivations?: string[] } | null;
          error: string | null;
          started_at: Date;
          finished_at: Date | null;
        }>('SELECT * FROM directory_syncs ORDER BY started_at DESC, id LIMIT 20'),
      ]);
      res.json({
        source: deps.source,
        version: Number(version[0]?.v ?? 0),
        pulled: deps.sync !== undefined,
        syncs: rows.map((r) => ({
          id: r.id,
          status: r.status,
          startedAt: r.started_at.toISOString(),
          ...(r.finished_at && { finishedAt: r.finished_at.toISOString() }),
          ...(r.error !== null && { error: r.error }),
          changes: (r.diff?.identities?.length ?? 0) + (r.diff?.groups?.length ?? 0),
          deactivations: r.diff?.deactivations ?? [],
        })),
      });
    },
  });

  api.route({
    method: 'post',
    path: '/v1/directory/sync',
    operationId: 'syncDirectory',
    summary: 'Pull the directory source now: a dry run (the diff) or applied (security and admins)',
    description:
      'Fail-safe like the scheduled sync: an error or partial read changes nothing, and a sync that would deactivate ' +
      'more than the guard allows waits for security to confirm (`awaiting_confirmation`).',
    tags,
    limited: true,
    body: syncBody,
    answers: [{ status: 200, description: 'The sync’s outcome and diff.', schema: syncAnswerSchema }],
    problems: [403, 409],
    async handle({ res, body: input, caller }) {
      requireOperator(caller, 'A directory sync');
      if (!deps.sync) {
        throw new Problem(
          'not-pulled',
          deps.source === 'scim'
            ? 'The directory source is SCIM: the identity provider pushes its changes, there is nothing to pull.'
            : 'The directory source is directory.yaml: it is applied when grantflow starts.',
        );
      }
      const result = await deps.sync.run({ dryRun: input.dryRun, actor: caller.id });
      res.json(syncAnswer(result));
    },
  });

  api.route({
    method: 'post',
    path: '/v1/directory/sync/:id/confirm',
    operationId: 'confirmDirectorySync',
    summary: 'Confirm a held mass deactivation (security only, not the person who asked for the sync)',
    description:
      'A sync that would deactivate more than the guard allows is held (`awaiting_confirmation`). A member of security ' +
      'other than the person who asked for it confirms it here: the source is read again and, if it still says ' +
      'exactly what was held, the diff is applied (`confirmed`); otherwise the held sync is `superseded` and nothing ' +
      'of it applies.',
    tags,
    limited: true,
    params: z
      .object({ id: z.uuid({ error: 'is not a sync id' }).meta({ description: 'The held sync’s id.' }) })
      .strict(),
    answers: [{ status: 200, description: 'The confirmation’s outcome and diff.', schema: syncAnswerSchema }],
    problems: [403, 404, 409],
    async handle({ res, params, caller }) {
      // Admins run syncs, but only security vouches for a mass deactivation.
      if (!caller.identity.groups.includes(ctx.config.policy.roles.security)) {
        throw new Problem('forbidden', 'Confirming a mass deactivation is for security only.');
      }
      if (!deps.sync) throw new Problem('not-pulled', 'The directory source is not pulled: no sync is ever held.');
      const result = await deps.sync.confirm({ syncId: params.id, by: caller.id });
      if ('refusal' in result) throw new Problem(result.refusal, result.error);
      res.json(syncAnswer(result));
    },
  });

  function syncAnswer(result: SyncResult): z.output<typeof syncAnswerSchema> {
    return {
      id: result.id,
      status: result.status,
      ...(result.error !== undefined && { error: result.error }),
      ...(result.limit !== undefined && { limit: result.limit }),
      changes: (result.diff?.identities ?? []).map((c) => ({ id: c.id, change: c.change, fields: c.fields })),
      deactivations: result.diff?.deactivations ?? [],
      ...(result.skipped && { skipped: result.skipped }),
    };
  }

  function body(u: Identity, fact: StoredFact | undefined, held: z.output<typeof holdingSchema>[]): IdentityBody {
    return {
      id: u.id,
      name: u.name,
      kind: u.kind,
      status: statusOf(u, fact),
      source: deps.source,
      ...(u.email !== undefined && { email: u.email }),
      ...(u.department !== undefined && { department: u.department }),
      ...(u.manager !== undefined && { manager: u.manager }),
      ...(u.owner !== undefined && { owner: u.owner }),
      groups: u.groups,
      ...(fact && { version: fact.version }),
      holdings: held,
    };
  }

  async function storedFacts(ids?: string[]): Promise<Map<string, StoredFact>> {
    const { rows } = await ctx.pool.query<{ id: string; deleted: boolean; version: string }>(
      `SELECT id, deleted, version FROM directory_identities WHERE source = $1 AND ($2::text[] IS NULL OR id = ANY($2))`,
      [deps.source, ids ?? null],
    );
    return new Map(rows.map((r) => [r.id, { deleted: r.deleted, version: Number(r.version) }]));
  }

  async function holdings(ids: string[]) {
    const { rows } = await ctx.pool.query<{
      id: string;
      beneficiary: string;
      entitlement: string;
      started_at: Date | null;
      expires_at: string | null;
    }>(
      `SELECT id, beneficiary, entitlement, started_at, view->'grant'->>'expiresAt' AS expires_at FROM requests
        WHERE status = 'active' AND beneficiary = ANY($1::text[]) ORDER BY beneficiary, entitlement, id`,
      [ids],
    );
    const byId = new Map<string, z.output<typeof holdingSchema>[]>();
    for (const r of rows) {
      byId.set(r.beneficiary, [
        ...(byId.get(r.beneficiary) ?? []),
        {
          requestId: r.id,
          entitlement: r.entitlement,
          ...(r.started_at && { startedAt: r.started_at.toISOString() }),
          ...(r.expires_at !== null && { expiresAt: r.expires_at }),
        },
      ]);
    }
    return byId;
  }
}

interface StoredFact {
  deleted: boolean;
  version: number;
}

function statusOf(u: Identity, fact: StoredFact | undefined): 'active' | 'inactive' | 'deleted' {
  if (fact?.deleted) return 'deleted';
  return u.active ? 'active' : 'inactive';
}
