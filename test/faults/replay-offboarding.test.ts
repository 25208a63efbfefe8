/**
 * Determinism of the offboarding workflow: its recorded histories (test/faults/histories/offboarding/, recorded with
 * test/helpers/record-offboarding-histories.ts: a held revoke polled through a worker restart, continue-as-new, the
 * handover of a service account) replay against the current workflow code. The control shows the replay judges the
 * settle budget: the same code with the budget at zero stops polling at once and fails the replay.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { History } from '../helpers/fault-history-json';
import { loadHistoryFiles, quietRuntime, replayHistories } from '../helpers/replay';
import type { OffboardingState } from '../../workflows/identity/messages';

jest.setTimeout(180_000);

const root = path.join(__dirname, '..', '..');
const identityDir = path.join(root, 'workflows', 'identity');
const dir = path.join(__dirname, 'histories', 'offboarding');
beforeAll(quietRuntime);

const histories = () => loadHistoryFiles(dir);

async function replay(workflowsPath: string): Promise<Record<string, string>> {
  const results = await replayHistories(workflowsPath, histories(), 'offboarding');
  return Object.fromEntries(results.map((r) => [r.workflowId, r.error ? r.error.name : 'replays']));
}

test('the recorded offboarding (polls across a worker restart, continues as new, hands over) replays', async () => {
  const [continued, first] = histories();
  expect([first?.workflowId, continued?.workflowId]).toEqual(['leaver-restart-first-run', 'leaver-restart-continued']);
  // The fixtures hold what the test is about: polls (timers), continue-as-new, and the handover at the end.
  expect(timers(first!.history)).toBeGreaterThanOrEqual(2);
  expect(first!.history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  const done = result(continued!.history);
  expect(done).toMatchObject({ phase: 'completed', handovers: [{ account: 'svc-ci', owner: 'bob', grants: 1 }] });
  expect(done?.requests.map((r) => [r.role, r.finalStatus])).toEqual([['beneficiary', 'revoked']]);

  expect(await replay(path.join(root, 'workflows'))).toEqual({
    'leaver-restart-first-run': 'replays',
    'leaver-restart-continued': 'replays',
  });
});

test('control: the same workflow with a settle budget of zero decides otherwise and fails the replay', async () => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-replay-offboarding-'));
  try {
    const source = fs
      .readFileSync(path.join(identityDir, 'offboarding.ts'), 'utf8')
      .replace(/from '(\.{1,2}\/[^']+)'/g, (_m, rel: string) => `from '${path.join(identityDir, rel)}'`);
    const changed = source.replace(/const SETTLE_BUDGET_MS = [^;]+;/, 'const SETTLE_BUDGET_MS = 0;');
    if (changed === source) throw new Error('the change did not apply: the workflow source moved on');
    fs.writeFileSync(path.join(copy, 'offboarding.ts'), changed);
    fs.writeFileSync(path.join(copy, 'index.ts'), `export { offboarding } from './offboarding';\n`);
    const outcomes = await replay(path.join(copy, 'index.ts'));
    // The first run polled: without a budget it would not have, so its replay fails. The continued run never polled.
    expect(outcomes).toEqual({
      'leaver-restart-first-run': 'DeterminismViolationError',
      'leaver-restart-continued': 'replays',
    });
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

function timers(h: History): number {
  return (h.events ?? []).filter((e) => e.timerFiredEventAttributes).length;
}

function result(h: History): OffboardingState | undefined {
  const data = h.events?.at(-1)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as OffboardingState) : undefined;
}
