import { accountActive, canonicalDn, ldapSettingsSchema, mapEntries } from '../../directory/ldap';
import { deactivationLimit, diffDirectory } from '../../directory/diff';
import type { IdentityRecord } from '../../directory/records';
import { directorySchema } from '../../domain/model';

const person = (id: string, extra: Partial<IdentityRecord> = {}): IdentityRecord => ({
  id,
  sourceRef: id,
  userName: id,
  name: id,
  kind: 'human',
  active: true,
  attributes: {},
  ...extra,
});

describe('the deactivation guard', () => {
  test.each([
    [8, 1],
    [100, 10],
    [249, 24],
    [10_000, 25],
    [0, 1],
  ])('%i active identities may lose %i without a confirmation', (active, limit) => {
    expect(deactivationLimit(active)).toBe(limit);
  });
});

describe('diffDirectory', () => {
  test('names each change once and counts deactivations and deletions of active identities', () => {
    const current = {
      identities: [person('a'), person('b'), person('c', { active: false }), person('d')],
      groups: [{ id: 'g', sourceRef: 'g', displayName: 'g', members: ['a', 'b'] }],
    };
    const desired = {
      identities: [person('a', { managerRef: 'd' }), person('b', { active: false }), person('c'), person('e')],
      groups: [{ id: 'g', sourceRef: 'g', displayName: 'g', members: ['b', 'a'] }],
    };
    const diff = diffDirectory(current, desired);
    expect(diff.identities.map((c) => [c.id, c.change, c.fields])).toEqual([
      ['a', 'updated', ['managerRef']],
      ['b', 'deactivated', ['active']],
      ['c', 'reactivated', ['active']],
      ['e', 'created', []],
      ['d', 'deleted', []],
    ]);
    expect(diff.deactivations).toEqual(['b', 'd']);
    // Member order is no change.
    expect(diff.groups).toEqual([]);
  });

  test('attributes compare by content, not key order', () => {
    const a = person('a', { attributes: { x: 1, y: { p: 1, q: 2 } } });
    const b = person('a', { attributes: { y: { q: 2, p: 1 }, x: 1 } });
    expect(diffDirectory({ identities: [a], groups: [] }, { identities: [b], groups: [] }).identities).toEqual([]);
  });
});

describe('LDAP mapping', () => {
  const settings = ldapSettingsSchema.parse({
    url: 'ldap://127.0.0.1:1',
    bindDn: 'cn=x',
    password: 'y',
    users: { base: 'ou=people,dc=x' },
    groups: { base: 'ou=groups,dc=x' },
  });
  const now = new Date('2026-06-01T00:00:00Z');
  // Windows FILETIME for a date: 100 ns steps since 1601-01-01.
  const filetime = (iso: string) => String((BigInt(Date.parse(iso)) + 11_644_473_600_000n) * 10_000n);

  test.each([
    [{}, true],
    [{ userAccountControl: '512' }, true],
    [{ userAccountControl: '514' }, false],
    [{ userAccountControl: '66050' }, false],
    [{ accountExpires: '0' }, true],
    [{ accountExpires: '9223372036854775807' }, true],
    [{ accountExpires: filetime('2026-05-31T23:59:59Z') }, false],
    [{ accountExpires: filetime('2026-06-02T00:00:00Z') }, true],
  ])('%j is active: %s', (attributes, active) => {
    expect(accountActive({ dn: 'uid=a', ...attributes }, now)).toBe(active);
  });

  test('managers and members match by DN however the server spells it; memberOf counts too', () => {
    const { directory, skipped } = mapEntries(
      [
        { dn: 'uid=Alice, ou=People,dc=x', uid: 'Alice', cn: 'Alice A', manager: 'UID=bob,ou=people, dc=x' },
        { dn: 'uid=bob,ou=people,dc=x', uid: 'bob', cn: 'Bob B', memberOf: ['cn=Admins,ou=groups,dc=x'] },
        { dn: 'uid=nobody,ou=people,dc=x', cn: 'No uid' },
      ],
      [
        { dn: 'cn=Engineering,ou=groups,dc=x', cn: 'Engineering', member: 'uid=alice,ou=people,dc=x' },
        { dn: 'cn=Admins,ou=groups,dc=x', cn: 'Admins', member: [] },
      ],
      settings,
      now,
    );
    expect(skipped).toEqual(['uid=nobody,ou=people,dc=x']);
    expect(directory.identities.find((i) => i.id === 'alice')?.managerRef).toBe(canonicalDn('uid=bob,ou=people,dc=x'));
    expect(directory.groups.map((g) => [g.id, g.members])).toEqual([
      ['engineering', ['alice']],
      ['admins', ['bob']],
    ]);
  });

  test('an entry whose id would be reserved (system, unknown) is skipped, saying why', () => {
    const { directory, skipped } = mapEntries(
      [
        { dn: 'uid=System,ou=people,dc=x', uid: 'System', cn: 'Impostor' },
        { dn: 'uid=unknown,ou=people,dc=x', uid: 'unknown', cn: 'Impostor' },
        { dn: 'uid=bob,ou=people,dc=x', uid: 'bob', cn: 'Bob B' },
      ],
      [],
      settings,
      now,
    );
    expect(directory.identities.map((i) => i.id)).toEqual(['bob']);
    expect(skipped).toEqual([
      expect.stringMatching(/^uid=System,ou=people,dc=x: The id "system" is reserved/),
      expect.stringMatching(/^uid=unknown,ou=people,dc=x: The id "unknown" is reserved/),
    ]);
  });
});

describe('reserved ids', () => {
  test.each(['system', 'unknown'])('directory.yaml cannot name a user %s', (id) => {
    const parsed = directorySchema.safeParse({ users: [{ id, name: 'Impostor' }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({
      path: ['users', 0, 'id'],
      message: expect.stringMatching(/reserved/),
    });
  });
});
