import {
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OffboardingActivities } from '../../activities/offboarding';
import { identityKey, statusKey } from '../search-attributes';
import {
  getOffboardingQuery,
  offboardingReason,
  type EndedRequest,
  type EndResult,
  type OffboardingArgs,
  type OffboardingState,
} from './messages';

// Bookkeeping retries until PostgreSQL is back; it never decides anything.
const bookkeeping = proxyActivities<OffboardingActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});
// Sending a request its revoke has a budget (about 10 minutes), then the request is recorded as refused and security
// is told: an offboarding that cannot reach a request must say so, not wait silently.
const messenger = proxyActivities<OffboardingActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 15 },
});

/** At most this many sweeps of the leaver's requests: each catches requests that appeared while the last ran. */
const MAX_SWEEPS = 3;
/** How long the offboarding waits for the requests it ended to finish (a revocation's own budget is ~3 minutes). */
const SETTLE_BUDGET_MS = 15 * 60_000;

/**
 * One leave event (an identity deactivated or deleted at its source) ends everything the person had running: each open
 * request where they are requester or beneficiary, and those of the service accounts they own alone, through the
 * request's own `revoke` update from `system` (a cancel before the grant, a revoke after). Open approvals that wait on
 * them are recorded for rerouting; security is told about both. A reactivation stops it at the next step.
 */
export async function offboarding(args: OffboardingArgs): Promise<OffboardingState> {
  const s: OffboardingState = args.state ?? {
    identityId: args.identityId,
    version: args.version,
    phase: 'planning',
    sweeps: 0,
    requests: [],
    reroute: [],
    serviceAccounts: [],
    security: [],
    startedAt: new Date().toISOString(),
  };
  setHandler(getOffboardingQuery, () => s);
  const id = workflowInfo().workflowId;
  const reason = offboardingReason(s.identityId);
  const historyLimit = args.historyLimit ?? 2000;
  const publish = () => {
    upsertSearchAttributes([
      { key: identityKey, value: s.identityId },
      { key: statusKey, value: `offboarding_${s.phase}` },
    ]);
    const ended = s.requests.filter((r) => r.settled === 'ended').length;
    setCurrentDetails(
      `Offboarding ${s.identityId} (v${s.version}): ${s.phase}; ${ended}/${s.requests.length} requests ended, ` +
        `${s.reroute.length} approvals to reroute, ${s.serviceAccounts.length} service accounts without an owner.`,
    );
  };
  publish();
  if (!args.state) await bookkeeping.recordOffboarding({ offboardingId: id, event: 'started', state: s, args });

  while (s.phase === 'planning' || s.phase === 'ending' || s.phase === 'waiting') {
    if (s.phase === 'planning') {
      const plan = await bookkeeping.planOffboarding({ identityId: s.identityId });
      if (!plan.gone) {
        stop(s, `${s.identityId} is active again`);
        break;
      }
      const first = s.sweeps === 0;
      s.sweeps += 1;
      const known = new Set(s.requests.map((r) => r.requestId));
      const fresh = plan.end.filter((r) => !known.has(r.requestId));
      s.requests.push(...fresh.map((r): EndedRequest => ({ ...r, outcome: 'ending' as const, settled: undefined })));
      const rerouted = new Set(s.reroute.map((r) => r.requestId));
      const newReroutes = plan.reroute.filter((r) => !rerouted.has(r.requestId));
      s.reroute.push(...newReroutes);
      s.serviceAccounts = [...new Set([...s.serviceAccounts, ...plan.serviceAccounts])];
      s.security = plan.security;
      if (first || newReroutes.length > 0) {
        await bookkeeping.recordOffboarding({ offboardingId: id, event: 'planned', state: s, args });
      }
      // A sweep that finds nothing new, or the last allowed one, ends the loop.
      s.phase = fresh.length > 0 && s.sweeps <= MAX_SWEEPS ? 'ending' : 'finishing';
      publish();
      continue;
    }
    if (s.phase === 'ending') {
      for (const r of s.requests.filter((x) => x.settled === undefined && x.outcome === 'ending')) {
        const result = await messenger
          .endRequest({ offboardingId: id, identityId: s.identityId, requestId: r.requestId, role: r.role, reason })
          .catch((err: unknown): EndResult => ({
            requestId: r.requestId,
            outcome: 'refused',
            detail: `grantflow could not reach the request: ${err instanceof Error ? err.message : String(err)}`,
          }));
        if (result.outcome === 'stopped') {
          stop(s, `${s.identityId} is active again`);
          break;
        }
        r.outcome = result.outcome;
        if (result.status) r.finalStatus = result.status;
        if (result.detail) r.detail = result.detail;
        // Ended already, or refused: nothing to wait for. Otherwise the request is on its way out.
        r.settled =
          result.outcome === 'ending' ? 'unsettled' : result.outcome === 'already_ended' ? 'ended' : undefined;
      }
      if (s.phase === 'ending') s.phase = 'waiting';
      publish();
      continue;
    }
    // waiting: the requests finish their own revocations; poll with a growing pause, within a budget.
    const waitedSince = Date.now();
    for (let pause = 1000; ; pause = Math.min(pause * 2, 30_000)) {
      const open = s.requests.filter((r) => r.settled === 'unsettled').map((r) => r.requestId);
      if (open.length === 0 || Date.now() - waitedSince > SETTLE_BUDGET_MS) break;
      await sleep(pause);
      const settled = await bookkeeping.settledRequests({ requestIds: open });
      for (const r of s.requests) {
        const now = settled[r.requestId];
        if (!now) continue;
        r.settled = now.settled;
        r.finalStatus = now.status;
      }
    }
    s.phase = 'planning';
    publish();
    if (workflowInfo().historyLength > historyLimit) {
      return continueAsNew<typeof offboarding>({ ...args, state: s });
    }
  }

  const event = s.phase === 'stopped' ? 'stopped' : 'completed';
  s.phase = event;
  s.finishedAt = new Date().toISOString();
  publish();
  await bookkeeping.recordOffboarding({ offboardingId: id, event, state: s, args });
  return s;
}

function stop(s: OffboardingState, because: string): void {
  s.phase = 'stopped';
  s.stoppedBecause = because;
}
