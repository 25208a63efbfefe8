/**
 * Writes jest's count as one plain line, `jest: N passed, N failed` (`, N skipped` when some were), to
 * test-output/jest-summary.txt: .ci/run prints it last, so that whoever reads the closing lines of the CI log counts
 * the tests rather than guessing from other tools' output above them (the OpenAPI fuzzer prints a summary of its own).
 */
const fs = require('node:fs');
const path = require('node:path');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed`;
    const file = path.join(__dirname, '..', '..', 'test-output', 'jest-summary.txt');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${skipped ? `${line}, ${skipped} skipped` : line}\n`);
  }
}
module.exports = SummaryReporter;
