import fs from 'node:fs';
import path from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { ConfigFileError, interpolateEnv, parseConfigs, type Config, type ConfigFiles } from '../domain/config';

const DOCUMENTS = ['directory', 'catalog', 'policy'] as const;

/**
 * Reads `directory.yaml`, `catalog.yaml` and `policy.yaml` from `dir`, substitutes `${VAR}` references from `env`
 * and checks them together. Every problem is a ConfigFileError naming the file (and the line, for YAML syntax).
 */
export function loadConfig(dir: string, env: Record<string, string | undefined> = process.env): Config {
  const files = Object.fromEntries(DOCUMENTS.map((name) => [name, path.join(dir, `${name}.yaml`)])) as ConfigFiles;
  const raw = Object.fromEntries(DOCUMENTS.map((name) => [name, readYaml(files[name], env)])) as Record<
    (typeof DOCUMENTS)[number],
    unknown
  >;
  return parseConfigs(raw, files);
}

function readYaml(file: string, env: Record<string, string | undefined>): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigFileError([{ file, path: '', message: `cannot read the file (${reason})` }]);
  }
  // interpolateEnv refuses values with line breaks, so YAML line numbers still match the file on disk.
  const interpolated = interpolateEnv(text, env, file);
  try {
    // Warnings (e.g. an unknown tag) are not fatal, and must not go to the console behind the logger's back.
    return parse(interpolated, { logLevel: 'error' });
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    const at = err.linePos?.[0];
    // The parser's message repeats the position and quotes the source; keep the sentence.
    const message = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigFileError([{ file, path: at ? `line ${at.line}, column ${at.col}` : '', message }]);
  }
}
