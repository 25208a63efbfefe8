import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigFileError } from '../../domain/config';
import { loadConfig } from '../../platform/config-files';

const demo = path.join(__dirname, '..', '..', 'config', 'demo');
const made: string[] = [];
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function copyOfDemo(change: Partial<Record<'directory' | 'catalog' | 'policy', (text: string) => string>>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-config-'));
  made.push(dir);
  for (const name of ['directory', 'catalog', 'policy'] as const) {
    const text = fs.readFileSync(path.join(demo, `${name}.yaml`), 'utf8');
    fs.writeFileSync(path.join(dir, `${name}.yaml`), change[name]?.(text) ?? text);
  }
  return dir;
}

function errorOf(fn: () => unknown): ConfigFileError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigFileError) return err;
    throw err;
  }
  throw new Error('expected a ConfigFileError');
}

describe('loadConfig', () => {
  test('loads the demo organisation, reading ${VAR} from the given environment', () => {
    const config = loadConfig(demo, { GRANTFLOW_WEBHOOK_RECEIVER_URL: 'http://gateway.test:9000' });
    expect(config.users.get('frank')?.delegation?.to).toBe('grace');
    expect(config.entitlements.get('github:member')?.resource.connector).toMatchObject({
      type: 'webhook',
      url: 'http://gateway.test:9000/github',
    });
    expect(loadConfig(demo, {}).entitlements.get('github:member')?.resource.connector).toMatchObject({
      url: 'http://127.0.0.1:8090/github',
    });
  });

  test('a YAML syntax error names the file and the line', () => {
    const dir = copyOfDemo({ policy: (text) => text.replace('  quorum: any\n', '  quorum: any\n  \tsla: {}\n') });
    const file = path.join(dir, 'policy.yaml');
    const line = fs.readFileSync(file, 'utf8').split('\n').indexOf('  \tsla: {}') + 1;
    const err = errorOf(() => loadConfig(dir, {}));
    expect(err.problems).toEqual([
      { file, path: `line ${line}, column 3`, message: 'Tabs are not allowed as indentation' },
    ]);
    expect(err.message).toBe(`${file}: line ${line}, column 3: Tabs are not allowed as indentation`);
  });

  test('a duplicate key is an error, not a silent override', () => {
    const dir = copyOfDemo({ directory: (text) => `${text}users: []\n` });
    expect(errorOf(() => loadConfig(dir, {})).message).toMatch(
      /directory\.yaml: line \d+, column \d+: Map keys must be unique/,
    );
  });

  test('a missing file is named', () => {
    const dir = copyOfDemo({});
    fs.rmSync(path.join(dir, 'catalog.yaml'));
    expect(errorOf(() => loadConfig(dir, {})).message).toBe(
      `${path.join(dir, 'catalog.yaml')}: cannot read the file (file not found)`,
    );
  });

  test('problems in the content name the file and the path', () => {
    const dir = copyOfDemo({
      directory: (text) => text.replace('manager: bob', 'manager: nobody'),
    });
    expect(errorOf(() => loadConfig(dir, {})).message).toContain(
      `${path.join(dir, 'directory.yaml')}: users[0].manager: unknown user "nobody"`,
    );
  });
});
