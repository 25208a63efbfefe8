import type pg from 'pg';
import { inTransaction, lockName } from '../activities/transaction';
import type { Directory } from '../domain/model';
import { diffDirectory, isEmptyDiff } from './diff';
import type { DesiredDirectory, DirectoryDiff, GroupRecord, IdentityRecord } from './records';
import { auditDirectoryChanges } from './audit';
import { applyDiff, DIRECTORY_LOCK, loadSource } from './store';

/** The YAML directory as records: ids are their own references, groups are gathered from the users' lists. */
export function yamlToRecords(directory: Directory): DesiredDirectory {
  const identities = directory.users.map((u): IdentityRecord => ({
    id: u.id,
    sourceRef: u.id,
    userName: u.id,
    name: u.name,
    ...(u.email !== undefined && { email: u.email }),
    ...(u.department !== undefined && { department: u.department }),
    ...(u.timeZone !== undefined && { timeZone: u.timeZone }),
    ...(u.manager !== undefined && { managerRef: u.manager }),
    kind: u.kind,
    ...(u.owner !== undefined && { ownerRef: u.owner }),
    active: u.active,
    // Stored as UTC, so the same instant written with another offset is no change.
    ...(u.delegation && { delegation: { to: u.delegation.to, until: new Date(u.delegation.until).toISOString() } }),
    attributes: {},
  }));
  const members = new Map<string, string[]>();
  for (const u of directory.users) for (const g of u.groups) members.set(g, [...(members.get(g) ?? []), u.id]);
  const groups = [...members].map(([id, ids]): GroupRecord => ({ id, sourceRef: id, displayName: id, members: ids }));
  return { identities, groups };
}

/**
 * Brings PostgreSQL in line with the YAML file at start-up, as a sync would: a user removed or set `active: false`
 * is a leaver, a changed manager a mover. The file is the operator's own edit, so no deactivation guard applies.
 * Safe to run from the API and the worker at once: the diff is taken under the directory lock.
 */
export async function syncYamlDirectory(pool: pg.Pool, directory: Directory): Promise<DirectoryDiff> {
  const versions: number[] = [];
  const diff = await inTransaction(pool, async (client) => {
    await lockName(client, DIRECTORY_LOCK);
    const d = diffDirectory(await loadSource(client, 'yaml'), yamlToRecords(directory));
    if (!isEmptyDiff(d)) versions.push(...(await applyDiff(client, 'yaml', 'directory.yaml', d)));
    return d;
  });
  await auditDirectoryChanges(pool, versions);
  return diff;
}
