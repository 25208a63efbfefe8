import type pg from 'pg';
import type { DeactivationGuard } from '../directory/diff';
import type { LdapRead } from '../directory/ldap';
import { syncLdap } from '../directory/sync';
import type { DirectorySyncArgs, DirectorySyncOutcome } from '../workflows/identity/messages';

export interface DirectorySyncActivities {
  syncDirectory(input: DirectorySyncArgs & { run: string }): Promise<DirectorySyncOutcome>;
}

export interface DirectorySyncDeps {
  pool: pg.Pool;
  /** Reads the whole source (LDAP: readLdapDirectory over ldap.yaml). */
  read: () => Promise<LdapRead>;
  guard?: DeactivationGuard;
}

export function createDirectorySyncActivities(deps: DirectorySyncDeps): DirectorySyncActivities {
  return {
    async syncDirectory({ dryRun, actor }) {
      const result = await syncLdap(deps.pool, {
        read: deps.read,
        dryRun,
        actor,
        ...(deps.guard && { guard: deps.guard }),
      });
      return {
        id: result.id,
        status: result.status,
        ...(result.error !== undefined && { error: result.error }),
        changes: (result.diff?.identities.length ?? 0) + (result.diff?.groups.length ?? 0),
        deactivations: result.diff?.deactivations.length ?? 0,
      };
    },
  };
}
