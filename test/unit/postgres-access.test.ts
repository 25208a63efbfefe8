/**
 * The root start-up check of the embedded PostgreSQL (scripts/postgres-access.ts), against real folders and the
 * kernel's own permission checks: a clone inside a folder closed to others (as /root is) is refused with a sentence,
 * an open one passes. Runs as root, as CI and `npm run dev` on a server do; the probe is a shell as that user.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { accessProblem, postgresRunner } from '../../scripts/postgres-access';

const asRoot = process.getuid?.() === 0;
let home: string;
let initdb: string;
let dataDir: string;

beforeEach(() => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-access-'));
  fs.chmodSync(top, 0o755);
  home = path.join(top, 'root');
  initdb = path.join(home, 'grantflow', 'node_modules', 'bin', 'initdb');
  fs.mkdirSync(path.dirname(initdb), { recursive: true, mode: 0o755 });
  fs.writeFileSync(initdb, '#!/bin/sh\n', { mode: 0o755 });
  dataDir = path.join(home, 'grantflow', '.grantflow', 'postgres');
});

(asRoot ? describe : describe.skip)('as root', () => {
  test('a clone in a folder closed to others (mode 700): refused, naming the binary and what to do', () => {
    fs.chmodSync(home, 0o700);
    const runner = postgresRunner();
    const problem = accessProblem(runner, [initdb], dataDir);
    expect(problem).toContain(`"${runner.name}", who cannot reach ${initdb}`);
    expect(problem).toMatch(/Clone grantflow where other users may enter .* or set DATABASE_URL/);
  });

  test('binaries reachable but the data folder not: refused, naming the nearest folder that exists', () => {
    const outside = path.join(path.dirname(home), 'initdb');
    fs.writeFileSync(outside, '#!/bin/sh\n', { mode: 0o755 });
    fs.chmodSync(path.join(home, 'grantflow'), 0o700);
    expect(accessProblem(postgresRunner(), [outside], dataDir)).toContain(
      `cannot reach ${path.join(home, 'grantflow')} `,
    );
  });

  test('a clone others may enter: no problem', () => {
    fs.chmodSync(home, 0o711);
    expect(accessProblem(postgresRunner(), [initdb], dataDir)).toBeUndefined();
  });
});
