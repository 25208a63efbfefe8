import express, { type Request, type RequestHandler, type Response } from 'express';
import { OpenAPIRegistry, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { Caller } from './caller';
import { fieldErrors, PROBLEM_CONTENT_TYPE, Problem, problemTypes, validationProblem } from './problem';
import { problemSchema } from './schemas';

/**
 * Above the largest body the schemas allow, with every character JSON-escaped (a 2,000-character justification of
 * astral characters is 24,000 bytes; `fields` holds at most 20), so 413 only ever meets a body the schema refuses.
 */
export const BODY_LIMIT = '64kb';

type Schema = z.ZodType | undefined;
type Parsed<S extends Schema> = S extends z.ZodType ? z.output<S> : undefined;

export interface Context<P extends Schema, Q extends Schema, B extends Schema> {
  req: Request;
  res: Response;
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  /** The authenticated caller; routes marked `public` have none. */
  caller: Caller;
}

interface Answer {
  status: number;
  description: string;
  schema?: z.ZodType;
  /** Defaults to application/json. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Route<P extends Schema, Q extends Schema, B extends Schema> {
  method: 'get' | 'post' | 'put' | 'delete';
  /** Express syntax (`/v1/requests/:id`); the OpenAPI path is derived from it. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** No bearer token needed (ops endpoints). */
  public?: boolean;
  /** Counted against the caller's per-minute write limit. */
  limited?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /** Request headers worth documenting (e.g. Idempotency-Key); parsed by the handler. */
  headers?: z.ZodObject;
  answers: Answer[];
  /** Problem statuses this route answers besides the ones every route may (400, 401, 429, 500, 503). */
  problems?: number[];
  handle(ctx: Context<P, Q, B>): Promise<void>;
}

export interface RouterDeps {
  authenticate: RequestHandler;
  rateLimit: RequestHandler;
}

const problemStatuses = new Map<number, string[]>();
for (const [kind, { status }] of Object.entries(problemTypes)) {
  problemStatuses.set(status, [...(problemStatuses.get(status) ?? []), kind]);
}

/**
 * Routes are declared once: the same declaration mounts the Express handler (authentication, rate limit, body
 * parsing and zod validation in that order) and registers the OpenAPI operation, so the document cannot forget one.
 */
export class ApiRouter {
  readonly registry = new OpenAPIRegistry();
  readonly router = express.Router();
  /** Each path template with the methods declared on it, for 405 answers to the others. */
  private readonly methods = new Map<string, { pattern: RegExp; allowed: Set<string> }>();
  private readonly json = express.json({ limit: BODY_LIMIT, strict: true });

  constructor(private readonly deps: RouterDeps) {
    this.registry.registerComponent('securitySchemes', 'bearer', {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'An OIDC access token (or, in development, an HS256 token from `npm run token`).',
    });
  }

  route<P extends Schema = undefined, Q extends Schema = undefined, B extends Schema = undefined>(
    route: Route<P, Q, B>,
  ): void {
    this.registry.registerPath(this.document(route));
    const steps: RequestHandler[] = [
      (_req, res, next) => {
        res.locals.route = route.path;
        next();
      },
    ];
    if (!route.public) steps.push(this.deps.authenticate);
    if (route.limited) steps.push(this.deps.rateLimit);
    if (route.body) steps.push(requireJson, this.json);
    steps.push(async (req, res) => {
      const ctx = {
        req,
        res,
        params: parse(route.params, req.params, 'path'),
        query: parse(route.query, req.query, 'query string'),
        body: parse(route.body, req.body ?? {}, 'body'),
        get caller(): Caller {
          const caller = res.locals.caller;
          if (!caller) throw new Error(`${route.operationId} is public and has no caller`);
          return caller;
        },
      } as Context<P, Q, B>;
      await route.handle(ctx);
    });
    this.router[route.method](route.path, ...steps);
    const entry = this.methods.get(route.path) ?? {
      pattern: new RegExp(`^${route.path.replace(/:\w+/g, '[^/]+')}/?$`),
      allowed: new Set<string>(),
    };
    entry.allowed.add(route.method.toUpperCase());
    if (route.method === 'get') entry.allowed.add('HEAD'); // Express answers HEAD from the GET handler
    this.methods.set(route.path, entry);
  }

  /** OPTIONS names the methods the document declares for the path, as 405 answers do. */
  readonly options: RequestHandler = (req, res, next) => {
    const allowed = req.method === 'OPTIONS' ? this.allowed(req.path) : new Set<string>();
    if (allowed.size === 0) {
      next();
      return;
    }
    res.setHeader('Allow', [...allowed].sort().join(', '));
    res.status(204).end();
  };

  /** A literal path (`/v1/requests/preview`) is its own resource, even where a template (`/v1/requests/:id`) matches too. */
  private allowed(path: string): Set<string> {
    const matching = [...this.methods].filter(([, { pattern }]) => pattern.test(path));
    const literal = matching.filter(([template]) => !template.includes(':'));
    return new Set((literal.length ? literal : matching).flatMap(([, { allowed }]) => [...allowed]));
  }

  /**
   * A method the document does not declare on a path it does declare is 405 with `Allow` (RFC 9110 §15.5.6), not
   * 404: the resource is there, the method is not. Mounted after the router, so only unmatched requests reach it.
   */
  readonly methodNotAllowed: RequestHandler = (req, _res, next) => {
    const allowed = this.allowed(req.path);
    if (allowed.size === 0 || allowed.has(req.method)) {
      next();
      return;
    }
    const allow = [...allowed].sort().join(', ');
    next(
      new Problem('method-not-allowed', `${req.path} answers ${allow} only.`, {
        headers: { Allow: allow },
      }),
    );
  };

  private document(route: Route<Schema, Schema, Schema>): RouteConfig {
    const responses: Record<string, ResponseConfig> = {};
    for (const answer of route.answers) {
      // Several answers may share a status with different media types (e.g. JSON or CSV).
      const key = String(answer.status);
      const earlier = responses[key];
      responses[key] = {
        description: earlier ? `${earlier.description} ${answer.description}` : answer.description,
        ...(answer.headers && {
          headers: Object.fromEntries(
            Object.entries(answer.headers).map(([name, description]) => [
              name,
              { description, schema: { type: 'string' } },
            ]),
          ),
        }),
        ...((answer.schema || earlier?.content) && {
          content: {
            ...earlier?.content,
            ...(answer.schema && { [answer.contentType ?? 'application/json']: { schema: answer.schema } }),
          },
        }),
      };
    }
    const common = [...(route.public ? [] : [401, 403, 429]), 500, 503];
    const inputs = route.params || route.query || route.body ? [400] : [];
    const body = route.body ? [413, 415] : [];
    for (const status of new Set([...inputs, ...common, ...body, ...(route.problems ?? [])])) {
      const kinds = problemStatuses.get(status) ?? [];
      responses[String(status)] = {
        description: `Problem: ${kinds.join(', ')}.${status === 413 ? ` The body limit is ${BODY_LIMIT}.` : ''}`,
        content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
      };
    }
    return {
      method: route.method,
      path: route.path.replace(/:(\w+)/g, '{$1}'),
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description && { description: route.description }),
      tags: route.tags,
      ...(!route.public && { security: [{ bearer: [] }] }),
      request: {
        ...(route.params && { params: route.params as z.ZodObject }),
        ...(route.query && { query: route.query as z.ZodObject }),
        ...(route.headers && { headers: route.headers }),
        ...(route.body && {
          body: { required: true, content: { 'application/json': { schema: route.body } } },
        }),
      },
      responses,
    };
  }
}

declare module 'express-serve-static-core' {
  interface Locals {
    /** The route's path template, for metrics. */
    route?: string;
  }
}

function parse<S extends Schema>(schema: S, value: unknown, where: string): Parsed<S> {
  if (!schema) return undefined as Parsed<S>;
  const result = schema.safeParse(value, { error: requiredMessage });
  if (result.success) return result.data as Parsed<S>;
  throw validationProblem(fieldErrors(result.error.issues), where);
}

/** A missing value reads "is required" rather than zod's "expected string, received undefined". */
const requiredMessage: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined;

/** A body that is there must be JSON; an absent one is parsed as `{}` so optional-only bodies may be left out. */
const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.is('application/json')) {
    next(new Problem('unsupported-media-type', 'Send the body as application/json.'));
    return;
  }
  next();
};
