import { patchBodyValidation, scimPatch, type ScimPatchOperation, type ScimResource } from 'scim-patch';
import { ScimError, type ScimType } from './errors';
import { ENTERPRISE_SCHEMA, PATCH_SCHEMA } from './schema';
import type { Resource } from './resources';

interface RawOperation {
  op?: unknown;
  path?: unknown;
  value?: unknown;
}

/**
 * Applies a PatchOp body with scim-patch, after reading what real providers send as RFC 7644 means it:
 * PascalCase ops (Entra ID); a path-less `replace`/`add` whose value has dotted or schema-qualified keys
 * (`{"name.givenName": …}`, Entra ID), as one operation per qualified key (plain keys such as Okta's
 * `{"active": false}` stay path-less);
 * `remove` of `members` with a list of values (Entra ID), as one `members[value eq "…"]` removal each.
 */
export function applyPatch(resource: Resource, body: unknown): Resource {
  if (typeof body !== 'object' || body === null)
    throw new ScimError(400, 'The body must be a PatchOp.', 'invalidSyntax');
  const raw = body as { schemas?: unknown; Operations?: unknown };
  const operations = Array.isArray(raw.Operations) ? raw.Operations.flatMap((o) => expand(o as RawOperation)) : [];
  const patch = { schemas: raw.schemas, Operations: operations } as Parameters<typeof patchBodyValidation>[0];
  try {
    if (!Array.isArray(raw.schemas) || !raw.schemas.includes(PATCH_SCHEMA)) {
      throw new ScimError(400, `"schemas" must list ${PATCH_SCHEMA}.`, 'invalidSyntax');
    }
    patchBodyValidation(patch);
    let patched: Resource = structuredClone(resource);
    for (const operation of operations) {
      patched = wholeExtension(patched, operation) ?? patchOne(patched, operation);
    }
    return patched;
  } catch (err) {
    if (err instanceof ScimError) throw err;
    const scimCode = (err as { scimCode?: string }).scimCode as ScimType | undefined;
    throw new ScimError(400, (err as Error).message || 'The patch cannot be applied.', scimCode ?? 'invalidSyntax');
  }
}

function patchOne(resource: Resource, operation: ScimPatchOperation): Resource {
  const options = { mutateDocument: true, treatMissingAsAdd: true };
  return scimPatch(resource as unknown as ScimResource, [operation], options) as unknown as Resource;
}

/**
 * An operation on a whole extension (`path` is its schema URN), which scim-patch would read as attribute `User`
 * of a schema `…:2.0`: replace sets it, add merges into it, remove drops it.
 */
function wholeExtension(resource: Resource, operation: ScimPatchOperation): Resource | undefined {
  if (typeof operation.path !== 'string' || operation.path.toLowerCase() !== ENTERPRISE_SCHEMA.toLowerCase()) {
    return undefined;
  }
  const { [ENTERPRISE_SCHEMA]: current, ...rest } = resource;
  if (operation.op.toLowerCase() === 'remove') return rest;
  const value = (operation as { value?: unknown }).value;
  if (!isObject(value))
    throw new ScimError(400, `The value for ${ENTERPRISE_SCHEMA} must be an object.`, 'invalidValue');
  const merged = operation.op.toLowerCase() === 'add' && isObject(current) ? { ...current, ...value } : value;
  return { ...rest, [ENTERPRISE_SCHEMA]: merged };
}

function expand(operation: RawOperation): ScimPatchOperation[] {
  const op = typeof operation.op === 'string' ? operation.op.toLowerCase() : operation.op;
  const { path, value } = operation;
  if ((op === 'replace' || op === 'add') && path === undefined && isObject(value)) {
    // Plain keys stay one path-less operation (it merges complex values); qualified keys become paths.
    const entries = Object.entries(value);
    const qualified = entries.filter(([key]) => /[.:]/.test(key));
    const plain = entries.filter(([key]) => !/[.:]/.test(key));
    return [
      ...(plain.length > 0 ? [{ op, value: Object.fromEntries(plain) } as ScimPatchOperation] : []),
      ...qualified.map(([key, v]) => ({ op, path: key, value: v }) as ScimPatchOperation),
    ];
  }
  if (op === 'remove' && typeof path === 'string' && path.toLowerCase() === 'members' && Array.isArray(value)) {
    return value.map((m: unknown) => {
      const id = isObject(m) ? m.value : undefined;
      if (typeof id !== 'string' || id.includes('"')) {
        throw new ScimError(400, 'Each member to remove needs a "value".', 'invalidValue');
      }
      return { op: 'remove', path: `members[value eq "${id}"]` } as ScimPatchOperation;
    });
  }
  return [{ ...operation, op } as ScimPatchOperation];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
