/**
 * Determinism: recorded histories of every path of the lifecycle replay against the current workflow code — those of
 * the first workflow (`accessRequest`, frozen in workflows/legacy/, histories/*.json) and those of the redesigned one
 * (`accessRequestV2`, histories/v2/*.json). The controls prove the replay has teeth: the new workflow with one extra
 * activity call and no patch fails with a DeterminismViolationError on every v2 history, and the same change behind
 * `patched()` replays as the current code does.
 * Record v2 fixtures with `node --import tsx test/helpers/fault-record-histories.ts`; never re-record the v1 ones.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import type { ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { historyPaths, historyResult, laneHistoryPaths, type History } from '../helpers/fault-history-json';
import { loadHistoryFiles, quietRuntime, replayHistories } from '../helpers/replay';

jest.setTimeout(180_000);

const root = path.join(__dirname, '..', '..');
const workflowsDir = path.join(root, 'workflows');
const v2Dir = path.join(workflowsDir, 'request');
beforeAll(quietRuntime);

/**
 * The recorded sets: the first workflow, accessRequestV2 before its own clock, with it, with every patch asked at the
 * run's start, and with one bookkeeping step per transition, its evaluation as a local activity (`lean-bookkeeping`)
 * and its connector calls on a queue of their own (`connector-queue`).
 */
const SETS = ['', 'v2', 'v2-clock', 'v2-2026-12'];
/** Sets of a lane's own new paths (fault-history-json.ts laneHistoryPaths), replayed with the rest. */
const LANE_SETS = Object.keys(laneHistoryPaths);

function loadHistories(sub = ''): (HistoryAndWorkflowId & { history: History })[] {
  return loadHistoryFiles(path.join(__dirname, 'histories', sub), sub ? `${sub}/` : '');
}

/** Replays against `workflowsPath`: by default every set, first workflow and lanes included. */
function replay(
  workflowsPath: string,
  histories = [...SETS, ...LANE_SETS].flatMap((sub) => loadHistories(sub)),
): Promise<ReplayResult[]> {
  return replayHistories(workflowsPath, histories, 'faults-replay');
}

let current: ReplayResult[] | undefined;

/** Per history: `replays`, or the error's name and the start of its message. */
function outcomes(results: readonly ReplayResult[]): Record<string, string> {
  return Object.fromEntries(
    results.map((r) => {
      if (!r.error) return [r.workflowId, 'replays'];
      // Core's sentence (e.g. which activity the history has where the code schedules another) is the useful part.
      const core = /\[TMPRL\d+\] ([^"\\]+)/.exec(r.error.message)?.[1];
      return [r.workflowId, `${r.error.name}: ${core ?? r.error.message.slice(0, 300)}`];
    }),
  );
}

/** A copy of the workflow in a temporary folder, `change`d, its relative imports pointed back at the repository. */
function changedWorkflow(change: (source: string) => string): { dir: string; index: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-replay-'));
  const original = fs.readFileSync(path.join(v2Dir, 'workflow.ts'), 'utf8');
  const absolute = original.replace(/from '(\.{1,2}\/[^']+)'/g, (_m, rel: string) => {
    return `from '${path.join(v2Dir, rel)}'`;
  });
  const changed = change(absolute);
  if (changed === absolute) throw new Error('the change did not apply: the workflow source moved on');
  fs.writeFileSync(path.join(dir, 'workflow.ts'), changed);
  const index = path.join(dir, 'index.ts');
  fs.writeFileSync(index, `export { accessRequestV2 } from './workflow';\n`);
  return { dir, index };
}

// The change: one more activity call before anything else the workflow does — as if someone added a step.
const ENTRY = /(export async function accessRequestV2\([^)]*\)[^{]*\{)/;
const EXTRA_STEP = `await proxyActivities<Record<string, () => Promise<void>>>({ startToCloseTimeout: '1 minute' }).unpatchedStep();`;

test('every recorded path of both workflow versions replays against the current workflow code', async () => {
  for (const sub of SETS) {
    const histories = loadHistories(sub);
    const name = (id: string) => id.replace(/^[^/]+\//, '');
    // The fixtures cover every path and each ended the way its name says.
    expect(histories.map((h) => name(h.workflowId))).toEqual(Object.keys(historyPaths).sort());
    for (const { workflowId, history } of histories) {
      const ended = historyResult(history);
      expect({ workflowId, status: ended?.status, reviewState: ended?.reviewState }).toEqual({
        workflowId,
        ...historyPaths[name(workflowId)],
      });
    }
  }
  for (const sub of LANE_SETS) {
    const expected = laneHistoryPaths[sub] ?? {};
    const histories = loadHistories(sub);
    expect(histories.map((h) => h.workflowId)).toEqual(
      Object.keys(expected)
        .map((n) => `${sub}/${n}`)
        .sort(),
    );
    for (const { workflowId, history } of histories) {
      const ended = historyResult(history);
      expect({ status: ended?.status, reviewState: ended?.reviewState }).toEqual({
        reviewState: undefined,
        ...expected[workflowId.slice(sub.length + 1)],
      });
    }
  }
  const all = [...SETS, ...LANE_SETS].flatMap((sub) => loadHistories(sub));
  current = await replay(workflowsDir);
  expect(outcomes(current)).toEqual(Object.fromEntries(all.map((h) => [h.workflowId, 'replays'])));
});

test('negative control: an extra activity call without patched() fails the replay of every history', async () => {
  const copy = changedWorkflow((source) => source.replace(ENTRY, `$1\n  ${EXTRA_STEP}`));
  try {
    const results = await replay(copy.index, loadHistories('v2'));
    expect(results).toHaveLength(Object.keys(historyPaths).length);
    for (const r of results) {
      expect({ workflowId: r.workflowId, error: r.error?.name }).toEqual({
        workflowId: r.workflowId,
        error: 'DeterminismViolationError',
      });
      expect(r.error).toBeInstanceOf(DeterminismViolationError);
      expect(r.error?.message).toMatch(/unpatchedStep/);
    }
  } finally {
    fs.rmSync(copy.dir, { recursive: true, force: true });
  }
});

test('positive control: the same change behind patched() adds no replay failure of its own', async () => {
  const copy = changedWorkflow((source) =>
    source
      .replace(ENTRY, `$1\n  if (controlPatched('fault-extra-step')) ${EXTRA_STEP}`)
      .replace(/^import \{/m, 'import { patched as controlPatched } from "@temporalio/workflow";\nimport {'),
  );
  try {
    const v2 = loadHistories('v2');
    const results = await replay(copy.index, v2);
    // The patched step adds no failure of its own: each history replays as it does against the current code.
    const baseline = outcomes(await replay(workflowsDir, v2));
    expect(outcomes(results)).toEqual(baseline);
  } finally {
    fs.rmSync(copy.dir, { recursive: true, force: true });
  }
});

test('the access-review campaign: a recorded run continued as new twice, its worker restarted, replays', async () => {
  // Recorded by test/integration/campaigns.test.ts (GRANTFLOW_RECORD_CAMPAIGN_HISTORIES): keep these, add new ones.
  const histories = loadHistories('campaign');
  expect(histories.length).toBeGreaterThan(1);
  const results = await replay(workflowsDir, histories);
  expect(outcomes(results)).toEqual(Object.fromEntries(histories.map((h) => [h.workflowId, 'replays'])));
});
