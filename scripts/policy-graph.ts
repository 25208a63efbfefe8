/**
 * Draws the whole policy as one Mermaid flowchart: `npm run policy:graph [-- <config dir>] [--readme]`.
 * Prints it as a fenced block; with --readme, replaces the block between the policy-graph markers in README.md.
 */
import fs from 'node:fs';
import { policyDiagram } from '../domain';
import { loadConfig } from '../platform/config-files';

const USAGE = 'usage: npm run policy:graph [-- <config dir>] [--readme]';
export const README_START = '<!-- policy-graph:start (npm run policy:graph -- --readme) -->';
export const README_END = '<!-- policy-graph:end -->';

function main(argv: string[]): number {
  const readme = argv.includes('--readme');
  const rest = argv.filter((a) => a !== '--readme');
  if (rest.length > 1 || rest[0]?.startsWith('-')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const dir = rest[0] ?? process.env.GRANTFLOW_CONFIG_DIR ?? 'config/demo';
  const block = `\`\`\`mermaid\n${policyDiagram(loadConfig(dir))}\n\`\`\``;
  if (!readme) {
    process.stdout.write(`${block}\n`);
    return 0;
  }
  const text = fs.readFileSync('README.md', 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start < 0 || end < start) {
    process.stderr.write(`README.md has no ${README_START} … ${README_END} markers\n`);
    return 1;
  }
  fs.writeFileSync('README.md', `${text.slice(0, start + README_START.length)}\n\n${block}\n\n${text.slice(end)}`);
  process.stdout.write(`README.md: policy diagram updated from ${dir}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
