/**
 * Replaying recorded histories against workflow code, for the determinism suites (test/faults/replay*.test.ts): the
 * histories as files, the code bundled as a worker would, and each history's outcome.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import { historyFromJson, type History } from './fault-history-json';

const root = path.join(__dirname, '..', '..');
const logger = new DefaultLogger('ERROR');

/** A negative control makes core log each nondeterminism it (rightly) finds: keep the output to real errors. */
export function quietRuntime(): void {
  try {
    Runtime.install({
      logger,
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // installed already in this jest worker
  }
}

/** The histories of one folder (proto JSON, as recorded), each named `<prefix><file name>`. */
export function loadHistoryFiles(dir: string, prefix = ''): { workflowId: string; history: History }[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      workflowId: `${prefix}${f.replace(/\.json$/, '')}`,
      history: historyFromJson(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))),
    }));
}

/**
 * Replays `histories` against the workflows at `workflowsPath` (a folder or an index file); a copy outside the
 * repository (a changed workflow, for a control) still finds the repository's packages.
 */
export async function replayHistories(
  workflowsPath: string,
  histories: { workflowId: string; history: History }[],
  replayName = 'replay',
): Promise<ReplayResult[]> {
  const bundle = await bundleWorkflowCode({
    workflowsPath,
    logger,
    webpackConfigHook: (config) => ({
      ...config,
      resolve: { ...config.resolve, modules: [...(config.resolve?.modules ?? []), path.join(root, 'node_modules')] },
    }),
  });
  const results: ReplayResult[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, replayName }, histories)) {
    results.push(result);
  }
  return results;
}
