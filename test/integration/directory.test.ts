import { createActivities } from '../../activities';
import type { Directory } from '../../domain/model';
import { evaluate } from '../../domain/policy';
import { currentVersion, ReservedIdentityError } from '../../directory/store';
import { createDirectoryView } from '../../directory/view';
import { syncYamlDirectory } from '../../directory/yaml';
import { loadConfig } from '../../platform/config-files';
import { createLogger } from '../../platform/logger';
import { DEMO_CONFIG_DIR, directoryDb, type DirectoryDb } from '../helpers/directory';

const config = loadConfig(DEMO_CONFIG_DIR, {});
const log = createLogger('directory-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let db: DirectoryDb;

beforeEach(async () => {
  db = await directoryDb();
});
afterEach(async () => {
  await db.drop();
});

/** The demo directory with `change` applied to a copy. */
function edited(change: (users: Directory['users']) => Directory['users']): Directory {
  return { users: change(structuredClone(config.directory.users)) };
}

describe('the YAML source', () => {
  test('the store itself refuses an identity named system, whatever source sends it, and writes nothing', async () => {
    // Past the file's schema (which refuses it too): the last line of defence is the write itself.
    const impostor = { id: 'system', name: 'Impostor', groups: ['security'], active: true, kind: 'human' as const };
    await expect(
      syncYamlDirectory(
        db.pool,
        edited((users) => [...users, impostor]),
      ),
    ).rejects.toThrow(ReservedIdentityError);
    expect(await currentVersion(db.pool)).toBe(0);
  });

  test('is loaded into PostgreSQL once; the same file again changes nothing', async () => {
    const first = await syncYamlDirectory(db.pool, config.directory);
    expect(first.identities).toHaveLength(config.directory.users.length);
    expect(first.identities.every((c) => c.change === 'created')).toBe(true);
    const version = await currentVersion(db.pool);
    expect(version).toBeGreaterThan(0);

    const again = await syncYamlDirectory(db.pool, config.directory);
    expect(again.identities).toEqual([]);
    expect(again.groups).toEqual([]);
    expect(await currentVersion(db.pool)).toBe(version);

    // What the policy reads from PostgreSQL is what the file says.
    const view = await createDirectoryView(db.pool, config, 'yaml').current();
    for (const user of config.directory.users) {
      const delegation = user.delegation && {
        ...user.delegation,
        until: new Date(user.delegation.until).toISOString(),
      };
      expect(view.users.get(user.id)).toEqual({
        ...user,
        groups: [...user.groups].sort(),
        ...(delegation && { delegation }),
      });
    }
  });

  test('a file edited and restarted is applied as a sync: leaver, mover, one version per change', async () => {
    await syncYamlDirectory(db.pool, config.directory);
    const view = createDirectoryView(db.pool, config, 'yaml');
    expect((await view.current()).users.get('alice')?.manager).toBe('bob');
    const before = await currentVersion(db.pool);

    const diff = await syncYamlDirectory(
      db.pool,
      edited((users) =>
        users
          .filter((u) => u.id !== 'frank')
          .map((u) => (u.id === 'alice' ? { ...u, manager: 'grace' } : u.id === 'carol' ? { ...u, active: false } : u)),
      ),
    );
    expect(diff.identities.map((c) => [c.id, c.change]).sort()).toEqual([
      ['alice', 'updated'],
      ['carol', 'deactivated'],
      ['frank', 'deleted'],
    ]);
    expect(diff.deactivations.sort()).toEqual(['carol', 'frank']);
    // frank also leaves the engineering group.
    expect(diff.groups.map((c) => [c.id, c.change])).toEqual([['engineering', 'updated']]);
    expect(await currentVersion(db.pool)).toBe(before + 4);

    const now = await view.current();
    expect(now.users.get('alice')?.manager).toBe('grace');
    expect(now.users.get('carol')?.active).toBe(false);
    expect(now.users.get('frank')).toMatchObject({ active: false, groups: [] });
  });

  test('activities evaluate against the directory in PostgreSQL, not the file they started with', async () => {
    await syncYamlDirectory(db.pool, config.directory);
    const directory = createDirectoryView(db.pool, config, 'yaml');
    const activities = createActivities({ pool: db.pool, config, directory, log });
    await syncYamlDirectory(
      db.pool,
      edited((users) => users.map((u) => (u.id === 'dave' ? { ...u, active: false } : u))),
    );

    const evaluation = await activities.evaluateRequest({
      requestId: `directory-test-${Date.now()}`,
      requester: 'dave',
      input: { entitlement: 'github:member', justification: 'left yesterday', breakGlass: false, fields: {} },
      now: new Date().toISOString(),
    });
    expect(evaluation.valid).toBe(false);
    expect(evaluation.reasons.map((r) => r.code)).toContain('requester_inactive');
    // The file itself still says dave is active: the answer came from PostgreSQL.
    expect(config.users.get('dave')?.active).toBe(true);
  });

  test('a mover is routed to the new manager by the same policy code', async () => {
    await syncYamlDirectory(db.pool, config.directory);
    await syncYamlDirectory(
      db.pool,
      edited((users) => users.map((u) => (u.id === 'alice' ? { ...u, manager: 'grace' } : u))),
    );
    const current = await createDirectoryView(db.pool, config, 'yaml').current();
    const evaluation = evaluate(
      {
        requestId: 'preview',
        requester: 'alice',
        input: { entitlement: 'analytics-db:read', justification: 'report', breakGlass: false, fields: {} },
        now: new Date().toISOString(),
        holdings: [],
        heldResourceBefore: false,
      },
      current,
    );
    expect(evaluation.valid && evaluation.plan.kind === 'stages' && evaluation.plan.stages[0]?.approvers).toEqual([
      'grace',
    ]);
  });
});
