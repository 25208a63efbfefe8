import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { inTransaction, lockName } from '../../activities/transaction';
import { auditDirectoryChanges } from '../../directory/audit';
import { diffDirectory, isEmptyDiff } from '../../directory/diff';
import type { GroupRecord, IdentityRecord } from '../../directory/records';
import {
  applyDiff,
  DIRECTORY_LOCK,
  findGroup,
  findIdentity,
  listGroups,
  listIdentities,
  type StoredGroup,
  type StoredIdentity,
} from '../../directory/store';
import { ScimError } from './errors';
import type { Membership } from './resources';

const SOURCE = 'scim';

/** Reads and writes of SCIM resources; each write is one transaction under the directory lock, one version. */
export function createScimStore(pool: pg.Pool, afterChange?: () => Promise<void>) {
  // Each write is audited once it committed: the versions it wrote become events in the hash chain.
  const write = async (fn: (client: pg.PoolClient, versions: number[]) => Promise<void>) => {
    const versions: number[] = [];
    await inTransaction(pool, async (client) => {
      await lockName(client, DIRECTORY_LOCK);
      await fn(client, versions);
    });
    await auditDirectoryChanges(pool, versions);
    // A leaver's offboarding starts now rather than at the worker's next sweep.
    if (versions.length > 0) await afterChange?.();
  };

  async function groupsOfUsers(db: pg.Pool | pg.PoolClient): Promise<Map<string, Membership[]>> {
    const { rows } = await db.query<{ identity_id: string; value: string; display: string }>(
      `SELECT m.identity_id, g.source_ref AS value, g.display_name AS display
         FROM directory_memberships m JOIN directory_groups g ON g.id = m.group_id
        WHERE g.source = $1 AND NOT g.deleted ORDER BY g.display_name`,
      [SOURCE],
    );
    const map = new Map<string, Membership[]>();
    for (const r of rows)
      map.set(r.identity_id, [...(map.get(r.identity_id) ?? []), { value: r.value, display: r.display }]);
    return map;
  }

  async function membersOf(db: pg.Pool | pg.PoolClient, group: StoredGroup): Promise<Membership[]> {
    if (group.members.length === 0) return [];
    const { rows } = await db.query<Membership>(
      `SELECT source_ref AS value, name AS display FROM directory_identities
        WHERE id = ANY($1::text[]) AND source = $2 AND NOT deleted ORDER BY name`,
      [group.members, SOURCE],
    );
    return rows;
  }

  /** Identity ids for the SCIM ids of users; an unknown one is refused. */
  async function resolveMembers(client: pg.PoolClient, refs: string[]): Promise<string[]> {
    if (refs.length === 0) return [];
    const { rows } = await client.query<{ id: string; source_ref: string }>(
      `SELECT id, source_ref FROM directory_identities WHERE source = $1 AND source_ref = ANY($2::text[]) AND NOT deleted`,
      [SOURCE, refs],
    );
    const known = new Map(rows.map((r) => [r.source_ref, r.id]));
    const missing = refs.find((r) => !known.has(r));
    if (missing !== undefined) throw new ScimError(400, `No user has the id "${missing}".`, 'invalidValue');
    return refs.map((r) => known.get(r) as string);
  }

  async function checkUserName(client: pg.PoolClient, userName: string, self?: string) {
    const { rows } = await client.query<{ source_ref: string }>(
      `SELECT source_ref FROM directory_identities WHERE source = $1 AND lower(user_name) = lower($2) AND NOT deleted`,
      [SOURCE, userName],
    );
    if (rows.some((r) => r.source_ref !== self)) {
      throw new ScimError(409, `A user with userName "${userName}" exists already.`, 'uniqueness');
    }
  }

  async function checkId(client: pg.PoolClient, table: 'identities' | 'groups', id: string, self?: string) {
    const { rows } = await client.query<{ source: string; source_ref: string; deleted: boolean }>(
      `SELECT source, source_ref, deleted FROM directory_${table} WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    if (row && !row.deleted && row.source === SOURCE && row.source_ref !== self) {
      const what = table === 'identities' ? 'user' : 'group';
      throw new ScimError(409, `Another ${what} already has the grantflow id "${id}".`, 'uniqueness');
    }
  }

  return {
    groupsOfUsers: () => groupsOfUsers(pool),
    membersOf: (group: StoredGroup) => membersOf(pool, group),

    async listUsers(equality?: { attribute: string; value: string }): Promise<StoredIdentity[]> {
      const users = await listIdentities(pool, SOURCE);
      if (!equality) return users;
      // The filter is applied in full afterwards; this only narrows what is read for the common lookups.
      const { attribute, value } = equality;
      if (attribute === 'username') return users.filter((u) => u.userName.toLowerCase() === value.toLowerCase());
      if (attribute === 'externalid') return users.filter((u) => u.externalId === value);
      if (attribute === 'id') return users.filter((u) => u.sourceRef === value);
      return users;
    },
    getUser: (scimId: string) => findIdentity(pool, SOURCE, scimId),
    listGroups: () => listGroups(pool, SOURCE),
    getGroup: (scimId: string) => findGroup(pool, SOURCE, scimId),

    /** Creates or replaces a user; `build` makes the record once the current one is read under the lock. */
    async putUser(
      actor: string,
      scimId: string | undefined,
      build: (id: string, before: StoredIdentity | undefined) => IdentityRecord,
    ): Promise<StoredIdentity> {
      const ref = scimId ?? randomUUID();
      await write(async (client, versions) => {
        const before = scimId ? await findIdentity(client, SOURCE, scimId) : undefined;
        if (scimId && !before) throw new ScimError(404, `No user has the id "${scimId}".`);
        const record = build(ref, before);
        await checkUserName(client, record.userName, ref);
        if (!before) await checkId(client, 'identities', record.id);
        const diff = diffDirectory(
          { identities: before ? [before] : [], groups: [] },
          { identities: [record], groups: [] },
        );
        if (!isEmptyDiff(diff)) versions.push(...(await applyDiff(client, SOURCE, actor, diff)));
      });
      return (await findIdentity(pool, SOURCE, ref)) as StoredIdentity;
    },

    async deleteUser(actor: string, scimId: string): Promise<void> {
      await write(async (client, versions) => {
        const before = await findIdentity(client, SOURCE, scimId);
        if (!before) throw new ScimError(404, `No user has the id "${scimId}".`);
        const diff = diffDirectory({ identities: [before], groups: [] }, { identities: [], groups: [] });
        versions.push(...(await applyDiff(client, SOURCE, actor, diff)));
      });
    },

    async putGroup(
      actor: string,
      scimId: string | undefined,
      build: (id: string, before: StoredGroup | undefined, members: string[]) => GroupRecord,
      memberRefs: (before: StoredGroup | undefined) => string[] | Promise<string[]>,
    ): Promise<StoredGroup> {
      const ref = scimId ?? randomUUID();
      await write(async (client, versions) => {
        const before = scimId ? await findGroup(client, SOURCE, scimId) : undefined;
        if (scimId && !before) throw new ScimError(404, `No group has the id "${scimId}".`);
        const members = await resolveMembers(client, await memberRefs(before));
        const record = build(ref, before, members);
        if (!before) await checkId(client, 'groups', record.id);
        const diff = diffDirectory(
          { identities: [], groups: before ? [before] : [] },
          { identities: [], groups: [record] },
        );
        if (!isEmptyDiff(diff)) versions.push(...(await applyDiff(client, SOURCE, actor, diff)));
      });
      return (await findGroup(pool, SOURCE, ref)) as StoredGroup;
    },

    async deleteGroup(actor: string, scimId: string): Promise<void> {
      await write(async (client, versions) => {
        const before = await findGroup(client, SOURCE, scimId);
        if (!before) throw new ScimError(404, `No group has the id "${scimId}".`);
        const diff = diffDirectory({ identities: [], groups: [before] }, { identities: [], groups: [] });
        versions.push(...(await applyDiff(client, SOURCE, actor, diff)));
      });
    },
  };
}

export type ScimStore = ReturnType<typeof createScimStore>;
