import type { ErrorRequestHandler, Response } from 'express';

export const SCIM_CONTENT_TYPE = 'application/scim+json';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The `scimType` values of RFC 7644 §3.12 this service answers with. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

/** A refusal with a SCIM error body (RFC 7644 §3.12); thrown by handlers, answered by scimErrorHandler. */
export class ScimError extends Error {
  override name = 'ScimError';
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly scimType?: ScimType,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export function sendScimError(res: Response, err: ScimError): void {
  res
    .status(err.status)
    .set({ ...err.headers, 'Content-Type': SCIM_CONTENT_TYPE })
    .send(
      JSON.stringify({
        schemas: [ERROR_SCHEMA],
        status: String(err.status),
        ...(err.scimType && { scimType: err.scimType }),
        detail: err.detail,
      }),
    );
}

interface HttpError {
  status?: number;
  type?: string;
}

/** Every failure under /scim answers in SCIM's shape, including the body parser's and unexpected ones. */
export function scimErrorHandler(log: { error: (obj: object, msg: string) => void }): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof ScimError) {
      sendScimError(res, err);
      return;
    }
    const http = err as HttpError;
    if (http.type === 'entity.too.large') {
      sendScimError(res, new ScimError(413, 'The request body is larger than this service accepts.'));
      return;
    }
    if (http.type === 'entity.parse.failed') {
      sendScimError(res, new ScimError(400, 'The request body is not valid JSON.', 'invalidSyntax'));
      return;
    }
    if (typeof http.status === 'number' && http.status >= 400 && http.status < 500) {
      sendScimError(res, new ScimError(http.status, (err as Error).message || 'The request was refused.'));
      return;
    }
    log.error({ err }, 'scim request failed');
    sendScimError(res, new ScimError(500, 'The service failed to answer; nothing was changed.'));
  };
}
