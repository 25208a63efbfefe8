import { canonicalJson } from '../activities/audit';
import type { DesiredDirectory, DirectoryDiff, GroupChange, GroupRecord, IdentityChange } from './records';

const IDENTITY_FIELDS = [
  'sourceRef',
  'externalId',
  'userName',
  'name',
  'email',
  'department',
  'timeZone',
  'managerRef',
  'kind',
  'ownerRef',
  'active',
  'delegation',
  'attributes',
] as const;

/**
 * What must change so that `current` (the stored records of one source, deleted ones left out) becomes `desired`.
 * Pure: a dry run shows exactly this, and applying it is the same diff written down.
 */
export function diffDirectory(current: DesiredDirectory, desired: DesiredDirectory): DirectoryDiff {
  const identities: IdentityChange[] = [];
  const deactivations: string[] = [];
  const before = new Map(current.identities.map((i) => [i.id, i]));
  const after = new Map(desired.identities.map((i) => [i.id, i]));

  for (const next of desired.identities) {
    const prev = before.get(next.id);
    if (!prev) {
      identities.push({ change: 'created', id: next.id, after: next, fields: [] });
      continue;
    }
    const fields = IDENTITY_FIELDS.filter((f) => !same(prev[f], next[f]));
    if (fields.length === 0) continue;
    const change =
      prev.active && !next.active ? 'deactivated' : !prev.active && next.active ? 'reactivated' : 'updated';
    if (change === 'deactivated') deactivations.push(next.id);
    identities.push({ change, id: next.id, before: prev, after: next, fields });
  }
  for (const prev of current.identities) {
    if (after.has(prev.id)) continue;
    identities.push({ change: 'deleted', id: prev.id, before: prev, fields: [] });
    if (prev.active) deactivations.push(prev.id);
  }

  const groups: GroupChange[] = [];
  const groupsBefore = new Map(current.groups.map((g) => [g.id, g]));
  const groupsAfter = new Map(desired.groups.map((g) => [g.id, g]));
  for (const next of desired.groups) {
    const prev = groupsBefore.get(next.id);
    if (!prev) {
      groups.push({ change: 'created', id: next.id, after: next, fields: [] });
      continue;
    }
    const fields = (['sourceRef', 'externalId', 'displayName'] as const).filter((f) => !same(prev[f], next[f]));
    if (!same(sortedMembers(prev), sortedMembers(next))) fields.push('members' as never);
    if (fields.length > 0) groups.push({ change: 'updated', id: next.id, before: prev, after: next, fields });
  }
  for (const prev of current.groups) {
    if (!groupsAfter.has(prev.id)) groups.push({ change: 'deleted', id: prev.id, before: prev, fields: [] });
  }
  return { identities, groups, deactivations };
}

/** True when the diff changes nothing. */
export function isEmptyDiff(diff: DirectoryDiff): boolean {
  return diff.identities.length === 0 && diff.groups.length === 0;
}

export interface DeactivationGuard {
  /** Stop when more than this share of the active identities would be deactivated (default 10). */
  percent: number;
  /** Stop when more than this many would be (default 25). */
  count: number;
}

export const DEFAULT_GUARD: DeactivationGuard = { percent: 10, count: 25 };

/**
 * How many deactivations a sync may apply without a security confirmation: the smaller of the two limits, and never
 * less than one, so a single leaver in a small organisation still goes through on its own.
 */
export function deactivationLimit(activeCount: number, guard: DeactivationGuard = DEFAULT_GUARD): number {
  return Math.min(guard.count, Math.max(1, Math.floor((activeCount * guard.percent) / 100)));
}

function sortedMembers(group: GroupRecord): string[] {
  return [...group.members].sort();
}

// Key order is not content: PostgreSQL's jsonb hands keys back in its own order.
function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}
