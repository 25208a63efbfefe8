import type { Identity } from '../domain/model';

/** Where identities come from; exactly one source is in force at a time (GRANTFLOW_DIRECTORY_SOURCE). */
export const DIRECTORY_SOURCES = ['yaml', 'scim', 'ldap'] as const;
export type DirectorySource = (typeof DIRECTORY_SOURCES)[number];

/**
 * An identity as a source reports it. References to other identities (`managerRef`, `ownerRef`) use the source's
 * own handle (`sourceRef`: the id for YAML, the SCIM resource id, the LDAP DN), so they survive a rename.
 */
export interface IdentityRecord {
  id: string;
  sourceRef: string;
  externalId?: string;
  userName: string;
  name: string;
  email?: string;
  department?: string;
  /** IANA time zone (SCIM `timezone`, an LDAP attribute, YAML `timeZone`): the person's working day. */
  timeZone?: string;
  managerRef?: string;
  kind: 'human' | 'service';
  ownerRef?: string;
  active: boolean;
  delegation?: { to: string; until: string };
  /** The resource as the source sent it, for faithful reads (SCIM). */
  attributes: Record<string, unknown>;
}

export interface GroupRecord {
  id: string;
  sourceRef: string;
  externalId?: string;
  displayName: string;
  /** Identity ids. */
  members: string[];
}

/** What a pulled source (YAML, LDAP) says the whole directory is. */
export interface DesiredDirectory {
  identities: IdentityRecord[];
  groups: GroupRecord[];
}

export type ChangeKind = 'created' | 'updated' | 'deactivated' | 'reactivated' | 'deleted';

export interface IdentityChange {
  change: ChangeKind;
  id: string;
  before?: IdentityRecord;
  after?: IdentityRecord;
  /** The fields that differ, for the dry-run view. */
  fields: string[];
}

export interface GroupChange {
  change: Exclude<ChangeKind, 'deactivated' | 'reactivated'>;
  id: string;
  before?: GroupRecord;
  after?: GroupRecord;
  fields: string[];
}

export interface DirectoryDiff {
  identities: IdentityChange[];
  groups: GroupChange[];
  /** Active identities that this diff would deactivate or delete: what the mass-deactivation guard counts. */
  deactivations: string[];
}

/** A domain identity as the directory snapshot hands it to the policy: references resolved to ids. */
export type SnapshotIdentity = Identity;
