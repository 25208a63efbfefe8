import { RESERVED_ACTOR_IDS } from '../domain/model';

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * The grantflow id for a name a source gives (a SCIM userName, an LDAP uid, a group's name): lower case, other
 * characters as `-`. Undefined when nothing usable is left.
 */
export function toGrantflowId(name: string): string | undefined {
  const id = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64);
  return ID.test(id) ? id : undefined;
}

/** Ids no identity may take: grantflow's own actor (`system`) and the placeholder for nobody (`unknown`). */
export function isReservedId(id: string): boolean {
  return RESERVED_ACTOR_IDS.includes(id);
}

export function reservedIdMessage(id: string): string {
  return `The id "${id}" is reserved for grantflow's own actions (${RESERVED_ACTOR_IDS.join(', ')}); no identity may use it.`;
}
