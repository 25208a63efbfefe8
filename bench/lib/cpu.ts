/**
 * CPU time by process group from /proc (Linux): the bench itself (API and load), each worker, the Temporal server
 * and PostgreSQL (the postmaster and every backend, including the ones that exited: their time is in the
 * postmaster's cutime). The machine's total shows how much of it went to other people's work. Elsewhere: empty.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface CpuGroupSpec {
  name: string;
  pid?: number;
  /** Every descendant of the bench whose command is this (and its reaped children). */
  command?: string;
}

export type CpuSnapshot = Record<string, number>;

let ticksPerSecond: number | undefined;
function hz(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  own: number;
  children: number;
}

function readProc(pid: number): Proc | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const f = text
      .slice(close + 2)
      .split(' ')
      .map(Number);
    return {
      pid,
      ppid: f[1] ?? 0,
      comm,
      own: (f[11] ?? 0) + (f[12] ?? 0),
      children: (f[13] ?? 0) + (f[14] ?? 0),
    };
  } catch {
    return undefined;
  }
}

function machineBusyTicks(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((s, x) => s + x, 0);
  return total - (f[3] ?? 0) - (f[4] ?? 0);
}

/** Cumulative CPU milliseconds per group, plus `machine` (all CPUs, everyone's work). */
export function cpuSnapshot(groups: readonly CpuGroupSpec[]): CpuSnapshot {
  if (!fs.existsSync('/proc/stat')) return {};
  const procs = new Map<number, Proc>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readProc(Number(entry));
    if (p) procs.set(p.pid, p);
  }
  const descends = (p: Proc): boolean => {
    for (let at: Proc | undefined = p, hops = 0; at && hops < 64; at = procs.get(at.ppid), hops++) {
      if (at.ppid === process.pid) return true;
    }
    return false;
  };
  const ms = (ticks: number) => (ticks * 1000) / hz();
  const out: CpuSnapshot = {};
  for (const g of groups) {
    if (g.pid !== undefined) {
      const p = procs.get(g.pid);
      // The bench's own cutime would hold reaped helper processes; the others have no children of note.
      out[g.name] = p ? ms(p.own + (g.pid === process.pid ? 0 : p.children)) : 0;
    } else if (g.command) {
      let ticks = 0;
      for (const p of procs.values()) if (p.comm === g.command && descends(p)) ticks += p.own + p.children;
      out[g.name] = ms(ticks);
    }
  }
  out.machine = ms(machineBusyTicks());
  return out;
}

export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [k, v] of Object.entries(after)) out[k] = Math.max(0, v - (before[k] ?? 0));
  return out;
}
