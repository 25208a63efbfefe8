import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluate } from '../../domain/policy';
import { loadConfig } from '../../platform/config-files';
import { facts } from './demo-config';

const demo = path.join(__dirname, '..', '..', 'config', 'demo');
const made: string[] = [];
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function copyOfDemo(file: string, change: (text: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-version-'));
  made.push(dir);
  for (const name of ['directory.yaml', 'catalog.yaml', 'policy.yaml'])
    fs.copyFileSync(path.join(demo, name), path.join(dir, name));
  const target = path.join(dir, file);
  fs.writeFileSync(target, change(fs.readFileSync(target, 'utf8')));
  return dir;
}

describe('the policy version', () => {
  const config = loadConfig(demo, {});

  it('is the label and the digest an auditor recomputes with sha256sum', () => {
    const digest = execFileSync('sh', ['-c', 'sha256sum catalog.yaml policy.yaml | sha256sum'], { cwd: demo })
      .toString()
      .split(' ')[0];
    expect(config.source?.sha256).toBe(digest);
    expect(config.policyVersion).toBe(`2026-11-23.1@${digest?.slice(0, 12)}`);
    const each = execFileSync('sha256sum', ['catalog.yaml', 'policy.yaml'], { cwd: demo }).toString();
    expect(config.source?.files.map((f) => `${f.sha256}  ${f.name}`)).toEqual(each.trim().split('\n'));
  });

  it('is what every evaluation records', () => {
    const result = evaluate(facts('alice', { entitlement: 'github:member' }), config);
    expect(result.valid && result.policyVersion).toBe(config.policyVersion);
    // A refusal is a decision under the policy as well.
    const refused = evaluate(facts('alice', { entitlement: 'github:member', duration: 'P999D' }), config);
    expect(refused).toMatchObject({ valid: false, policyVersion: config.policyVersion });
  });

  it('changes with a rule, even when the label stays', () => {
    const changed = loadConfig(
      copyOfDemo('policy.yaml', (t) => t.replace('riskAtMost: medium', 'riskAtMost: low')),
      {},
    );
    expect(changed.policy.version).toBe(config.policy.version);
    expect(changed.policyVersion).not.toBe(config.policyVersion);
  });

  it('changes with the catalog, but not with the directory or the environment', () => {
    const catalog = loadConfig(
      copyOfDemo('catalog.yaml', (t) => t.replace('maxDuration: P90D }', 'maxDuration: P60D }')),
      {},
    );
    expect(catalog.policyVersion).not.toBe(config.policyVersion);
    const directory = loadConfig(
      copyOfDemo('directory.yaml', (t) => t.replace('name: Alice Adams', 'name: Alice Abbott')),
      {},
    );
    expect(directory.policyVersion).toBe(config.policyVersion);
    const elsewhere = loadConfig(demo, { GRANTFLOW_WEBHOOK_RECEIVER_URL: 'https://gateway.example' });
    expect(elsewhere.policyVersion).toBe(config.policyVersion);
  });
});
