import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { rateLimit, type AugmentedRequest, type Store } from 'express-rate-limit';
import { pinoHttp } from 'pino-http';
import type pg from 'pg';
import type { Client } from '@temporalio/client';
import type { Config } from '../domain';
import type { CampaignDefinitions } from '../domain/campaign';
import type { DirectoryView } from '../directory/view';
import { createAuditLog } from '../activities/audit';
import { auditSettingsFromEnv, checkpointerFor, type AuditSettings } from '../activities/audit-settings';
import type { Logger } from '../platform/logger';
import type { Authenticator } from './auth';
import { authenticate } from './caller';
import type { AppContext } from './context';
import { createMetrics } from './metrics';
import { openApiDocument } from './openapi';
import { connectSources, portalRouter, type PortalSignIn } from './portal';
import { errorHandler, Problem, unknownRoute } from './problem';
import { PostgresRateLimitStore } from './rate-limit';
import { ApiRouter } from './router';
import type { Slack } from './slack/client';
import { slackRouter } from './slack/interactions';
import { registerApprovalRoutes } from './routes/approvals';
import { registerIdentityRoutes, type DirectorySyncRunner } from './routes/identities';
import { registerMeRoutes } from './routes/me';
import { registerAuditRoutes } from './routes/audit';
import { registerCampaignRoutes } from './routes/campaigns';
import { registerCatalogRoutes } from './routes/catalog';
import { registerKpiRoutes } from './routes/kpis';
import { registerMessageRoutes } from './routes/messages';
import { registerOwnedRoutes } from './routes/owned';
import { registerPeopleRoutes } from './routes/people';
import { registerOpsRoutes } from './routes/ops';
import { registerPolicyRoutes } from './routes/policy';
import { registerRequestRoutes } from './routes/requests';
import { createScimRouter, type ScimDeps } from './scim/router';
import { createRequestStore } from './store';
import { createWorkflowGateway } from './workflows';

export interface AppDeps {
  client: Client;
  pool: pg.Pool;
  config: Config;
  /** The directory in PostgreSQL; each API call reads the latest snapshot. Without it, `config` answers. */
  directory?: DirectoryView;
  /** The SCIM service provider at /scim/v2; without it, /scim answers that provisioning is off. */
  scim?: Omit<ScimDeps, 'pool' | 'log'>;
  auth: Authenticator;
  log: Logger;
  taskQueue: string;
  /** Writes (submit, preview, messages) per caller per minute; default 60. */
  rateLimitPerMinute?: number;
  /** Where the write counts live; default PostgreSQL, shared by every API instance on the same database. */
  rateLimitStore?: Store;
  /** The audit chain's keys and checkpoint sink; default read from process.env (GRANTFLOW_AUDIT_*). */
  auditSettings?: AuditSettings;
  /** Serves the portal at `/` and tells it how to sign people in; without it there is no portal. */
  portal?: { signIn: PortalSignIn; distDir?: string };
  /** Slack approvals: the interactivity endpoint at /slack/interactions; without it there is none. */
  slack?: Slack;
  /** An on-demand pull of the directory (the LDAP source); without it POST /v1/directory/sync answers 409. */
  directorySync?: DirectorySyncRunner;
  /** Access-review definitions (campaigns.yaml); without them the campaign routes know no definition. */
  campaigns?: CampaignDefinitions;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The HTTP API over injected dependencies; `main.ts` listens, tests drive it with supertest. */
export function createApp(deps: AppDeps): Express {
  const auditSettings = deps.auditSettings ?? auditSettingsFromEnv(process.env);
  const ctx: AppContext = {
    config: deps.config,
    log: deps.log,
    pool: deps.pool,
    client: deps.client,
    store: createRequestStore(deps.pool),
    audit: createAuditLog(deps.pool, {
      keyring: auditSettings.keyring,
      checkpoints: checkpointerFor(auditSettings, deps.pool, deps.log),
    }),
    workflows: createWorkflowGateway(deps.client, deps.taskQueue),
    metrics: createMetrics(),
  };

  const app = express();
  app.disable('x-powered-by');
  // Helmet's strict defaults (scripts and styles from this origin only, no inline script, no framing by others),
  // with connect-src naming the OIDC issuer the portal must reach; nothing else may be fetched from a page.
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'connect-src': connectSources(deps.portal?.signIn),
          'style-src': ["'self'"],
          'frame-ancestors': ["'none'"],
        },
      },
    }),
  );
  app.use(
    pinoHttp({
      logger: deps.log,
      // A caller's id is kept when it is safe to echo, so one id follows the request across services.
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      quietReqLogger: true,
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      // Probes and scrapes every few seconds would drown the requests that matter.
      autoLogging: { ignore: (req) => OPS_PATHS.has(req.url?.split('?')[0] ?? '') },
    }),
  );
  app.use(ctx.metrics.middleware);

  const { directory } = deps;
  if (directory) {
    // One indexed read per call; the snapshot is rebuilt only when a sync moved the directory's version. A string
    // prefix: Express 5 never matches `app.use` with a RegExp like /^\/v1\//, which left the start-up directory in force.
    app.use('/v1', async (_req, _res, next) => {
      ctx.config = await directory.current();
      next();
    });
  }
  // SCIM is its own protocol, described by its own discovery endpoints (RFC 7644 §4) rather than the /v1 OpenAPI
  // document, so it is a sub-application with its own body parser and SCIM error bodies.
  const scim = express();
  scim.disable('x-powered-by');
  scim.use(createScimRouter({ pool: deps.pool, log: deps.log, enabled: false, tokens: NO_TOKENS, ...deps.scim }));
  app.use('/scim/v2', scim);

  const api = new ApiRouter({
    authenticate: authenticate(deps.auth, () => ctx.config),
    rateLimit: writeLimit(deps.rateLimitPerMinute ?? 60, deps.rateLimitStore ?? new PostgresRateLimitStore(deps.pool)),
  });
  registerRequestRoutes(api, ctx);
  registerMessageRoutes(api, ctx);
  registerApprovalRoutes(api, ctx);
  registerMeRoutes(api, ctx, deps.directory);
  registerCatalogRoutes(api, ctx);
  registerPolicyRoutes(api, ctx);
  registerAuditRoutes(api, ctx);
  registerKpiRoutes(api, ctx);
  registerPeopleRoutes(api, ctx);
  registerOwnedRoutes(api, ctx);
  registerIdentityRoutes(api, ctx, {
    source: deps.directory?.source ?? 'yaml',
    ...(deps.directorySync && { sync: deps.directorySync }),
  });
  registerCampaignRoutes(api, ctx, {
    definitions: deps.campaigns ?? { version: 'none', byId: new Map() },
    keyring: auditSettings.keyring,
    taskQueue: deps.taskQueue,
  });
  let document: unknown;
  registerOpsRoutes(api, ctx, () => (document ??= openApiDocument(api.registry)));

  if (deps.slack) app.use(slackRouter(ctx, deps.slack));
  app.use(api.options);
  app.use(api.router);
  if (deps.portal) app.use(portalRouter({ config: deps.config, ...deps.portal }));
  app.use(api.methodNotAllowed);
  app.use(unknownRoute);
  app.use(errorHandler(deps.log));
  return app;
}

const NO_TOKENS: ScimDeps['tokens'] = {
  issue: () => Promise.reject(new Error('SCIM provisioning is off.')),
  rotate: () => Promise.reject(new Error('SCIM provisioning is off.')),
  revokeAll: () => Promise.resolve(0),
  verify: () => Promise.resolve(undefined),
};

/**
 * Per caller, not per address: many people share a proxy, and one person may come from many. Counted in PostgreSQL,
 * so N API instances enforce one limit between them.
 */
function writeLimit(perMinute: number, store: Store): RequestHandler {
  return rateLimit({
    store,
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (_req, res) => res.locals.caller?.id ?? 'anonymous',
    handler: (req, _res, next) => {
      const reset = (req as Partial<AugmentedRequest>).rateLimit?.resetTime;
      const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
      next(
        new Problem('rate-limited', `You sent more than ${perMinute} changes in a minute; wait ${seconds} s.`, {
          headers: { 'Retry-After': String(seconds) },
        }),
      );
    },
  });
}
