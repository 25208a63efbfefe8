import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import {
  ConfigFileError,
  interpolateEnv,
  parseConfigs,
  type Config,
  type ConfigFiles,
  type PolicySource,
} from '../domain/config';

const DOCUMENTS = ['directory', 'catalog', 'policy'] as const;
/** The files whose text is the policy: the directory is facts about people, not rules, so it is not versioned here. */
const POLICY_DOCUMENTS = ['catalog', 'policy'] as const;

/**
 * Reads `directory.yaml`, `catalog.yaml` and `policy.yaml` from `dir`, substitutes `${VAR}` references from `env`
 * and checks them together. Every problem is a ConfigFileError naming the file (and the line, for YAML syntax).
 */
export function loadConfig(dir: string, env: Record<string, string | undefined> = process.env): Config {
  const { raw, files, source } = readConfigDocuments(dir, env);
  return parseConfigs(raw, files, source);
}

/** The three documents of `dir` as parsed YAML, not yet checked: the policy test runner changes them per case. */
export function readConfigDocuments(
  dir: string,
  env: Record<string, string | undefined> = process.env,
): { raw: Record<(typeof DOCUMENTS)[number], unknown>; files: ConfigFiles; source: PolicySource } {
  const files = Object.fromEntries(DOCUMENTS.map((name) => [name, path.join(dir, `${name}.yaml`)])) as ConfigFiles;
  const texts = Object.fromEntries(DOCUMENTS.map((name) => [name, readText(files[name])])) as Record<
    (typeof DOCUMENTS)[number],
    string
  >;
  const raw = Object.fromEntries(DOCUMENTS.map((name) => [name, parseYaml(files[name], texts[name], env)])) as Record<
    (typeof DOCUMENTS)[number],
    unknown
  >;
  return { raw, files, source: policySource(POLICY_DOCUMENTS.map((name) => [`${name}.yaml`, texts[name]])) };
}

/**
 * Digests the files as they are on disk, before `${VAR}` substitution: the same rules deployed with different
 * connector URLs are the same policy. An auditor can recompute it: `sha256sum catalog.yaml policy.yaml | sha256sum`.
 */
export function policySource(files: readonly (readonly [name: string, text: string])[]): PolicySource {
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  const digests = files.map(([name, text]) => ({ name, sha256: sha256(text) }));
  return { files: digests, sha256: sha256(digests.map((f) => `${f.sha256}  ${f.name}\n`).join('')) };
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigFileError([{ file, path: '', message: `cannot read the file (${reason})` }]);
  }
}

function parseYaml(file: string, text: string, env: Record<string, string | undefined>): unknown {
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
