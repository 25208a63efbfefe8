import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import {
  isGrpcDeadlineError,
  isGrpcServiceError,
  ServiceError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import type { z } from 'zod';
import type { RefusalType } from '../workflows/messages';
import type { Logger } from '../platform/logger';

/** One failing input, named the way the caller wrote it (`justification`, `fields.ticket`, `Idempotency-Key`). */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * The kinds of problem the API answers with: RFC 9457 `type` (a URN under urn:grantflow:problem), status and title.
 * The catalogue is closed, so clients can switch on `type` and the OpenAPI document lists every one.
 */
export const problemTypes = {
  validation: { status: 400, title: 'The request is not valid' },
  'malformed-json': { status: 400, title: 'The body is not valid JSON' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'You may not do this' },
  'self-approval': { status: 403, title: 'You cannot decide on your own request' },
  'not-eligible': { status: 403, title: 'You are not an eligible approver' },
  'not-allowed': { status: 403, title: 'You may not do this to this request' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'The method is not allowed here' },
  'stage-closed': { status: 409, title: 'No stage is open for decisions' },
  'already-decided': { status: 409, title: 'You already decided' },
  'invalid-state': { status: 409, title: 'The request is not in a state that allows this' },
  'request-closed': { status: 409, title: 'The request is closed' },
  'not-pulled': { status: 409, title: 'The directory source is not pulled' },
  'payload-too-large': { status: 413, title: 'The body is too large' },
  'unsupported-media-type': { status: 415, title: 'The body must be application/json' },
  'invalid-request': { status: 422, title: 'The request does not fit the catalog' },
  'extension-too-long': { status: 422, title: 'The extension is too long' },
  'invalid-delegation': { status: 422, title: 'The delegation does not fit the directory' },
  'idempotency-key-reused': { status: 422, title: 'The Idempotency-Key was used for a different request' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'A backing service is unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;
export type ProblemKind = keyof typeof problemTypes;

export const PROBLEM_TYPE_PREFIX = 'urn:grantflow:problem:';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** How the workflow's refusals (ApplicationFailure types) read over HTTP. */
export const refusalProblems: Record<RefusalType, ProblemKind> = {
  SelfApproval: 'self-approval',
  NotEligible: 'not-eligible',
  NotAllowed: 'not-allowed',
  StageClosed: 'stage-closed',
  AlreadyDecided: 'already-decided',
  InvalidState: 'invalid-state',
  ExtensionTooLong: 'extension-too-long',
  ExtensionRefused: 'invalid-state',
  Malformed: 'validation',
};

/** The problem document, as sent. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** An error that is an answer: thrown anywhere in a handler, the error handler sends it as problem+json. */
export class Problem extends Error {
  override name = 'Problem';
  readonly status: number;
  readonly title: string;

  constructor(
    readonly kind: ProblemKind,
    readonly detail: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; [key: string]: unknown } = {},
  ) {
    super(detail);
    this.status = problemTypes[kind].status;
    this.title = problemTypes[kind].title;
  }

  body(req: Request): ProblemBody {
    const { headers: _headers, ...extensions } = this.extra;
    return {
      ...extensions,
      type: `${PROBLEM_TYPE_PREFIX}${this.kind}`,
      title: this.title,
      status: this.status,
      detail: this.detail,
      instance: req.originalUrl.split('?')[0] ?? req.originalUrl,
      requestId: requestIdOf(req),
    };
  }
}

export function notFound(what = 'resource'): Problem {
  return new Problem('not-found', `There is no ${what} here that you can see.`);
}

/** Turns zod issues into field errors; an unknown key is reported under its own name. */
export function fieldErrors(issues: readonly z.core.$ZodIssue[], prefix = ''): FieldError[] {
  return issues.flatMap((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: path ? `${path}.${key}` : key, message: 'is not a known field' }));
    }
    return [{ field: path || '(body)', message: issue.message }];
  });
}

export function validationProblem(errors: FieldError[], where: string): Problem {
  const first = errors[0];
  const detail =
    errors.length === 1 && first
      ? `The ${where} is not valid: ${first.field} ${first.message}.`
      : `The ${where} has ${errors.length} invalid fields; see errors.`;
  return new Problem('validation', detail, { errors });
}

export function requestIdOf(req: Request): string {
  return String(req.id ?? '');
}

export function sendProblem(req: Request, res: Response, problem: Problem): void {
  for (const [name, value] of Object.entries(problem.extra.headers ?? {})) res.setHeader(name, value);
  res
    .status(problem.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem.body(req)));
}

const RETRY_AFTER_SECONDS = '5';
const UNAVAILABLE_GRPC_CODES = new Set([
  1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 14 /* UNAVAILABLE */,
]);

/** Temporal could not be reached or did not answer in time (as opposed to answering "no"). */
export function isTemporalUnavailable(err: unknown): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  if (isGrpcDeadlineError(err)) return true;
  const grpc = err instanceof ServiceError ? err.cause : err;
  if (isGrpcServiceError(grpc)) return UNAVAILABLE_GRPC_CODES.has(grpc.code);
  // The client wraps transport failures it cannot classify.
  return err instanceof ServiceError && !isGrpcServiceError(err.cause);
}

const PG_UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE']);

/** PostgreSQL could not be reached, refused connections or went away mid-query. */
export function isPostgresUnavailable(err: unknown): boolean {
  // Duck-typed: socket errors come from Node's own realm, where `instanceof Error` may not hold (e.g. under jest).
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    // SQLSTATE class 08 (connection exception), 57P0x (shutdown, cannot connect now), 53300 (too many connections).
    if (PG_UNAVAILABLE_CODES.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300') {
      return true;
    }
  }
  return (
    typeof message === 'string' &&
    /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/.test(message)
  );
}

export function unavailable(service: string): Problem {
  return new Problem('unavailable', `${service} is unavailable right now; retry shortly.`, {
    headers: { 'Retry-After': RETRY_AFTER_SECONDS },
  });
}

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

function fromBodyParser(err: BodyParserError): Problem | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new Problem('payload-too-large', `The body is larger than the limit of ${err.limit ?? '?'} bytes.`);
    case 'entity.parse.failed':
      return new Problem('malformed-json', 'The body could not be parsed as a JSON object.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new Problem('unsupported-media-type', 'The body must be UTF-8 encoded JSON.');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new Problem('validation', 'The body was not received completely.');
    default:
      return undefined;
  }
}

/** Maps any error to the problem the caller sees; unexpected ones are logged and answered without detail. */
export function toProblem(err: unknown, log: Logger, req: Request): Problem {
  if (err instanceof Problem) return err;
  const parsed = typeof err === 'object' && err !== null ? fromBodyParser(err as BodyParserError) : undefined;
  if (parsed) return parsed;
  if (isTemporalUnavailable(err)) {
    log.warn({ err }, 'Temporal unavailable');
    return unavailable('Temporal');
  }
  if (isPostgresUnavailable(err)) {
    log.warn({ err }, 'PostgreSQL unavailable');
    return unavailable('PostgreSQL');
  }
  log.error({ err }, 'unhandled error');
  return new Problem('internal', `Something went wrong on our side; quote request id ${requestIdOf(req)}.`);
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    // pino-http's request logger carries the request id on every line.
    const reqLog = (req.log as Logger | undefined) ?? log.child({ reqId: requestIdOf(req) });
    if (res.headersSent) {
      // A streamed answer broke half-way: all that is left is to cut the connection.
      reqLog.error({ err }, 'error after the response started');
      next(err);
      return;
    }
    sendProblem(req, res, toProblem(err, reqLog, req));
  };
}

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new Problem('not-found', `There is no ${req.method} ${req.path} in this API.`));
};
