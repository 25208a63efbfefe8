/**
 * `npm run bench:audit`: appends per second of the keyed audit chain (HMAC per event, dense seq, the append-only
 * trigger on the table) as a ratio to the unkeyed chain it replaced (bench/baseline/audit-unkeyed.ts), measured in
 * the same run on the same embedded PostgreSQL (durable settings, as `npm run dev`). Rounds alternate
 * (unkeyed, keyed, keyed, unkeyed, …) so a drifting machine hurts both alike. Writes
 * bench/results/audit-chain/latest.{json,md}. Options: --events N per round (default 3000), --writers N appenders
 * in flight (default 16), --rounds N per side (default 4).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createAuditLog } from '../activities/audit';
import { parseKeyring } from '../activities/audit-chain';
import type { AuditEventInput } from '../activities/types';
import { createPool, migrate } from '../platform/db';
import { ensureDatabase, startEmbeddedPostgres, tempDir } from '../scripts/postgres';
import { freePort } from '../scripts/temporal';
import { createUnkeyedAuditLog } from './baseline/audit-unkeyed';
import { machine } from './lib/machine';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer.`);
  return value;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

async function main(): Promise<void> {
  const events = option('events', 3000);
  const writers = option('writers', 16);
  const rounds = option('rounds', 4);
  const dir = tempDir('grantflow-bench-audit-');
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), port: await freePort() });
  try {
    await ensureDatabase(server.url('postgres'), 'grantflow');
    const url = server.url('grantflow');
    await migrate(url);
    const pool = createPool(url, writers + 4);
    // The table as the initial migration made it, before keying: no key_id, no mac, no trigger.
    await pool.query(`CREATE TABLE unkeyed_audit_events (
      seq bigserial PRIMARY KEY, event_id text NOT NULL UNIQUE, request_id text, actor text NOT NULL,
      action text NOT NULL, at timestamptz NOT NULL, data jsonb NOT NULL DEFAULT '{}', prev_hash text NOT NULL,
      hash text NOT NULL)`);
    await pool.query('CREATE INDEX ON unkeyed_audit_events (request_id)');
    await pool.query('CREATE INDEX ON unkeyed_audit_events (at)');
    const sides = {
      unkeyed: createUnkeyedAuditLog(pool, 'unkeyed_audit_events'),
      keyed: createAuditLog(pool, { keyring: parseKeyring('bench:bench-audit-hmac-key-0123456789abcdef', 'bench') }),
    };
    let n = 0;
    // What a workflow records: one event per activity call, a few fields of data.
    const next = (): AuditEventInput => {
      n += 1;
      return {
        eventId: `bench-${n}:step`,
        requestId: `bench-${Math.floor(n / 12)}`,
        actor: 'system',
        action: 'approved',
        at: new Date().toISOString(),
        data: { stage: 1, approver: 'bob', comment: 'Looks fine for the quarter.', n },
      };
    };
    async function round(side: keyof typeof sides): Promise<number> {
      const log = sides[side];
      let left = events;
      const start = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: writers }, async () => {
          while (left > 0) {
            left -= 1;
            await log.append([next()]);
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      return events / seconds;
    }
    // Warm-up: connections, plans, JIT of both paths.
    await round('unkeyed');
    await round('keyed');
    const rates: Record<keyof typeof sides, number[]> = { unkeyed: [], keyed: [] };
    const order: (keyof typeof sides)[] = [];
    for (let i = 0; i < rounds; i++)
      order.push(...(i % 2 ? (['keyed', 'unkeyed'] as const) : (['unkeyed', 'keyed'] as const)));
    for (const side of order) {
      const rate = await round(side);
      rates[side].push(rate);
      process.stdout.write(`  ${side.padEnd(8)} ${rate.toFixed(0).padStart(6)} appends/s\n`);
    }
    const keyed = median(rates.keyed);
    const unkeyed = median(rates.unkeyed);
    const verifyStart = Date.now();
    const verdict = await sides.keyed.verify();
    const verifyMs = Date.now() - verifyStart;
    const result = {
      at: new Date().toISOString(),
      machine: machine(),
      settings: { events, writers, rounds },
      appendsPerSecond: { unkeyed: Math.round(unkeyed), keyed: Math.round(keyed) },
      ratio: Math.round((keyed / unkeyed) * 100) / 100,
      rounds: rates,
      verify: { events: verdict.count, ok: verdict.ok, ms: verifyMs },
    };
    const summary = [
      `keyed chain: ${result.appendsPerSecond.keyed} appends/s; unkeyed chain: ${result.appendsPerSecond.unkeyed} appends/s`,
      `ratio keyed / unkeyed: ${result.ratio} (median of ${rounds} rounds each, ${events} events, ${writers} writers)`,
      `verify of the keyed chain: ${verdict.count} events in ${verifyMs} ms (ok: ${verdict.ok})`,
    ];
    process.stdout.write(`${summary.join('\n')}\n`);
    const out = path.join(__dirname, 'results', 'audit-chain');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    await pool.end();
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
