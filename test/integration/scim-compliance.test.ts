import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { directoryDb, scimApp, type DirectoryDb, type ScimApp } from '../helpers/directory';

/** scim2-tester (through scim2-cli), installed by .ci/run in a venv outside the clone. */
const SCIM2 = process.env.GRANTFLOW_SCIM2_CLI ?? path.join(os.homedir(), '.cache', 'grantflow', 'venv', 'bin', 'scim2');

let db: DirectoryDb;
let scim: ScimApp;
let server: Server;
let url: string;

beforeAll(async () => {
  if (!fs.existsSync(SCIM2)) {
    throw new Error(`scim2-cli is not installed at ${SCIM2}; bash .ci/run installs it (or set GRANTFLOW_SCIM2_CLI).`);
  }
  db = await directoryDb();
  scim = scimApp(db);
  server = await new Promise<Server>((resolve) => {
    const s = scim.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scim/v2`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await scim?.connection.close().catch(() => undefined);
  await db?.drop();
});

function runTester(token: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // The token goes through the environment, not the command line other users could read.
    const child = spawn(SCIM2, ['--url', url, 'test', '--check-status-code', '--check-content-type'], {
      env: { ...process.env, SCIM_CLI_HEADERS: `Authorization: Bearer ${token}`, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const failures = (output: string) => output.split('\n').filter((l) => /^(ERROR|CRITICAL)\b/.test(l));

test('scim2-tester finds no failure against /scim/v2', async () => {
  const { code, output } = await runTester(await scim.tokens.issue('scim2-tester'));
  const failed = failures(output);
  if (failed.length > 0 || code !== 0) process.stderr.write(output);
  expect(failed).toEqual([]);
  expect(code).toBe(0);
  // A run that checked next to nothing would also have no failure.
  expect(output.split('\n').filter((l) => l.startsWith('SUCCESS')).length).toBeGreaterThan(100);
}, 120_000);

test('the same run with a wrong token fails (the check can fail)', async () => {
  const { code } = await runTester('gfscim_not-a-token');
  expect(code).not.toBe(0);
}, 60_000);
