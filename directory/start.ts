import type pg from 'pg';
import type { Config } from '../domain/config';
import type { Logger } from '../platform/logger';
import type { DirectorySource } from './records';
import { createDirectoryView, type DirectoryView } from './view';
import { syncYamlDirectory } from './yaml';

/**
 * The directory a process reads: with the YAML source, the file's difference to PostgreSQL is applied first (so a
 * user removed from the file is a leaver after a restart); SCIM and LDAP write PostgreSQL themselves.
 */
export async function startDirectory(
  pool: pg.Pool,
  config: Config,
  source: DirectorySource,
  log: Logger,
): Promise<DirectoryView> {
  if (source === 'yaml') {
    const diff = await syncYamlDirectory(pool, config.directory);
    const counts: Record<string, number> = {};
    for (const c of [...diff.identities, ...diff.groups]) counts[c.change] = (counts[c.change] ?? 0) + 1;
    log.info({ source, changes: counts, deactivated: diff.deactivations }, 'directory synced from directory.yaml');
  }
  return createDirectoryView(pool, config, source);
}
