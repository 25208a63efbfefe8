import { proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { DirectorySyncActivities } from '../../activities/directory-sync';
import type { DirectorySyncArgs, DirectorySyncOutcome } from './messages';

// A read that fails is recorded by the activity as a failed sync (nothing changed) and is no error here; only a
// PostgreSQL outage throws, and is tried again a few times before the run gives up until the next one.
const sync = proxyActivities<DirectorySyncActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 4 },
});

/** One pull of the LDAP source, on the schedule or on demand: fail-safe, guarded, its diff kept in PostgreSQL. */
export async function directorySync(args: DirectorySyncArgs): Promise<DirectorySyncOutcome> {
  const outcome = await sync.syncDirectory({ ...args, run: workflowInfo().workflowId });
  setCurrentDetails(
    `Directory sync ${outcome.id}: ${outcome.status}, ${outcome.changes} changes, ` +
      `${outcome.deactivations} deactivations${outcome.error ? ` (${outcome.error})` : ''}.`,
  );
  return outcome;
}
