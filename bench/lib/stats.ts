/** Order statistics for latency samples (nearest rank, so p99 of fewer than 100 samples is the maximum). */
export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((s, x) => s + x, 0);
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/** a / b, or NaN when either side is missing: a ratio of nothing must not read as a result. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}

/** Rounds for reports: 3 significant digits is all a shared machine's noise allows. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const scale = 10 ** (digits - Math.ceil(Math.log10(Math.abs(x))));
  return Math.round(x * scale) / scale;
}

/** Subtracts two snapshots of cumulative counters keyed by name; names that did not move are left out. */
export function diffCounters(
  before: Readonly<Record<string, { count: number; totalMs: number }>>,
  after: Readonly<Record<string, { count: number; totalMs: number }>>,
): Record<string, { count: number; totalMs: number }> {
  const out: Record<string, { count: number; totalMs: number }> = {};
  for (const [key, a] of Object.entries(after)) {
    const b = before[key];
    const d = { count: a.count - (b?.count ?? 0), totalMs: a.totalMs - (b?.totalMs ?? 0) };
    if (d.count !== 0) out[key] = d;
  }
  return out;
}
