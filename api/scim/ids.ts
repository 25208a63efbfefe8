import { toGrantflowId } from '../../directory/ids';
import { ScimError } from './errors';

/**
 * The grantflow id for a SCIM userName or group displayName, derived once at creation (a later rename keeps it,
 * so grants and audit events keep naming the same identity).
 */
export function grantflowId(name: string, what: string): string {
  const id = toGrantflowId(name);
  if (!id) throw new ScimError(400, `The ${what} "${name}" has no letter or digit to make an id from.`, 'invalidValue');
  return id;
}
