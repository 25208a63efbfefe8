import type pg from 'pg';
import type { Config } from '../domain/config';
import type { DirectorySource } from './records';
import type { Directory } from '../domain/model';
import { ownDelegations, type OwnDelegation } from './delegations';
import { loadHandovers, withHandovers } from './handovers';
import { currentVersion, loadDirectory } from './store';

/** The configuration with the directory as PostgreSQL holds it now; what activities and the API evaluate against. */
export interface DirectoryView {
  readonly source: DirectorySource;
  current(): Promise<Config>;
}

/**
 * Catalog and policy come from the files; the directory from PostgreSQL. A snapshot is rebuilt only when the
 * directory's version moved, so a read costs one indexed query; each snapshot is immutable once handed out.
 */
export function createDirectoryView(pool: pg.Pool, base: Config, source: DirectorySource): DirectoryView {
  let cached: { version: number; config: Config } | undefined;
  let loading: Promise<{ version: number; config: Config }> | undefined;

  const load = async () => {
    // A handover moves the snapshot too (the next one a directory change makes would come too late for its owner).
    const [dirVersion, handovers] = await Promise.all([currentVersion(pool), loadHandovers(pool)]);
    const version = dirVersion * 1_000_000 + handovers.seq;
    if (cached && cached.version === version) return cached;
    const directory = withHandovers(
      withOwnDelegations(await loadDirectory(pool, source), await ownDelegations(pool)),
      handovers.rows,
    );
    const config: Config = { ...base, directory, users: new Map(directory.users.map((u) => [u.id, u])) };
    const next = { version, config };
    if (!cached || cached.version < version) cached = next;
    return next;
  };

  return {
    source,
    async current() {
      // Concurrent callers share one load; a caller that arrives after it finished checks the version again.
      loading ??= load().finally(() => (loading = undefined));
      return (await loading).config;
    },
  };
}

/** A person's own delegation (or their clearing of one) wins over the one their directory source reports. */
function withOwnDelegations(directory: Directory, own: ReadonlyMap<string, OwnDelegation>): Directory {
  if (own.size === 0) return directory;
  return {
    users: directory.users.map((u) => {
      if (!own.has(u.id)) return u;
      const { delegation: _source, ...rest } = u;
      const chosen = own.get(u.id);
      return chosen ? { ...rest, delegation: chosen } : rest;
    }),
  };
}
