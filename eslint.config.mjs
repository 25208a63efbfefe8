import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'child_process',
  'http',
  'https',
  'net',
  'crypto',
  'dns',
  'tls',
  'stream',
  'worker_threads',
  'process',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.grantflow/',
      '.tools/',
      'coverage/',
      'jest.config.js',
      'test/helpers/summary-reporter.js',
      'eslint.config.mjs',
      'web/dist/',
      'test-output/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.mts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed: it must stay deterministic and free of I/O.
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins.flatMap((m) => [m, `node:${m}`]), 'pg', 'express', 'pino'].map((name) => ({
            name,
            message: 'Workflow and domain code must be deterministic and free of I/O.',
          })),
          patterns: [
            {
              group: ['**/activities/*', '**/api/*', '**/worker/*'],
              message: 'Dependencies flow one way (type imports excepted).',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'No environment access in workflows.' }],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use the workflow uuid4() or deterministic ids.' },
      ],
    },
  },
);
