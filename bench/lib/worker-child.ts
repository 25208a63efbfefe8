/** The bench's side of a worker process (bench/worker.ts): start it, read its memory and probes, stop it. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { FromWorker, ToWorker } from '../worker';
import type { ProbeSnapshot } from './probes';

export interface MemorySample {
  at: number;
  rss: number;
  heapUsed: number;
}

export interface WorkerChild {
  name: string;
  pid: number;
  /** The latest sample and the largest RSS seen since `resetMax`. */
  memory(): { latest?: MemorySample; maxRss: number };
  resetMax(): void;
  probe(): Promise<ProbeSnapshot>;
  stop(): Promise<void>;
}

const root = path.join(__dirname, '..', '..');

export async function startWorkerChild(
  name: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  timeoutMs = 120_000,
): Promise<WorkerChild> {
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/worker.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log, 'ipc'],
  });
  let latest: MemorySample | undefined;
  let maxRss = 0;
  let nextId = 0;
  const probes = new Map<number, (s: ProbeSnapshot) => void>();
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`The ${name} worker was not ready within ${timeoutMs} ms.`)),
      timeoutMs,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The ${name} worker exited with code ${code} while starting; see ${logFile}.`));
    });
    child.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve();
      } else if (message.type === 'memory') {
        latest = message;
        maxRss = Math.max(maxRss, message.rss);
      } else if (message.type === 'probe') {
        probes.get(message.id)?.(message.snapshot);
        probes.delete(message.id);
      }
    });
  });
  await ready;
  const send = (message: ToWorker) => child.send(message);

  return {
    name,
    pid: child.pid as number,
    memory: () => ({ latest, maxRss }),
    resetMax: () => {
      maxRss = latest?.rss ?? 0;
    },
    probe: () =>
      new Promise<ProbeSnapshot>((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => {
          probes.delete(id);
          reject(new Error(`The ${name} worker did not answer a probe within 10 s.`));
        }, 10_000);
        probes.set(id, (s) => {
          clearTimeout(timer);
          resolve(s);
        });
        send({ type: 'probe', id });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      fs.closeSync(log);
    },
  };
}
