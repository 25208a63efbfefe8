/**
 * Runs the policy's test cases: `npm run policy:test [-- <config dir>]` (default GRANTFLOW_CONFIG_DIR or config/demo).
 * Each case in `<dir>/policy-tests.yaml` goes through the same policy engine as the workflow and the preview; a
 * failing case prints expected against actual, and a rule that no case reaches fails the suite too.
 */
import { formatReport, runPolicyTests } from '../platform/policy-cases';

const USAGE = 'usage: npm run policy:test [-- <config dir>]';

function main(argv: string[]): number {
  if (argv.length > 1 || argv[0]?.startsWith('-')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const dir = argv[0] ?? process.env.GRANTFLOW_CONFIG_DIR ?? 'config/demo';
  const suite = runPolicyTests(dir, process.env);
  process.stdout.write(`${formatReport(suite)}\n`);
  return suite.passed ? 0 : 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
