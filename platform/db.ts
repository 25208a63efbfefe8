import path from 'node:path';
import pg from 'pg';
import type { Logger } from './logger';

export type Pool = pg.Pool;

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  // So must a checked-out client (e.g. one holding a transaction across a connector call) when the server goes away:
  // its query fails and the activity retries, instead of the process dying on an unhandled 'error' event.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Applies pending migrations; safe to run twice and from several processes at once (node-pg-migrate locks). */
export async function migrate(databaseUrl: string, log?: Logger): Promise<void> {
  // node-pg-migrate is ESM-only; loading it lazily keeps this module usable from CommonJS test runners.
  const { runner } = await import('node-pg-migrate');
  await runner({
    databaseUrl,
    dir: path.join(__dirname, '..', 'migrations'),
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    log: (msg) => log?.debug({ msg }, 'migration'),
  });
}
