import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type pg from 'pg';
import type { Logger } from '../../platform/logger';
import { SCIM_CONTENT_TYPE, ScimError, scimErrorHandler } from './errors';
import { applyPatch } from './patch';
import { parsePage, parseFilter, project, simpleEquality } from './query';
import {
  groupRecord,
  groupResource,
  parseGroup,
  parseUser,
  userRecord,
  userResource,
  type Resource,
} from './resources';
import { LIST_SCHEMA, resourceTypeDocuments, schemaDocuments, serviceProviderConfig } from './schema';
import { createScimStore } from './store';
import type { ScimTokens } from './tokens';

/** SCIM bodies are small; a full group of thousands of members still fits. */
export const SCIM_BODY_LIMIT = '512kb';

export interface ScimDeps {
  pool: pg.Pool;
  tokens: ScimTokens;
  log: Logger;
  /** False when another directory source is in force: every call is refused, nothing is written. */
  enabled: boolean;
  /**
   * Runs after a write committed (starts the offboarding of a leaver). A failure is logged, not answered: the change
   * is written, and the worker's sweep starts what this could not.
   */
  afterChange?: () => Promise<void>;
}

declare module 'express-serve-static-core' {
  interface Locals {
    scimProvider?: string;
  }
}

type Handler = (req: Request, res: Response) => Promise<void>;

/** The SCIM 2.0 service provider (RFC 7643/7644) that identity providers push users and groups to. */
export function createScimRouter(deps: ScimDeps): Router {
  const router = express.Router();
  const store = createScimStore(deps.pool, async () => {
    await deps.afterChange?.().catch((err: unknown) => deps.log.warn({ err }, 'after a SCIM change'));
  });
  const base = (req: Request) => `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;
  const send = (res: Response, status: number, body: unknown) =>
    res.status(status).set('Content-Type', SCIM_CONTENT_TYPE).send(JSON.stringify(body));
  const actor = (res: Response) => `scim:${res.locals.scimProvider ?? 'unknown'}`;
  const route = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => fn(req, res).catch(next);

  router.use((_req, _res, next) => {
    if (!deps.enabled) {
      next(new ScimError(403, 'SCIM provisioning is off: the directory source is not "scim".'));
      return;
    }
    next();
  });

  // Discovery (RFC 7644 §4) is static and the same for every provider, so it needs no token.
  router.get('/ServiceProviderConfig', (req, res) => send(res, 200, serviceProviderConfig(base(req))));
  router.get('/Schemas', (req, res) => send(res, 200, list(schemaDocuments(base(req)), 1)));
  router.get('/Schemas/:id', (req, res, next) => {
    const doc = schemaDocuments(base(req)).find((d) => d.id === req.params.id);
    if (doc) send(res, 200, doc);
    else next(new ScimError(404, `There is no schema "${req.params.id}".`));
  });
  router.get('/ResourceTypes', (req, res) => send(res, 200, list(resourceTypeDocuments(base(req)), 1)));
  router.get('/ResourceTypes/:id', (req, res, next) => {
    const doc = resourceTypeDocuments(base(req)).find((d) => d.id === req.params.id);
    if (doc) send(res, 200, doc);
    else next(new ScimError(404, `There is no resource type "${req.params.id}".`));
  });

  router.all(/^\/(ServiceProviderConfig|Schemas|ResourceTypes)(\/.*)?$/, (req, _res, next) =>
    next(
      new ScimError(405, `${req.method} is not allowed on ${req.path}; it is read-only.`, undefined, { Allow: 'GET' }),
    ),
  );

  // The identity provider comes from its token alone; people's tokens are not accepted here.
  router.use((req, res, next) => {
    const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/.exec(req.headers.authorization ?? '');
    const verified = match?.[1] ? deps.tokens.verify(match[1]) : Promise.resolve(undefined);
    verified
      .then((provider) => {
        if (!provider) {
          throw new ScimError(401, 'A valid SCIM bearer token of an identity provider is required.', undefined, {
            'WWW-Authenticate': 'Bearer realm="grantflow-scim"',
          });
        }
        res.locals.scimProvider = provider;
        next();
      }, next)
      .catch(next);
  });
  router.use(
    express.json({ limit: SCIM_BODY_LIMIT, strict: true, type: ['application/scim+json', 'application/json'] }),
  );

  // ---------- Users ----------
  const listUsers = async (req: Request, query: Record<string, unknown>) => {
    const filter = typeof query.filter === 'string' ? parseFilter(query.filter) : undefined;
    const [users, groups] = await Promise.all([
      store.listUsers(filter && simpleEquality(filter.ast)),
      store.groupsOfUsers(),
    ]);
    const resources = users.map((u) => userResource(u, groups.get(u.id) ?? [], base(req)));
    return { resources, matches: filter?.matches };
  };
  const listGroups = async (req: Request, query: Record<string, unknown>) => {
    const filter = typeof query.filter === 'string' ? parseFilter(query.filter) : undefined;
    const withMembers = !excludes(query, 'members');
    const resources: Resource[] = [];
    for (const g of await store.listGroups()) {
      resources.push(
        groupResource(g, withMembers ? await store.membersOf(g) : [], base(req), { members: withMembers }),
      );
    }
    return { resources, matches: filter?.matches };
  };
  const listing =
    (
      ...lists: ((
        req: Request,
        query: Record<string, unknown>,
      ) => Promise<{ resources: Resource[]; matches?: (r: Resource) => boolean }>)[]
    ) =>
    (search: boolean) =>
      route(async (req, res) => {
        const query = search ? searchQuery(req.body) : (req.query as Record<string, unknown>);
        const found: Resource[] = [];
        for (const l of lists) {
          const { resources, matches } = await l(req, query);
          found.push(...(matches ? resources.filter(matches) : resources));
        }
        send(res, 200, page(found, query));
      });
  router.get('/Users', listing(listUsers)(false));
  router.post('/Users/.search', listing(listUsers)(true));
  router.get('/Groups', listing(listGroups)(false));
  router.post('/Groups/.search', listing(listGroups)(true));
  router.post('/.search', listing(listUsers, listGroups)(true));
  router.post(
    '/Users',
    route(async (req, res) => {
      const input = parseUser(req.body);
      // A user created without `active` is active, and says so when read back.
      input.attributes.active = input.active ?? true;
      const user = await store.putUser(actor(res), undefined, (ref) =>
        userRecord(ref, input, { active: input.active ?? true }),
      );
      send(res.location(`${base(req)}/Users/${user.sourceRef}`), 201, userResource(user, [], base(req)));
    }),
  );
  router.get(
    '/Users/:id',
    route(async (req, res) => {
      const user = await store.getUser(req.params.id as string);
      if (!user) throw new ScimError(404, `No user has the id "${req.params.id}".`);
      const groups = (await store.groupsOfUsers()).get(user.id) ?? [];
      send(res, 200, project(userResource(user, groups, base(req)), req.query as Record<string, unknown>));
    }),
  );
  router.put(
    '/Users/:id',
    route(async (req, res) => {
      const input = parseUser(req.body);
      // A full PUT without `active` (Okta) leaves it as it was rather than reactivating or deactivating anyone.
      const user = await store.putUser(actor(res), req.params.id as string, (ref, before) => {
        if (input.active === undefined && before && 'active' in before.attributes) {
          input.attributes.active = before.attributes.active;
        }
        return userRecord(ref, input, { id: before?.id, active: input.active ?? before?.active ?? true });
      });
      const groups = (await store.groupsOfUsers()).get(user.id) ?? [];
      send(res, 200, userResource(user, groups, base(req)));
    }),
  );
  router.patch(
    '/Users/:id',
    route(async (req, res) => {
      const user = await store.putUser(actor(res), req.params.id as string, (ref, before) => {
        if (!before) throw new ScimError(404, `No user has the id "${ref}".`);
        const input = parseUser(applyPatch(userResource(before, [], base(req)), req.body));
        return userRecord(ref, input, { id: before.id, active: input.active ?? before.active });
      });
      const groups = (await store.groupsOfUsers()).get(user.id) ?? [];
      send(res, 200, userResource(user, groups, base(req)));
    }),
  );
  router.delete(
    '/Users/:id',
    route(async (req, res) => {
      await store.deleteUser(actor(res), req.params.id as string);
      res.status(204).end();
    }),
  );

  // ---------- Groups ----------
  router.post(
    '/Groups',
    route(async (req, res) => {
      const input = parseGroup(req.body);
      const group = await store.putGroup(
        actor(res),
        undefined,
        (ref, _before, members) => groupRecord(ref, input, members),
        () => input.memberRefs,
      );
      const resource = groupResource(group, await store.membersOf(group), base(req), { members: true });
      send(res.location(`${base(req)}/Groups/${group.sourceRef}`), 201, resource);
    }),
  );
  router.get(
    '/Groups/:id',
    route(async (req, res) => {
      const group = await store.getGroup(req.params.id as string);
      if (!group) throw new ScimError(404, `No group has the id "${req.params.id}".`);
      const query = req.query as Record<string, unknown>;
      const withMembers = !excludes(query, 'members');
      const members = withMembers ? await store.membersOf(group) : [];
      send(res, 200, project(groupResource(group, members, base(req), { members: withMembers }), query));
    }),
  );
  const replaceGroup = (patch: boolean) =>
    route(async (req, res) => {
      let input = patch ? undefined : parseGroup(req.body);
      const group = await store.putGroup(
        actor(res),
        req.params.id as string,
        (ref, before, members) => groupRecord(ref, input as NonNullable<typeof input>, members, before?.id),
        async (before) => {
          if (patch && before) {
            const current = groupResource(before, await store.membersOf(before), base(req), { members: true });
            input = parseGroup(applyPatch(current, req.body));
          }
          return input?.memberRefs ?? [];
        },
      );
      send(res, 200, groupResource(group, await store.membersOf(group), base(req), { members: true }));
    });
  router.put('/Groups/:id', replaceGroup(false));
  router.patch('/Groups/:id', replaceGroup(true));
  router.delete(
    '/Groups/:id',
    route(async (req, res) => {
      await store.deleteGroup(actor(res), req.params.id as string);
      res.status(204).end();
    }),
  );

  router.use((req, _res, next) => next(new ScimError(404, `There is no SCIM endpoint ${req.method} ${req.path}.`)));
  router.use(scimErrorHandler(deps.log));
  return router;
}

function excludes(query: Record<string, unknown>, attribute: string): boolean {
  const excluded = typeof query.excludedAttributes === 'string' ? query.excludedAttributes : '';
  return excluded
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .includes(attribute.toLowerCase());
}

function list(resources: unknown[], startIndex: number, total = resources.length) {
  return {
    schemas: [LIST_SCHEMA],
    totalResults: total,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

const SEARCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

/** A POST /.search body (RFC 7644 §3.4.3) as the query parameters of the same GET. */
function searchQuery(body: unknown): Record<string, unknown> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (!Array.isArray(b.schemas) || !b.schemas.includes(SEARCH_SCHEMA)) {
    throw new ScimError(400, `"schemas" must list ${SEARCH_SCHEMA}.`, 'invalidSyntax');
  }
  const text = (v: unknown, name: string) => {
    if (v === undefined) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
    if (typeof v === 'string' || typeof v === 'number') return String(v);
    throw new ScimError(400, `"${name}" has the wrong type.`, 'invalidValue');
  };
  const query: Record<string, unknown> = {};
  for (const name of ['filter', 'attributes', 'excludedAttributes', 'startIndex', 'count']) {
    const value = text(b[name], name);
    if (value !== undefined) query[name] = value;
  }
  return query;
}

function page(found: Resource[], query: Record<string, unknown>) {
  const { startIndex, count } = parsePage(query);
  const slice = found.slice(startIndex - 1, startIndex - 1 + count).map((r) => project(r, query));
  return list(slice, startIndex, found.length);
}
