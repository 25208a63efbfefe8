/**
 * The OpenAPI document against what the API enforces: schemathesis (PyPI, installed by .ci/run into a venv outside
 * the clone) generates requests from /openapi.json, valid and invalid, sends them to the running API with a
 * development token and checks every answer with all its checks. Zero failures means the document says what the
 * API accepts, refuses and answers. The run is bounded (test/fuzz/schemathesis.toml) to keep CI short.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { signDevToken } from '../../api/auth';
import { createTestApp } from '../helpers/api';
import { startEnv, uniqueId, type TestEnv } from '../helpers/harness';

jest.setTimeout(600_000);

const SECRET = 'openapi-fuzz-test-secret-0123456789';
const root = path.join(__dirname, '..', '..');
const schemathesis =
  process.env.GRANTFLOW_SCHEMATHESIS ??
  path.join(os.homedir(), '.cache', 'grantflow', 'venv-schemathesis', 'bin', 'schemathesis');
// The fuzzer's caller: its own user, so the claims it leaves behind touch no other suite; in security, so the
// audit and KPI operations answer it too.
const fuzzer = `fuzz-${uniqueId('u').replace(/[^a-z0-9-]/g, '')}`;

let env: TestEnv;
let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  if (!fs.existsSync(schemathesis)) {
    throw new Error(
      `schemathesis is not installed at ${schemathesis}; .ci/run installs it (or set GRANTFLOW_SCHEMATHESIS).`,
    );
  }
  env = await startEnv({
    title: 'openapi-fuzz',
    configure: (raw) => {
      raw.directory.users.push({
        id: fuzzer,
        name: 'Fuzz Tester',
        department: 'engineering',
        manager: 'bob',
        groups: ['engineering', 'security'],
      });
      return raw;
    },
  });
  server = http.createServer(createTestApp(env, SECRET, { rateLimitPerMinute: 100_000 }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await env?.stop();
});

// The seed is the config file's (CI's); GRANTFLOW_FUZZ_SEED runs another, e.g. to widen a search before a release.
const seed = process.env.GRANTFLOW_FUZZ_SEED;

test('schemathesis finds no failure with all checks', async () => {
  const token = await signDevToken({ userId: fuzzer, secret: SECRET, ttl: '1h' });
  const child = spawn(
    schemathesis,
    [
      '--config-file',
      path.join(root, 'test', 'fuzz', 'schemathesis.toml'),
      'run',
      `${baseUrl}/openapi.json`,
      '--header',
      `Authorization: Bearer ${token}`,
      ...(seed ? ['--seed', seed] : []),
    ],
    // Its cache (.schemathesis/) goes to a temporary folder, not the clone.
    {
      cwd: fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-fuzz-')),
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (status !== 0) process.stderr.write(output);
  // One line in any case: which seed ran and schemathesis's verdict.
  const lines = output.split('\n').filter((line) => line.trim());
  const verdict = lines.filter((line) => /^Seed: |^=+ .* in [\d.]+s =+$/.test(line.trim())).join('; ');
  process.stdout.write(`openapi-fuzz: ${verdict || lines.at(-1)}\n`);
  expect({ status, summary: output.split('\n').slice(-12).join('\n') }).toEqual({
    status: 0,
    summary: expect.stringMatching(/No issues found|passed/),
  });
});
