import { ScimError } from './errors';

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * The grantflow id for a SCIM userName or group displayName, derived once at creation (a later rename keeps it,
 * so grants and audit events keep naming the same identity): lower case, other characters as `-`.
 */
export function grantflowId(name: string, what: string): string {
  const id = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64);
  if (!ID.test(id)) {
    throw new ScimError(400, `The ${what} "${name}" has no letter or digit to make an id from.`, 'invalidValue');
  }
  return id;
}
