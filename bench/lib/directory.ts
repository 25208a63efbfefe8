/**
 * The bench's organisation: the demo's catalog and policy unchanged, its directory plus synthetic employees, all in
 * engineering and managed by bob. Each request gets a beneficiary of its own, because a second pending or live
 * request for the same entitlement is (rightly) rejected.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What the users of each prefix are for; the prefix keeps the phases' users apart. */
export type Purpose = 'h' | 'l' | 't' | 'c' | 's';

export function benchUserId(purpose: Purpose, i: number): string {
  // A valid directory id and PostgreSQL role name (the postgres-role connector creates one per beneficiary).
  return `b${purpose}${String(i).padStart(5, '0')}`;
}

/** One YAML line per synthetic user, in the demo directory's flow style. */
export function syntheticUserLines(counts: Readonly<Record<Purpose, number>>): string[] {
  const lines: string[] = [];
  for (const [purpose, count] of Object.entries(counts) as [Purpose, number][]) {
    for (let i = 1; i <= count; i++) {
      const id = benchUserId(purpose, i);
      lines.push(`  - { id: ${id}, name: Bench user ${id}, department: engineering, manager: bob }`);
    }
  }
  return lines;
}

/** Writes directory.yaml (demo + synthetic users), catalog.yaml and policy.yaml into `dir`. */
export function writeBenchConfig(demoDir: string, dir: string, counts: Readonly<Record<Purpose, number>>): void {
  fs.mkdirSync(dir, { recursive: true });
  const demo = fs.readFileSync(path.join(demoDir, 'directory.yaml'), 'utf8').trimEnd();
  fs.writeFileSync(
    path.join(dir, 'directory.yaml'),
    [demo, '  # Synthetic users written by bench/run.ts', ...syntheticUserLines(counts), ''].join('\n'),
  );
  for (const name of ['catalog.yaml', 'policy.yaml']) fs.copyFileSync(path.join(demoDir, name), path.join(dir, name));
}

/** Hands out each phase's users once; undefined when a phase has used all of its own. */
export class UserPool {
  private readonly next: Record<Purpose, number> = { h: 0, l: 0, t: 0, c: 0, s: 0 };

  constructor(private readonly counts: Readonly<Record<Purpose, number>>) {}

  take(purpose: Purpose): string | undefined {
    if (this.next[purpose] >= this.counts[purpose]) return undefined;
    this.next[purpose] += 1;
    return benchUserId(purpose, this.next[purpose]);
  }

  used(purpose: Purpose): number {
    return this.next[purpose];
  }
}
