import { z } from 'zod';
import { timeZoneSchema } from '../../domain/model';
import type { GroupRecord, IdentityRecord } from '../../directory/records';
import type { StoredGroup, StoredIdentity } from '../../directory/store';
import { ScimError } from './errors';
import { isReservedId, reservedIdMessage } from '../../directory/ids';
import { grantflowId } from './ids';
import {
  ENTERPRISE_SCHEMA,
  GROUP_SCHEMA,
  USER_SCHEMA,
  enterpriseAttributes,
  groupAttributes,
  userAttributes,
} from './schema';
import { normalizeAttributes } from './validate';

/** A SCIM resource as JSON. */
export type Resource = Record<string, unknown>;

const email = z.email();

/** The parts of a user body the store keeps: the normalised attributes and what grantflow reads from them. */
export interface UserInput {
  attributes: Resource;
  userName: string;
  externalId?: string;
  active?: boolean;
}

function checkSchemas(body: Resource, core: string, allowed: string[]): void {
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => s === core)) {
    throw new ScimError(400, `"schemas" must list ${core}.`, 'invalidSyntax');
  }
  const unknown = schemas.find((s) => typeof s !== 'string' || !allowed.includes(s));
  if (unknown !== undefined) throw new ScimError(400, `Unknown schema ${JSON.stringify(unknown)}.`, 'invalidSyntax');
}

/** Splits a User body into what is stored; refuses unknown attributes and schemas. */
export function parseUser(body: unknown): UserInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ScimError(400, 'The body must be a JSON object.', 'invalidSyntax');
  }
  const resource = body as Resource;
  checkSchemas(resource, USER_SCHEMA, [USER_SCHEMA, ENTERPRISE_SCHEMA]);
  const { schemas: _schemas, id: _id, meta: _meta, externalId, [ENTERPRISE_SCHEMA]: enterprise, ...core } = resource;
  if (externalId !== undefined && externalId !== null && typeof externalId !== 'string') {
    throw new ScimError(400, '"externalId" must be a string.', 'invalidValue');
  }
  const attributes = normalizeAttributes(userAttributes, core);
  if (enterprise !== undefined && enterprise !== null) {
    if (typeof enterprise !== 'object' || Array.isArray(enterprise)) {
      throw new ScimError(400, `"${ENTERPRISE_SCHEMA}" must be an object.`, 'invalidValue');
    }
    // Some clients repeat `schemas` inside the extension object; it says nothing the outer one does not.
    const { schemas: _inner, ...extension } = enterprise as Resource;
    attributes[ENTERPRISE_SCHEMA] = normalizeAttributes(enterpriseAttributes, extension, ENTERPRISE_SCHEMA);
  }
  const userName = attributes.userName;
  if (typeof userName !== 'string' || userName.trim() === '') {
    throw new ScimError(400, '"userName" is required.', 'invalidValue');
  }
  // `active` stays in the attributes as sent: absent is not false (Okta's PUT omits it; a PATCH may remove it).
  const active = attributes.active as boolean | undefined;
  return { attributes, userName, ...(typeof externalId === 'string' && { externalId }), active };
}

/** What grantflow reads from a user: name, email, department and manager (by SCIM id). */
export function userRecord(scimId: string, input: UserInput, opts: { id?: string; active: boolean }): IdentityRecord {
  const a = input.attributes;
  const name = (a.name ?? {}) as Record<string, string | undefined>;
  const enterprise = (a[ENTERPRISE_SCHEMA] ?? {}) as { department?: string; manager?: { value?: string } };
  const emails = (a.emails ?? []) as { value?: string; type?: string; primary?: boolean }[];
  const chosen = emails.find((e) => e.primary) ?? emails.find((e) => e.type === 'work') ?? emails[0];
  const display =
    (a.displayName as string | undefined) ??
    name.formatted ??
    ([name.givenName, name.familyName].filter(Boolean).join(' ') || input.userName);
  const department = enterprise.department?.trim();
  if (department && department.length > 100) {
    throw new ScimError(400, 'The department is longer than 100 characters.', 'invalidValue');
  }
  // RFC 7643 §4.1.1 `timezone`: an IANA zone ("America/Los_Angeles"). One the platform does not know stays in the
  // resource as sent but gives no zone (the policy calendar's applies): refusing it would stop the person's whole
  // provisioning over a field that only places reminders, and identity providers do send free text here.
  const zone = typeof a.timezone === 'string' ? a.timezone.trim() : undefined;
  const timeZone = zone && timeZoneSchema.safeParse(zone).success ? zone : undefined;
  const id = opts.id ?? grantflowId(input.userName, 'userName');
  if (isReservedId(id))
    throw new ScimError(400, `userName "${input.userName}": ${reservedIdMessage(id)}`, 'invalidValue');
  return {
    id,
    sourceRef: scimId,
    ...(input.externalId !== undefined && { externalId: input.externalId }),
    userName: input.userName,
    name: display.slice(0, 200),
    ...(chosen?.value && email.safeParse(chosen.value).success && { email: chosen.value }),
    ...(department && { department }),
    ...(timeZone && { timeZone }),
    ...(enterprise.manager?.value && { managerRef: enterprise.manager.value }),
    kind: 'human',
    active: opts.active,
    attributes: a,
  };
}

export interface Membership {
  value: string;
  display: string;
}

export function userResource(identity: StoredIdentity, groups: Membership[], baseUrl: string): Resource {
  const attributes = identity.attributes;
  return {
    schemas: [USER_SCHEMA, ...(attributes[ENTERPRISE_SCHEMA] ? [ENTERPRISE_SCHEMA] : [])],
    id: identity.sourceRef,
    ...(identity.externalId !== undefined && { externalId: identity.externalId }),
    ...attributes,
    ...('active' in attributes && { active: identity.active }),
    ...(groups.length > 0 && {
      groups: groups.map((g) => ({ ...g, $ref: `${baseUrl}/Groups/${g.value}`, type: 'direct' })),
    }),
    meta: meta('User', identity, `${baseUrl}/Users/${identity.sourceRef}`),
  };
}

export interface GroupInput {
  displayName: string;
  externalId?: string;
  /** SCIM ids of the member users. */
  memberRefs: string[];
}

export function parseGroup(body: unknown): GroupInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ScimError(400, 'The body must be a JSON object.', 'invalidSyntax');
  }
  const resource = body as Resource;
  checkSchemas(resource, GROUP_SCHEMA, [GROUP_SCHEMA]);
  const { schemas: _schemas, id: _id, meta: _meta, externalId, ...core } = resource;
  if (externalId !== undefined && externalId !== null && typeof externalId !== 'string') {
    throw new ScimError(400, '"externalId" must be a string.', 'invalidValue');
  }
  const attributes = normalizeAttributes(groupAttributes, core);
  const displayName = attributes.displayName;
  if (typeof displayName !== 'string' || displayName.trim() === '') {
    throw new ScimError(400, '"displayName" is required.', 'invalidValue');
  }
  const members = (attributes.members ?? []) as { value?: string; type?: string }[];
  for (const m of members) {
    if (m.type !== undefined && m.type !== 'User') {
      throw new ScimError(400, 'Only users can be members; nested groups are not supported.', 'invalidValue');
    }
    if (!m.value) throw new ScimError(400, 'Each member needs a "value" (the SCIM id of a user).', 'invalidValue');
  }
  return {
    displayName,
    ...(typeof externalId === 'string' && { externalId }),
    memberRefs: [...new Set(members.map((m) => m.value as string))],
  };
}

export function groupRecord(scimId: string, input: GroupInput, memberIds: string[], id?: string): GroupRecord {
  return {
    id: id ?? grantflowId(input.displayName, 'displayName'),
    sourceRef: scimId,
    ...(input.externalId !== undefined && { externalId: input.externalId }),
    displayName: input.displayName,
    members: memberIds,
  };
}

export function groupResource(
  group: StoredGroup,
  members: Membership[],
  baseUrl: string,
  opts: { members: boolean },
): Resource {
  return {
    schemas: [GROUP_SCHEMA],
    id: group.sourceRef,
    ...(group.externalId !== undefined && { externalId: group.externalId }),
    displayName: group.displayName,
    ...(opts.members &&
      members.length > 0 && {
        // No `display`: it would be a value the provider never wrote, and read back as a changed member.
        members: members.map((m) => ({ value: m.value, $ref: `${baseUrl}/Users/${m.value}`, type: 'User' })),
      }),
    meta: meta('Group', group, `${baseUrl}/Groups/${group.sourceRef}`),
  };
}

function meta(
  resourceType: string,
  stored: { version: number; createdAt: string; updatedAt: string },
  location: string,
) {
  return {
    resourceType,
    created: stored.createdAt,
    lastModified: stored.updatedAt,
    location,
    version: `W/"${stored.version}"`,
  };
}
