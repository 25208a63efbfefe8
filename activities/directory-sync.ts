import type pg from 'pg';
import type { Config } from '../domain/config';
import type { DeactivationGuard } from '../directory/diff';
import type { LdapRead } from '../directory/ldap';
import { confirmLdapSync, syncLdap, SyncConfirmationError, type SyncResult } from '../directory/sync';
import type { DirectorySyncArgs, DirectorySyncOutcome } from '../workflows/identity/messages';

export interface DirectorySyncActivities {
  syncDirectory(input: DirectorySyncArgs & { run: string }): Promise<DirectorySyncOutcome>;
}

export interface DirectorySyncDeps {
  pool: pg.Pool;
  /** Reads the whole source (LDAP: readLdapDirectory over ldap.yaml). */
  read: () => Promise<LdapRead>;
  guard?: DeactivationGuard;
  /** The live directory, for who is security when a held sync is confirmed. */
  directory?: { current(): Promise<Config> };
}

export function createDirectorySyncActivities(deps: DirectorySyncDeps): DirectorySyncActivities {
  return {
    async syncDirectory({ dryRun, actor, confirm }) {
      let result: SyncResult;
      if (confirm !== undefined) {
        if (!deps.directory) throw new Error('The worker has no live directory to confirm a sync against.');
        try {
          result = await confirmLdapSync(deps.pool, confirm, actor, await deps.directory.current(), deps.read);
        } catch (err) {
          // A refusal is an answer, not a failure to retry: nothing changed.
          if (!(err instanceof SyncConfirmationError)) throw err;
          return {
            id: confirm,
            status: 'refused',
            error: err.message,
            refusal: err.refusal,
            changes: 0,
            deactivations: 0,
          };
        }
      } else {
        result = await syncLdap(deps.pool, {
          read: deps.read,
          dryRun,
          actor,
          ...(deps.guard && { guard: deps.guard }),
        });
      }
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
