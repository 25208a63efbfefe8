/**
 * Determinism of the directory sync workflow: its recorded histories (test/faults/histories/directory-sync/, one per
 * outcome: applied, dry run, held for security, a refused and an accepted confirmation; written by
 * test/integration/directory-api.test.ts with GRANTFLOW_RECORD_DIRECTORY_SYNC_HISTORIES=<dir>) replay against the
 * current workflow code. The control shows the replay has teeth: one more activity before the sync fails every one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { History } from '../helpers/fault-history-json';
import { loadHistoryFiles, quietRuntime, replayHistories } from '../helpers/replay';

jest.setTimeout(180_000);

const root = path.join(__dirname, '..', '..');
const identityDir = path.join(root, 'workflows', 'identity');
const dir = path.join(__dirname, 'histories', 'directory-sync');
const OUTCOMES = ['applied', 'awaiting-confirmation', 'confirmed', 'dry-run', 'refused'];

beforeAll(quietRuntime);

const histories = () => loadHistoryFiles(dir);

async function replay(workflowsPath: string): Promise<Record<string, string>> {
  const results = await replayHistories(workflowsPath, histories(), 'directory-sync');
  return Object.fromEntries(results.map((r) => [r.workflowId, r.error ? r.error.name : 'replays']));
}

function result(h: History): { status?: string } | undefined {
  const data = h.events?.at(-1)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { status?: string }) : undefined;
}

test('the recorded directory syncs (applied, dry run, held, confirmation refused and accepted) replay', async () => {
  const all = histories();
  // Each fixture ended the way its name says.
  expect(all.map((h) => [h.workflowId, result(h.history)?.status?.replace(/_/g, '-')])).toEqual(
    OUTCOMES.map((o) => [o, o]),
  );
  expect(await replay(path.join(root, 'workflows'))).toEqual(Object.fromEntries(OUTCOMES.map((o) => [o, 'replays'])));
});

test('control: one more activity before the sync fails the replay of every recorded run', async () => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-replay-directory-sync-'));
  try {
    const source = fs
      .readFileSync(path.join(identityDir, 'directory-sync.ts'), 'utf8')
      .replace(/from '(\.{1,2}\/[^']+)'/g, (_m, rel: string) => `from '${path.join(identityDir, rel)}'`);
    const changed = source.replace(
      /(export async function directorySync\([^)]*\)[^{]*\{)/,
      `$1\n  await (sync as unknown as { unpatchedStep(): Promise<void> }).unpatchedStep();`,
    );
    if (changed === source) throw new Error('the change did not apply: the workflow source moved on');
    fs.writeFileSync(path.join(copy, 'directory-sync.ts'), changed);
    fs.writeFileSync(path.join(copy, 'index.ts'), `export { directorySync } from './directory-sync';\n`);
    expect(await replay(path.join(copy, 'index.ts'))).toEqual(
      Object.fromEntries(OUTCOMES.map((o) => [o, 'DeterminismViolationError'])),
    );
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});
