import {
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { MoverActivities } from '../../activities/mover';
import { identityKey, statusKey } from '../search-attributes';
import { getMoverQuery, type MoverArgs, type MoverState } from './messages';

const bookkeeping = proxyActivities<MoverActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

/**
 * A mover (new manager or department): the live grants whose approval rested on the old facts are flagged for
 * re-certification by the new manager, and the mover's open approvals that wait on the old manager are recorded for
 * rerouting. Nothing is revoked here: the person still works here, and the new manager (or an access review) decides.
 */
export async function mover(args: MoverArgs): Promise<MoverState> {
  const s: MoverState = {
    identityId: args.identityId,
    version: args.version,
    phase: 'planning',
    active: true,
    recertify: [],
    reroute: [],
    reviewers: [],
  };
  setHandler(getMoverQuery, () => s);
  upsertSearchAttributes([
    { key: identityKey, value: s.identityId },
    { key: statusKey, value: 'mover_planning' },
  ]);
  Object.assign(s, await bookkeeping.planMove({ identityId: args.identityId, version: args.version }));
  s.phase = 'completed';
  await bookkeeping.recordMove({ moverId: workflowInfo().workflowId, args, state: s });
  upsertSearchAttributes([{ key: statusKey, value: 'mover_completed' }]);
  setCurrentDetails(
    `Mover ${s.identityId} (v${s.version}): ${s.recertify.length} grants to re-certify, ${s.reroute.length} approvals to reroute.`,
  );
  return s;
}
