import { Client, type Entry } from 'ldapts';
import { z } from 'zod';
import { timeZoneSchema } from '../domain/model';
import { isReservedId, reservedIdMessage, toGrantflowId } from './ids';
import type { DesiredDirectory, GroupRecord, IdentityRecord } from './records';

/** Where to read and how to map: `ldap.yaml` beside the catalog, with `${VAR}` for the password. */
export const ldapSettingsSchema = z
  .object({
    url: z.string().regex(/^ldaps?:\/\/[^\s]+$/, 'must be an ldap:// or ldaps:// URL'),
    bindDn: z.string().min(1),
    password: z.string().min(1),
    users: z.object({ base: z.string().min(1), filter: z.string().default('(objectClass=inetOrgPerson)') }).strict(),
    groups: z.object({ base: z.string().min(1), filter: z.string().default('(objectClass=groupOfNames)') }).strict(),
    /** LDAP attribute names for each identity field. */
    attributes: z
      .object({
        id: z.string().default('uid'),
        name: z.string().default('cn'),
        email: z.string().default('mail'),
        department: z.string().default('departmentNumber'),
        manager: z.string().default('manager'),
        groupName: z.string().default('cn'),
        member: z.string().default('member'),
        memberOf: z.string().default('memberOf'),
        /** The attribute holding an IANA time zone (no standard one exists; e.g. an AD extension attribute). */
        timeZone: z.string().optional(),
      })
      .strict()
      .default({
        id: 'uid',
        name: 'cn',
        email: 'mail',
        department: 'departmentNumber',
        manager: 'manager',
        groupName: 'cn',
        member: 'member',
        memberOf: 'memberOf',
      }),
    pageSize: z.number().int().min(1).max(5000).default(500),
    timeoutMs: z.number().int().min(100).default(10_000),
  })
  .strict();
export type LdapSettings = z.infer<typeof ldapSettingsSchema>;

/** Active Directory's userAccountControl bit for a disabled account. */
const ACCOUNTDISABLE = 0x2;
/** accountExpires is in 100 ns steps since 1601-01-01; 0 and 2^63-1 mean never. */
const FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000n;
const NEVER = 9_223_372_036_854_775_807n;

export interface LdapRead {
  directory: DesiredDirectory;
  /** How many pages the two searches took: a sync that read one page of a large directory is visible. */
  pages: number;
  /** Entries that could not be mapped (no id): left out, and reported. */
  skipped: string[];
}

/** A canonical DN (lower case, no spaces around separators), so references match however a server spells them. */
export function canonicalDn(dn: string): string {
  return dn
    .split(',')
    .map((rdn) => rdn.trim().replace(/\s*=\s*/, '='))
    .join(',')
    .toLowerCase();
}

function values(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const raw = key === undefined ? [] : entry[key];
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}

const first = (entry: Entry, attribute: string) => values(entry, attribute)[0];

/** Whether the account is usable now: not disabled (AD bit) and not past accountExpires. */
export function accountActive(entry: Entry, now: Date): boolean {
  const control = first(entry, 'userAccountControl');
  if (control !== undefined && (Number(control) & ACCOUNTDISABLE) !== 0) return false;
  const expires = first(entry, 'accountExpires');
  if (expires !== undefined && /^\d+$/.test(expires)) {
    const ticks = BigInt(expires);
    if (ticks !== 0n && ticks !== NEVER) {
      const ms = ticks / 10_000n - FILETIME_EPOCH_OFFSET_MS;
      if (ms <= BigInt(now.getTime())) return false;
    }
  }
  return true;
}

/** Maps user and group entries to records; pure, so the mapping is tested without a server. */
export function mapEntries(
  users: Entry[],
  groups: Entry[],
  settings: LdapSettings,
  now: Date,
): { directory: DesiredDirectory; skipped: string[] } {
  const a = settings.attributes;
  const skipped: string[] = [];
  const identities: IdentityRecord[] = [];
  const idByDn = new Map<string, string>();
  for (const entry of users) {
    const raw = first(entry, a.id);
    const id = raw === undefined ? undefined : toGrantflowId(raw);
    if (!id || idByDn.has(canonicalDn(entry.dn)) || identities.some((i) => i.id === id)) {
      skipped.push(entry.dn);
      continue;
    }
    if (isReservedId(id)) {
      skipped.push(`${entry.dn}: ${reservedIdMessage(id)}`);
      continue;
    }
    const dn = canonicalDn(entry.dn);
    idByDn.set(dn, id);
    const email = first(entry, a.email);
    const department = first(entry, a.department);
    const manager = first(entry, a.manager);
    // A zone the platform does not know is left out (the policy calendar's zone applies), not a reason to skip.
    const timeZone = a.timeZone === undefined ? undefined : first(entry, a.timeZone)?.trim();
    identities.push({
      id,
      sourceRef: dn,
      userName: raw as string,
      name: (first(entry, a.name) ?? raw ?? id).slice(0, 200),
      ...(email && z.email().safeParse(email).success && { email }),
      ...(department && { department: department.slice(0, 100) }),
      ...(timeZone && timeZoneSchema.safeParse(timeZone).success && { timeZone }),
      ...(manager && { managerRef: canonicalDn(manager) }),
      kind: 'human',
      active: accountActive(entry, now),
      attributes: {},
    });
  }

  const members = new Map<string, Set<string>>();
  const groupRecords: GroupRecord[] = [];
  const groupIdByDn = new Map<string, string>();
  for (const entry of groups) {
    const name = first(entry, a.groupName);
    const id = name === undefined ? undefined : toGrantflowId(name);
    if (!id || groupRecords.some((g) => g.id === id)) {
      skipped.push(entry.dn);
      continue;
    }
    const dn = canonicalDn(entry.dn);
    groupIdByDn.set(dn, id);
    const ids = new Set(
      values(entry, a.member)
        .map((m) => idByDn.get(canonicalDn(m)))
        .filter((m): m is string => m !== undefined),
    );
    members.set(id, ids);
    groupRecords.push({ id, sourceRef: dn, displayName: name as string, members: [] });
  }
  // Active Directory lists groups on the user too (memberOf): either side is enough.
  for (const entry of users) {
    const id = idByDn.get(canonicalDn(entry.dn));
    if (!id) continue;
    for (const g of values(entry, a.memberOf)) members.get(groupIdByDn.get(canonicalDn(g)) ?? '')?.add(id);
  }
  for (const g of groupRecords) g.members = [...(members.get(g.id) ?? [])].sort();
  return { directory: { identities, groups: groupRecords }, skipped };
}

/**
 * Reads the whole directory with paged searches. Any error — bind, a page that fails, a size or time limit — throws,
 * so a partial read can never be taken for the directory.
 */
export async function readLdapDirectory(settings: LdapSettings, now = new Date()): Promise<LdapRead> {
  const client = new Client({ url: settings.url, timeout: settings.timeoutMs, connectTimeout: settings.timeoutMs });
  const a = settings.attributes;
  let pages = 0;
  const search = async (base: string, filter: string, attributes: string[]) => {
    const entries: Entry[] = [];
    const paginator = client.searchPaginated(base, {
      scope: 'sub',
      filter,
      attributes,
      paged: { pageSize: settings.pageSize },
    });
    for await (const page of paginator) {
      pages += 1;
      entries.push(...page.searchEntries);
    }
    return entries;
  };
  try {
    await client.bind(settings.bindDn, settings.password);
    const users = await search(settings.users.base, settings.users.filter, [
      a.id,
      a.name,
      a.email,
      a.department,
      a.manager,
      a.memberOf,
      ...(a.timeZone !== undefined ? [a.timeZone] : []),
      'userAccountControl',
      'accountExpires',
    ]);
    const groups = await search(settings.groups.base, settings.groups.filter, [a.groupName, a.member]);
    const { directory, skipped } = mapEntries(users, groups, settings, now);
    return { directory, pages, skipped };
  } catch (err) {
    // ldapts names the LDAP result in the error's class (e.g. SizeLimitExceededError); keep it in the sentence.
    const e = err instanceof Error ? err : new Error(String(err));
    throw new Error(`LDAP read failed after ${pages} page(s): ${e.name} ${e.message}`.trim(), { cause: err });
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
