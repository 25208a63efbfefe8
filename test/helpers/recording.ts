/** What the history recorders (fault-record-histories.ts, record-offboarding-histories.ts) share. */
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { historyToJson, type History } from './fault-history-json';

/** Writes a history as `<dir>/<name>.json`, formatted as the repository formats JSON, and says so. */
export async function saveHistory(dir: string, name: string, history: History): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const options = { ...(await prettier.resolveConfig(dir)), parser: 'json' };
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, await prettier.format(historyToJson(history), options));
  process.stdout.write(`${name}: ${history.events?.length ?? 0} events → ${path.relative(process.cwd(), file)}\n`);
}

/** Runs a recorder's main when the file is run as a script: exit 0 when it is done, 1 with the error when not. */
export function runRecorder(module: NodeModule, main: () => Promise<void>): void {
  if (require.main !== module) return;
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
