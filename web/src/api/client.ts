import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';
import { currentToken, signOut } from '../auth/session';

export type Schemas = components['schemas'];
export type RequestView = Schemas['Request'];
export type RequestSummary = Schemas['RequestSummary'];
export type Catalog = Schemas['Catalog'];
export type Entitlement = Catalog['resources'][number]['entitlements'][number];
export type Preview = Schemas['Preview'];
export type RequestInput = Schemas['RequestInput'];
export type ProblemBody = Schemas['Problem'];

/** A refusal or error from the API, carrying its problem document: the page shows `detail`, the API's sentence. */
export class ApiProblem extends Error {
  constructor(readonly problem: Partial<ProblemBody> & { status: number; refusal?: string }) {
    super(problem.detail ?? problem.title ?? `The API answered ${problem.status}.`);
  }
  get fieldErrors(): { field: string; message: string }[] {
    return this.problem.errors ?? [];
  }
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = currentToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    // An expired or revoked session: back to sign-in rather than a page of errors.
    if (response.status === 401) signOut();
    return response;
  },
};

/** The typed client, generated from the API's own OpenAPI document (web/src/api/schema.ts). */
export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

/** Unwraps an openapi-fetch answer: the data, or an ApiProblem with the API's sentence. */
export async function unwrap<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await pending;
  if (error !== undefined || !response.ok) {
    const body = (typeof error === 'object' && error !== null ? error : {}) as Partial<ProblemBody>;
    throw new ApiProblem({ ...body, status: response.status });
  }
  return data as T;
}

/** Fetches a file the API answers only with a bearer token, and hands it to the browser as a download. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${currentToken() ?? ''}` } });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as Partial<ProblemBody>;
    throw new ApiProblem({ ...body, status: res.status });
  }
  const url = URL.createObjectURL(await res.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
