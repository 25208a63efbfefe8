import type pg from 'pg';
import { lockName } from '../activities/transaction';
import type { Directory, Identity } from '../domain/model';
import { isReservedId, reservedIdMessage } from './ids';
import type {
  DesiredDirectory,
  DirectoryDiff,
  DirectorySource,
  GroupChange,
  GroupRecord,
  IdentityChange,
  IdentityRecord,
} from './records';

type Db = pg.Pool | pg.PoolClient;

export class ReservedIdentityError extends Error {
  override name = 'ReservedIdentityError';
}

/** Every write to the directory holds this lock, so versions are handed out in commit order. */
export const DIRECTORY_LOCK = 'grantflow:directory';

interface IdentityRow {
  id: string;
  source_ref: string;
  external_id: string | null;
  user_name: string;
  name: string;
  email: string | null;
  department: string | null;
  time_zone: string | null;
  manager_ref: string | null;
  kind: 'human' | 'service';
  owner_ref: string | null;
  active: boolean;
  delegation_to: string | null;
  delegation_until: Date | null;
  attributes: Record<string, unknown>;
  deleted: boolean;
  version: string;
  created_at: Date;
  updated_at: Date;
}

interface GroupRow {
  id: string;
  source_ref: string;
  external_id: string | null;
  display_name: string;
  version: string;
  created_at: Date;
  updated_at: Date;
  members: string[];
}

/** A stored identity: the record plus what the store keeps about it. */
export interface StoredIdentity extends IdentityRecord {
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface StoredGroup extends GroupRecord {
  version: number;
  createdAt: string;
  updatedAt: string;
}

export async function currentVersion(db: Db): Promise<number> {
  const { rows } = await db.query<{ v: string }>('SELECT coalesce(max(version), 0) AS v FROM directory_changes');
  return Number(rows[0]?.v ?? 0);
}

const IDENTITY_COLUMNS = `id, source_ref, external_id, user_name, name, email, department, manager_ref, kind, owner_ref,
  active, delegation_to, delegation_until, attributes, deleted, version, created_at, updated_at, time_zone`;

export async function listIdentities(db: Db, source: DirectorySource, opts: { deleted?: boolean } = {}) {
  const { rows } = await db.query<IdentityRow>(
    `SELECT ${IDENTITY_COLUMNS} FROM directory_identities WHERE source = $1 ${opts.deleted ? '' : 'AND NOT deleted'}
      ORDER BY created_at, id`,
    [source],
  );
  return rows.map(toIdentity);
}

export async function findIdentity(db: Db, source: DirectorySource, sourceRef: string) {
  const { rows } = await db.query<IdentityRow>(
    `SELECT ${IDENTITY_COLUMNS} FROM directory_identities WHERE source = $1 AND source_ref = $2 AND NOT deleted`,
    [source, sourceRef],
  );
  return rows[0] ? toIdentity(rows[0]) : undefined;
}

export async function listGroups(db: Db, source: DirectorySource): Promise<StoredGroup[]> {
  const { rows } = await db.query<GroupRow>(
    `SELECT g.id, g.source_ref, g.external_id, g.display_name, g.version, g.created_at, g.updated_at,
            coalesce(array_agg(m.identity_id ORDER BY m.identity_id) FILTER (WHERE m.identity_id IS NOT NULL), '{}')
              AS members
       FROM directory_groups g LEFT JOIN directory_memberships m ON m.group_id = g.id
      WHERE g.source = $1 AND NOT g.deleted
      GROUP BY g.id ORDER BY g.created_at, g.id`,
    [source],
  );
  return rows.map(toGroup);
}

export async function findGroup(db: Db, source: DirectorySource, sourceRef: string) {
  return (await listGroups(db, source)).find((g) => g.sourceRef === sourceRef);
}

/** The stored records of one source, as a pulled sync compares them with what the source now says. */
export async function loadSource(db: Db, source: DirectorySource): Promise<DesiredDirectory> {
  return { identities: await listIdentities(db, source), groups: await listGroups(db, source) };
}

/**
 * Writes a diff in the caller's transaction, one version per change. Deleted identities are kept (inactive, flagged)
 * so the grants and audit events that name them still resolve. Returns the versions written.
 */
export async function applyDiff(
  client: pg.PoolClient,
  source: DirectorySource,
  actor: string,
  diff: DirectoryDiff,
): Promise<number[]> {
  // The last line of defence whatever the source: an identity named `system` could act as grantflow itself.
  const reserved = diff.identities.find((c) => c.after && isReservedId(c.after.id));
  if (reserved) throw new ReservedIdentityError(reservedIdMessage(reserved.id));
  await lockName(client, DIRECTORY_LOCK);
  const versions: number[] = [];
  for (const change of diff.identities) versions.push(await writeIdentity(client, source, actor, change));
  for (const change of diff.groups) versions.push(await writeGroup(client, source, actor, change));
  return versions;
}

async function recordChange(
  client: pg.PoolClient,
  source: DirectorySource,
  actor: string,
  kind: 'identity' | 'group',
  change: { change: string; id: string; before?: unknown; after?: unknown },
): Promise<number> {
  const { rows } = await client.query<{ version: string }>(
    `INSERT INTO directory_changes (source, actor, subject_kind, subject_id, change, before, after)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb) RETURNING version`,
    [
      source,
      actor,
      kind,
      change.id,
      change.change,
      JSON.stringify(change.before ?? null),
      JSON.stringify(change.after ?? null),
    ],
  );
  return Number(rows[0]?.version);
}

async function writeIdentity(
  client: pg.PoolClient,
  source: DirectorySource,
  actor: string,
  change: IdentityChange,
): Promise<number> {
  const version = await recordChange(client, source, actor, 'identity', change);
  if (change.change === 'deleted') {
    await client.query(
      `UPDATE directory_identities SET deleted = true, active = false, version = $2, updated_at = now() WHERE id = $1`,
      [change.id, version],
    );
    return version;
  }
  const r = change.after;
  if (!r) throw new Error(`The ${change.change} change of identity ${change.id} carries no record.`);
  await client.query(
    `INSERT INTO directory_identities AS i (id, source, source_ref, external_id, user_name, name, email, department,
       manager_ref, kind, owner_ref, active, delegation_to, delegation_until, attributes, deleted, version, time_zone)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, false, $16, $17)
     ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, source_ref = EXCLUDED.source_ref,
       external_id = EXCLUDED.external_id, user_name = EXCLUDED.user_name, name = EXCLUDED.name,
       email = EXCLUDED.email, department = EXCLUDED.department, manager_ref = EXCLUDED.manager_ref,
       kind = EXCLUDED.kind, owner_ref = EXCLUDED.owner_ref, active = EXCLUDED.active,
       delegation_to = EXCLUDED.delegation_to, delegation_until = EXCLUDED.delegation_until,
       attributes = EXCLUDED.attributes, deleted = false, version = EXCLUDED.version, updated_at = now(),
       time_zone = EXCLUDED.time_zone`,
    [
      r.id,
      source,
      r.sourceRef,
      r.externalId ?? null,
      r.userName,
      r.name,
      r.email ?? null,
      r.department ?? null,
      r.managerRef ?? null,
      r.kind,
      r.ownerRef ?? null,
      r.active,
      r.delegation?.to ?? null,
      r.delegation?.until ?? null,
      JSON.stringify(r.attributes),
      version,
      r.timeZone ?? null,
    ],
  );
  return version;
}

async function writeGroup(
  client: pg.PoolClient,
  source: DirectorySource,
  actor: string,
  change: GroupChange,
): Promise<number> {
  const version = await recordChange(client, source, actor, 'group', change);
  if (change.change === 'deleted') {
    await client.query('UPDATE directory_groups SET deleted = true, version = $2, updated_at = now() WHERE id = $1', [
      change.id,
      version,
    ]);
    await client.query('DELETE FROM directory_memberships WHERE group_id = $1', [change.id]);
    return version;
  }
  const g = change.after;
  if (!g) throw new Error(`The ${change.change} change of group ${change.id} carries no record.`);
  await client.query(
    `INSERT INTO directory_groups (id, source, source_ref, external_id, display_name, deleted, version)
     VALUES ($1, $2, $3, $4, $5, false, $6)
     ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, source_ref = EXCLUDED.source_ref,
       external_id = EXCLUDED.external_id, display_name = EXCLUDED.display_name, deleted = false,
       version = EXCLUDED.version, updated_at = now()`,
    [g.id, source, g.sourceRef, g.externalId ?? null, g.displayName, version],
  );
  await client.query('DELETE FROM directory_memberships WHERE group_id = $1', [g.id]);
  // Members the directory does not know (yet) are left out rather than failing the whole write.
  await client.query(
    `INSERT INTO directory_memberships (group_id, identity_id)
     SELECT $1, i.id FROM directory_identities i WHERE i.id = ANY($2::text[]) ON CONFLICT DO NOTHING`,
    [g.id, g.members],
  );
  return version;
}

/**
 * The directory of one source as the policy reads it: references resolved to ids, deleted identities kept as
 * inactive (a leaver's requests must still find them), groups from the memberships of live groups.
 */
export async function loadDirectory(db: Db, source: DirectorySource): Promise<Directory> {
  const identities = await listIdentities(db, source, { deleted: true });
  const { rows } = await db.query<{ identity_id: string; group_id: string }>(
    `SELECT m.identity_id, m.group_id FROM directory_memberships m JOIN directory_groups g ON g.id = m.group_id
      WHERE g.source = $1 AND NOT g.deleted ORDER BY m.group_id`,
    [source],
  );
  const groupsOf = new Map<string, string[]>();
  for (const row of rows) groupsOf.set(row.identity_id, [...(groupsOf.get(row.identity_id) ?? []), row.group_id]);
  const byRef = new Map(identities.map((i) => [i.sourceRef, i.id]));
  const users = identities.map((r): Identity => {
    const manager = r.managerRef === undefined ? undefined : byRef.get(r.managerRef);
    const owner = r.ownerRef === undefined ? undefined : byRef.get(r.ownerRef);
    return {
      id: r.id,
      name: r.name,
      ...(r.email !== undefined && { email: r.email }),
      ...(r.department !== undefined && { department: r.department }),
      ...(r.timeZone !== undefined && { timeZone: r.timeZone }),
      // A manager the source names but does not (yet) hold, or the identity itself, is no manager.
      ...(manager !== undefined && manager !== r.id && { manager }),
      groups: groupsOf.get(r.id) ?? [],
      active: r.active,
      kind: r.kind,
      ...(owner !== undefined && owner !== r.id && { owner }),
      ...(r.delegation && { delegation: r.delegation }),
    };
  });
  return { users };
}

function toIdentity(row: IdentityRow): StoredIdentity {
  return {
    id: row.id,
    sourceRef: row.source_ref,
    ...(row.external_id !== null && { externalId: row.external_id }),
    userName: row.user_name,
    name: row.name,
    ...(row.email !== null && { email: row.email }),
    ...(row.department !== null && { department: row.department }),
    ...(row.time_zone !== null && { timeZone: row.time_zone }),
    ...(row.manager_ref !== null && { managerRef: row.manager_ref }),
    kind: row.kind,
    ...(row.owner_ref !== null && { ownerRef: row.owner_ref }),
    active: row.active && !row.deleted,
    ...(row.delegation_to !== null &&
      row.delegation_until !== null && {
        delegation: { to: row.delegation_to, until: row.delegation_until.toISOString() },
      }),
    attributes: row.attributes,
    version: Number(row.version),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function toGroup(row: GroupRow): StoredGroup {
  return {
    id: row.id,
    sourceRef: row.source_ref,
    ...(row.external_id !== null && { externalId: row.external_id }),
    displayName: row.display_name,
    members: row.members,
    version: Number(row.version),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
