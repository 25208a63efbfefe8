/** Four projects: unit (pure domain, no I/O), workflows (Temporal + PostgreSQL), integration (API over the whole stack), faults (crashes and races, each file on a stack of its own). */
const transform = { '^.+\\.(t|j)sx?$': ['@swc/jest'] };
// jose and other ESM-only packages are compiled to CommonJS for jest's module system.
const transformIgnorePatterns = ['/node_modules/(?!(jose)/)'];
const common = { transform, transformIgnorePatterns, testEnvironment: 'node' };

module.exports = {
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'workflows',
      testMatch: ['<rootDir>/test/workflows/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
    // The portal in Debian's Chromium against the whole stack (test/helpers/browser.ts).
    {
      ...common,
      displayName: 'portal',
      testMatch: ['<rootDir>/test/portal/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
    // The model-based test of the promise on random histories: a fixed seed and 12 histories here (about a minute);
    // `npm run test:model` runs 400 from a new seed (nightly).
    {
      ...common,
      displayName: 'model',
      testMatch: ['<rootDir>/test/model/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
    // Crash, restart and race tests: each file runs its own stack in a child process (test/helpers/fault-stack.ts).
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'] },
  ],
};
