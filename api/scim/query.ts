import { filter as compile, parse, type Filter } from 'scim2-parse-filter';
import { ScimError } from './errors';
import { MAX_RESULTS } from './schema';
import type { Resource } from './resources';

/** Attributes compared exactly (RFC 7643: `caseExact: true`); every other string compares case-insensitively. */
const CASE_EXACT = new Set(['id', 'externalid']);
const VALUE_PATH_COMPARISON =
  /([A-Za-z][\w:.$-]*)\[([^\]]*)\]\.([A-Za-z$][\w$]*)\s+(eq|ne|co|sw|ew|gt|ge|lt|le)\s+("(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?)/gi;

export interface ParsedFilter {
  ast: Filter;
  matches(resource: Resource): boolean;
}

/**
 * Parses a `filter` with scim2-parse-filter. `emails[type eq "work"].value eq "x"` (which Entra ID sends, though
 * RFC 7644's filter grammar has no sub-attribute after a value path) is read as `emails[type eq "work" and value eq
 * "x"]`, so both conditions hold for the same email.
 */
export function parseFilter(text: string): ParsedFilter {
  const rewritten = text.replace(VALUE_PATH_COMPARISON, '$1[($2) and $3 $4 $5]');
  let ast: Filter;
  try {
    ast = parse(rewritten);
  } catch (err) {
    throw new ScimError(400, `The filter cannot be read: ${(err as Error).message}`, 'invalidFilter');
  }
  const predicate = compile(lowerValues(ast, ''));
  return { ast, matches: (resource) => predicate(lowerResource(resource, '')) };
}

function exact(path: string): boolean {
  const last = path.split(/[.:]/).pop() ?? path;
  return CASE_EXACT.has(path.toLowerCase()) || (path === '' ? false : CASE_EXACT.has(last.toLowerCase()));
}

function lowerValues(f: Filter, prefix: string): Filter {
  switch (f.op) {
    case 'and':
    case 'or':
      return { ...f, filters: f.filters.map((x) => lowerValues(x, prefix)) };
    case 'not':
      return { ...f, filter: lowerValues(f.filter, prefix) };
    case '[]':
      return { ...f, valFilter: lowerValues(f.valFilter, `${prefix}${f.attrPath}.`) };
    case 'pr':
      return f;
    default: {
      const path = `${prefix}${f.attrPath}`;
      return typeof f.compValue === 'string' && !exact(path) ? { ...f, compValue: f.compValue.toLowerCase() } : f;
    }
  }
}

function lowerResource(value: unknown, key: string): never {
  if (typeof value === 'string') return (exact(key) ? value : value.toLowerCase()) as never;
  if (Array.isArray(value)) return value.map((v) => lowerResource(v, key)) as never;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, lowerResource(v, k)]),
    ) as never;
  }
  return value as never;
}

/** An equality on one attribute the store can look up directly, instead of reading every resource. */
export function simpleEquality(ast: Filter): { attribute: string; value: string } | undefined {
  if (ast.op !== 'eq' || typeof ast.compValue !== 'string') return undefined;
  return { attribute: ast.attrPath.toLowerCase(), value: ast.compValue };
}

export interface Page {
  startIndex: number;
  count: number;
}

/** `startIndex` (1-based; below 1 reads as 1) and `count` (negative reads as 0; capped at maxResults). */
export function parsePage(query: Record<string, unknown>): Page {
  const number = (name: string, fallback: number) => {
    const raw = query[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (typeof raw !== 'string' || !/^-?\d+$/.test(raw) || !Number.isSafeInteger(n)) {
      throw new ScimError(400, `"${name}" must be an integer.`, 'invalidValue');
    }
    return n;
  };
  return {
    startIndex: Math.max(1, number('startIndex', 1)),
    count: Math.min(MAX_RESULTS, Math.max(0, number('count', MAX_RESULTS))),
  };
}

/** Applies `attributes` / `excludedAttributes` (top-level names; `id`, `schemas` and `meta` always stay). */
export function project(resource: Resource, query: Record<string, unknown>): Resource {
  const list = (name: string) =>
    typeof query[name] === 'string'
      ? (query[name] as string)
          .split(',')
          .map((s) => s.trim().split('.')[0]?.toLowerCase() ?? '')
          .filter(Boolean)
      : undefined;
  const include = list('attributes');
  const exclude = list('excludedAttributes');
  const always = new Set(['id', 'schemas', 'meta']);
  return Object.fromEntries(
    Object.entries(resource).filter(([key]) => {
      const k = key.toLowerCase();
      if (always.has(k)) return true;
      if (include) return include.some((i) => i === k || i.startsWith(`${k}:`) || k.startsWith(`${i}:`));
      return !exclude?.includes(k);
    }),
  );
}
