import {
  continueAsNew,
  patched,
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
  type RerouteAnswer,
  type SettledAnswer,
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
// Events a step adds to the history (an activity with its workflow task, a timer), as the request workflow counts them.
const ACTIVITY_EVENTS = 6;
const TIMER_EVENTS = 4;

/**
 * One leave event (an identity deactivated or deleted at its source) ends everything the person had running: each open
 * request where they are requester or beneficiary through the request's own `revoke` update from `system` (a cancel
 * before the grant, a revoke after). Each service account they owned alone goes to their manager (or security) with a
 * review of its live grants; with nobody to take it, its access is ended too. Open approvals that wait on them go to
 * each stage's fallback (the request's `reroute`); those a request cannot take are recorded for a person. A reactivation stops it at the next step, and the result says what had been done.
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
    handovers: [],
    security: [],
    startedAt: new Date().toISOString(),
  };
  setHandler(getOffboardingQuery, () => s);
  // Asked once, before the run issues any command: offboardings recorded before it only audit `reroute_needed`.
  const rerouting = patched('offboarding-reroute');
  const id = workflowInfo().workflowId;
  const reason = offboardingReason(s.identityId);
  const historyLimit = args.historyLimit ?? 2000;
  const back = `${s.identityId} is active again`;
  // The history's size, estimated from what this run did. Not workflowInfo().historyLength: a workflow task dropped
  // from the history (an update refused by its validator, a query) makes the length seen while running differ from
  // the length seen on replay, and a decision taken on it would not replay.
  let cost = 0;
  const act = <T>(call: Promise<T>): Promise<T> => {
    cost += ACTIVITY_EVENTS;
    return call;
  };
  const publish = () => {
    upsertSearchAttributes([
      { key: identityKey, value: s.identityId },
      { key: statusKey, value: `offboarding_${s.phase}` },
    ]);
    const ended = s.requests.filter((r) => r.settled === 'ended').length;
    setCurrentDetails(
      `Offboarding ${s.identityId} (v${s.version}): ${s.phase}; ${ended}/${s.requests.length} requests ended, ` +
        `${s.reroute.length} approvals to reroute, ${s.serviceAccounts.length} service accounts to hand over` +
        `${s.successor ? ` to ${s.successor}` : ''}, ${s.handovers.length} handed over.`,
    );
  };
  const learn = (answer: SettledAnswer) => {
    for (const r of s.requests) {
      const now = answer.requests[r.requestId];
      if (!now) continue;
      r.settled = now.settled;
      r.finalStatus = now.status;
    }
  };
  publish();
  if (!args.state) await act(bookkeeping.recordOffboarding({ offboardingId: id, event: 'started', state: s, args }));

  while (s.phase === 'planning' || s.phase === 'ending' || s.phase === 'waiting') {
    if (s.phase === 'planning') {
      const plan = await act(bookkeeping.planOffboarding({ identityId: s.identityId }));
      if (!plan.gone) {
        s.phase = 'stopped';
        s.stoppedBecause = back;
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
      // Each open approval that waits on the leaver goes to its stage's fallback, by the request itself.
      if (rerouting) {
        for (const r of newReroutes) {
          const answer = await act(
            messenger.rerouteRequest({ offboardingId: id, identityId: s.identityId, requestId: r.requestId, reason }),
          ).catch((err: unknown): RerouteAnswer => ({
            requestId: r.requestId,
            outcome: 'refused',
            detail: `grantflow could not reach the request: ${err instanceof Error ? err.message : String(err)}`,
          }));
          r.outcome = answer.outcome;
          if (answer.to) r.to = answer.to;
          if (answer.detail) r.detail = answer.detail;
        }
      }
      s.serviceAccounts = [...new Set([...s.serviceAccounts, ...plan.serviceAccounts])];
      if (plan.successor !== undefined) s.successor = plan.successor;
      s.security = plan.security;
      if (first || newReroutes.length > 0) {
        await act(bookkeeping.recordOffboarding({ offboardingId: id, event: 'planned', state: s, args }));
      }
      // A sweep that finds nothing new, or the last allowed one, ends the loop.
      s.phase = fresh.length > 0 && s.sweeps <= MAX_SWEEPS ? 'ending' : 'finishing';
      publish();
      continue;
    }
    if (s.phase === 'ending') {
      for (const r of s.requests.filter((x) => x.settled === undefined && x.outcome === 'ending')) {
        const result = await act(
          messenger.endRequest({
            offboardingId: id,
            identityId: s.identityId,
            requestId: r.requestId,
            role: r.role,
            reason,
          }),
        ).catch((err: unknown): EndResult => ({
          requestId: r.requestId,
          outcome: 'refused',
          detail: `grantflow could not reach the request: ${err instanceof Error ? err.message : String(err)}`,
        }));
        if (result.outcome === 'stopped') {
          s.phase = 'stopped';
          s.stoppedBecause = back;
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
    // waiting: the requests finish their own revocations; poll with a growing pause, within a budget. The budget is
    // the sum of the pauses slept, never Date.now(): in the first task after a worker lost its cache the SDK can give
    // the time of the task before, so a live run could judge the budget otherwise than its replay does.
    let waited = 0;
    for (let pause = 1000; ; pause = Math.min(pause * 2, 30_000)) {
      const open = s.requests.filter((r) => r.settled === 'unsettled').map((r) => r.requestId);
      if (open.length === 0 || waited >= SETTLE_BUDGET_MS) break;
      cost += TIMER_EVENTS;
      await sleep(pause);
      waited += pause;
      const answer = await act(bookkeeping.settledRequests({ identityId: s.identityId, requestIds: open }));
      learn(answer);
      if (!answer.gone) {
        s.phase = 'stopped';
        s.stoppedBecause = back;
        break;
      }
    }
    if (s.phase === 'stopped') break;
    s.phase = 'planning';
    publish();
    if (cost > historyLimit) {
      return continueAsNew<typeof offboarding>({ ...args, state: s });
    }
  }

  if (s.phase === 'finishing' && s.successor !== undefined) {
    const owned = s.serviceAccounts.filter((a) => !s.handovers.some((h) => h.account === a));
    if (owned.length > 0) {
      const answer = await act(
        bookkeeping.handOverServiceAccounts({
          offboardingId: id,
          identityId: s.identityId,
          version: s.version,
          accounts: owned,
          successor: s.successor,
        }),
      );
      if (answer.stopped) {
        s.phase = 'stopped';
        s.stoppedBecause = back;
      }
      s.handovers.push(...answer.handovers);
    }
  }
  if (s.phase === 'stopped') {
    // Where each request it sent got to by now: the report says what was already ended, and what is still on its way
    // out (a revoke sent is not taken back: the person asks again, as anyone would).
    const sent = s.requests.filter((r) => r.settled === 'unsettled').map((r) => r.requestId);
    if (sent.length > 0) learn(await act(bookkeeping.settledRequests({ identityId: s.identityId, requestIds: sent })));
    s.stop = {
      because: s.stoppedBecause ?? back,
      alreadyEnded: s.requests
        .filter((r) => r.settled === 'ended')
        .map((r) => ({ requestId: r.requestId, ...(r.finalStatus && { status: r.finalStatus }) })),
      stillEnding: s.requests.filter((r) => r.settled === 'unsettled').map((r) => r.requestId),
      notSent: s.requests.filter((r) => r.settled === undefined && r.outcome === 'ending').map((r) => r.requestId),
    };
  }

  const event = s.phase === 'stopped' ? 'stopped' : 'completed';
  s.phase = event;
  s.finishedAt = new Date().toISOString();
  publish();
  await act(bookkeeping.recordOffboarding({ offboardingId: id, event, state: s, args }));
  return s;
}
