import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import type { Express } from 'express';
import { createApp } from '../../api/app';
import { devAuthenticator } from '../../api/auth';
import { createScimTokens, type ScimTokens } from '../../api/scim/tokens';
import type { Config } from '../../domain/config';
import type { DirectorySource } from '../../directory/records';
import { createDirectoryView, type DirectoryView } from '../../directory/view';
import { loadConfig } from '../../platform/config-files';
import { createLogger } from '../../platform/logger';

const TABLES = [
  'directory_identities',
  'directory_groups',
  'directory_memberships',
  'directory_changes',
  'scim_tokens',
  'directory_syncs',
  'lifecycle_runs',
  'service_account_handovers',
  'directory_delegations',
  // Directory changes are audited: each suite gets a chain of its own.
  'audit_events',
];

export const DEMO_CONFIG_DIR = path.join(__dirname, '..', '..', 'config', 'demo');

/** The directory tables in a schema of their own, so one suite's identities never meet another's. */
export interface DirectoryDb {
  pool: pg.Pool;
  schema: string;
  drop(): Promise<void>;
}

export async function directoryDb(): Promise<DirectoryDb> {
  // The schema is made by the database owner; the application's role (DATABASE_URL) gets what it has on public.
  const admin = new pg.Pool({
    connectionString: process.env.GRANTFLOW_TEST_ADMIN_DATABASE_URL ?? process.env.DATABASE_URL,
    max: 1,
  });
  const schema = `directory_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  for (const t of TABLES) await admin.query(`CREATE TABLE ${schema}.${t} (LIKE public.${t} INCLUDING ALL)`);
  if (process.env.GRANTFLOW_TEST_ADMIN_DATABASE_URL) {
    await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO grantflow_app`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO grantflow_app`);
  }
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: 5,
    options: `-c search_path=${schema},public`,
  });
  return {
    pool,
    schema,
    async drop() {
      await pool.end();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

export interface ScimApp {
  app: Express;
  tokens: ScimTokens;
  directory: DirectoryView;
  config: Config;
  connection: Connection;
}

/** The API with SCIM on, over a directory schema; Temporal is connected lazily (SCIM never needs it). */
export function scimApp(db: DirectoryDb, source: DirectorySource = 'scim'): ScimApp {
  const config = loadConfig(DEMO_CONFIG_DIR, {});
  const directory = createDirectoryView(db.pool, config, source);
  const tokens = createScimTokens(db.pool);
  const connection = Connection.lazy({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const app = createApp({
    client: new Client({ connection }),
    pool: db.pool,
    config,
    directory,
    scim: { enabled: source === 'scim', tokens },
    auth: devAuthenticator({ secret: 'scim-test-secret-0123456789', audience: 'grantflow' }),
    log: createLogger('scim-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
    taskQueue: 'scim-test',
  });
  return { app, tokens, directory, config, connection };
}

/** A fixture body from test/fixtures/scim with `{{name}}` placeholders filled in. */
export function scimFixture(name: string, values: Record<string, string> = {}): unknown {
  const text = fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'scim', `${name}.json`), 'utf8');
  return JSON.parse(text.replace(/\{\{(\w+)\}\}/g, (_m, key: string) => values[key] ?? `{{${key}}}`));
}
