import { parse } from 'yaml';
import { interpolateEnv, parseConfigs } from '../../domain/config';
import { benchUserId, syntheticUserLines, UserPool } from '../../bench/lib/directory';
import { readDemoText } from './demo-config';

describe("the bench's synthetic directory", () => {
  test('ids are valid directory ids and PostgreSQL role names', () => {
    expect(benchUserId('c', 42)).toBe('bc00042');
    expect(benchUserId('t', 12345)).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
  });

  test('appended to the demo directory it parses with the demo catalog and policy, every user managed by bob', () => {
    const directory = [
      readDemoText('directory').trimEnd(),
      ...syntheticUserLines({ h: 2, l: 1, t: 3, c: 4, s: 1 }),
      '',
    ].join('\n');
    const read = (text: string) => parse(interpolateEnv(text, {}));
    const config = parseConfigs({
      directory: read(directory),
      catalog: read(readDemoText('catalog')),
      policy: read(readDemoText('policy')),
    });
    const synthetic = config.directory.users.filter((u) => u.id.startsWith('b') && u.id !== 'bob');
    expect(synthetic).toHaveLength(11);
    expect(synthetic.every((u) => u.manager === 'bob' && u.department === 'engineering' && u.groups.length === 0)).toBe(
      true,
    );
    expect(config.users.get('alice')?.manager).toBe('bob');
  });

  test('the pool hands out each user once and says when a phase has used all of its own', () => {
    const pool = new UserPool({ h: 1, l: 0, t: 2, c: 0, s: 0 });
    expect([pool.take('t'), pool.take('t'), pool.take('t')]).toEqual(['bt00001', 'bt00002', undefined]);
    expect(pool.take('h')).toBe('bh00001');
    expect(pool.take('l')).toBeUndefined();
    expect(pool.used('t')).toBe(2);
  });
});
