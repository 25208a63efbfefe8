import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatReport, runPolicyTests } from '../../platform/policy-cases';

const demo = path.join(__dirname, '..', '..', 'config', 'demo');
const made: string[] = [];
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A copy of the demo configuration with one file's text changed. */
function demoWith(file: string, change: (text: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-policy-'));
  made.push(dir);
  for (const name of fs.readdirSync(demo)) fs.copyFileSync(path.join(demo, name), path.join(dir, name));
  const target = path.join(dir, file);
  const before = fs.readFileSync(target, 'utf8');
  const after = change(before);
  if (after === before) throw new Error(`the change to ${file} changed nothing`);
  fs.writeFileSync(target, after);
  return dir;
}

describe('npm run policy:test', () => {
  it('passes the demo suite, and the suite reaches every rule and break-glass', () => {
    const suite = runPolicyTests(demo);
    expect(suite.results.filter((r) => !r.passed)).toEqual([]);
    expect(suite.uncovered).toEqual([]);
    expect(suite.passed).toBe(true);
    expect(new Set(suite.results.map((r) => r.rule))).toEqual(
      new Set([
        undefined,
        'low-risk-auto-approve',
        'privileged-critical',
        'critical',
        'high',
        'medium-high-risk',
        'medium',
        'default-deny-by-review',
        'break-glass',
      ]),
    );
  });

  it('fails with a readable diff when a rule is changed', () => {
    // Medium-sensitivity requests now go to the resource owner instead of the manager.
    const dir = demoWith('policy.yaml', (text) =>
      text.replace(
        /(- name: medium\n {4}when: \{ sensitivity: \[medium\] \}\n {4}plan:\n {6}- name: manager\n {8}approvers: )\[manager\]/,
        '$1[resource-owner]',
      ),
    );
    const suite = runPolicyTests(dir);
    expect(suite.passed).toBe(false);
    const failed = suite.results.filter((r) => !r.passed).map((r) => r.name);
    expect(failed).toEqual(
      expect.arrayContaining([
        'read access to analytics goes to the manager',
        "a manager's request goes to their own manager, never to themselves",
      ]),
    );
    const report = formatReport(suite);
    expect(report).toContain('FAIL read access to analytics goes to the manager');
    // The expected approver and the one the changed rule gives, one per line, marked - and +.
    expect(report).toContain(['     -       - bob', '     +       - frank', '     +       - grace'].join('\n'));
    expect(report).toMatch(/\d+ cases, \d+ passed, [1-9]\d* failed/);
  });

  it('fails with a diff when a seat limit or a business-hours stage is changed', () => {
    const fewerSeats = runPolicyTests(
      demoWith('catalog.yaml', (text) => text.replace('seats: { limit: 3,', 'seats: { limit: 2,')),
    );
    expect(fewerSeats.results.filter((r) => !r.passed).map((r) => r.name)).toEqual([
      'a design-studio editor seat is free, so the request is provisioned at once',
    ]);
    expect(formatReport(fewerSeats)).toContain(['     - seat: seat', '     + seat:', '     +   queued: 1'].join('\n'));

    const wallClock = runPolicyTests(
      demoWith('policy.yaml', (text) => text.replace('deadline: PT40H, clock: business', 'deadline: PT40H')),
    );
    expect(wallClock.results.filter((r) => !r.passed).map((r) => r.name)).toEqual([
      "an exception's owner-manager stage escalates after two working days, not over the weekend",
    ]);
    // Counted on the wall clock, 16 hours after Friday 16:00 is Saturday 08:00 in Berlin.
    expect(formatReport(wallClock)).toContain('     +     escalatesAt: 2026-11-28T07:00:00.000Z');
  });

  it('fails when no case reaches a rule', () => {
    const dir = demoWith('policy-tests.yaml', (text) =>
      text.replace(
        / {2}# ---------- default-deny-by-review ----------[\s\S]*?(?= {2}# ---------- medium ----------)/,
        '',
      ),
    );
    const suite = runPolicyTests(dir);
    expect(suite.results.every((r) => r.passed)).toBe(true);
    expect(suite.uncovered).toEqual(['default-deny-by-review']);
    expect(suite.passed).toBe(false);
    expect(formatReport(suite)).toContain('rules no case reaches: default-deny-by-review');
  });

  it('reports a case that names someone the directory does not have, rather than passing it', () => {
    const dir = demoWith('policy-tests.yaml', (text) =>
      text.replace('directory: { frank: { delegation: null } }', 'directory: { zed: { active: false } }'),
    );
    const suite = runPolicyTests(dir);
    const broken = suite.results.find((r) => r.name === 'once frank is back, only he answers as owner');
    expect(broken).toMatchObject({ passed: false, error: 'given.directory: there is no user "zed" in the directory' });
    expect(suite.passed).toBe(false);
  });

  it('refuses a malformed cases file naming the case and field', () => {
    const dir = demoWith('policy-tests.yaml', (text) =>
      text.replace(
        'expect: { valid: true, risk: low, rule: low-risk-auto-approve',
        'expect: { valid: yes, risk: low, rule: low-risk-auto-approve',
      ),
    );
    expect(() => runPolicyTests(dir)).toThrow(/policy-tests\.yaml: cases\.0\.expect\.valid: /);
  });
});
