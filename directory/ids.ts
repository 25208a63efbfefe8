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
