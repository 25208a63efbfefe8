import {
  ActivityFailure,
  patched,
  workflowInfo,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/types';
import { formatDuration } from '../../domain/duration';
import { tagKeywords } from '../../domain/taxonomy';
import { initialView, type AccessRequestArgs, type RequestView } from '../messages';
import {
  beneficiaryKey,
  breakGlassKey,
  entitlementKey,
  expiresAtKey,
  pendingApproversKey,
  requesterKey,
  resourceKey,
  riskLevelKey,
  statusKey,
  tagsKey,
} from '../search-attributes';
import { connectorTaskQueue } from './connector-queue';
import { extensionEvaluated, totalAfter } from './extension';
import { registerHandlers } from './handlers';
import {
  activated,
  advance,
  closed,
  evaluated,
  fail,
  needsWork,
  nextWake,
  refreshPending,
  revoked,
  submitted,
} from './machine';
import { projectionOf, summaryOf } from './projection';
import { reviewOpen } from './review';
import { seatDecided } from './seats';
import { clone, initialState, touch, type RequestState } from './state';

// Bookkeeping (audit, projection, notifications) must never be lost: it retries until PostgreSQL is back.
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '20s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s' },
});
const facts = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '5s', nonRetryableErrorTypes: ['ConfigError'] },
});

// The policy's evaluation as a local activity: a short database step that runs in the worker within the workflow
// task, with no round trip through the server's task queue, and leaves one marker in the history instead of three
// events and a workflow task of its own (issue 14). Only it: a local activity runs before its workflow task is
// committed, and when that task is retried (a worker crash, a task that timed out, an update's speculative task
// dropped) the workflow runs again, possibly with messages that arrived meanwhile. The bookkeeping would then write
// other audit events under the same sequence numbers and another view at the same revision (the model test found
// both); a scheduled activity's input is in the history, so it can only repeat. The evaluation is safe to repeat:
// the claim it takes is the request's own. The claim's release stays scheduled too: run locally, the close it
// allows happened in the same task as an earlier update's answer, which then named a status not yet written.
const localFacts = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '5s', nonRetryableErrorTypes: ['ConfigError'] },
});

/** Keeps workflow history small: a long-lived request continues as new past this many events. */
const HISTORY_LIMIT = 2000;
// Events a step adds to the history: an activity with its workflow task, a timer, a message.
const ACTIVITY_EVENTS = 6;
const TIMER_EVENTS = 4;
const MESSAGE_EVENTS = 4;
/** About three minutes of attempts: long enough to ride out a short outage, short enough to alert on. */
const CONNECTOR_ATTEMPTS = 12;

/**
 * One access request, from submission to the end of its grant: the lifecycle as an explicit state machine
 * (workflows/request/machine.ts) driven by this loop, which does the I/O the machine asks for.
 */
export async function accessRequestV2(args: AccessRequestArgs): Promise<RequestView> {
  const carried = args.state as RequestState | undefined;
  const s: RequestState = carried ?? initialState(initialView(args));
  // The request's clock. Date.now() in a workflow is the time of the workflow task, and with SDK 1.24 the first task
  // after a worker lost its cache (a restart, an eviction) can run with the time of the task before it when events
  // arrived while it was queued; a replay then sees the true time, takes another decision on a deadline, and fails
  // as nondeterministic (the model test found it). So decisions read a clock that moves only on what the history
  // holds: the run's start, a timer that fired (to the moment it was set for), a message (to the task's time, as
  // the handler sees it), a grant (to its start). Runs recorded before it keep the task's time (patched).
  const ownClock = patched('request-clock');
  // This release's changes to the request path come in together, behind one patch asked here, once, before the run
  // issues any command. Asked later, a patch's marker would fall among the commands of whichever coroutine reached it
  // first, and a replay could meet another order. One patch, not one per change: each costs every history a marker
  // and a search-attribute upsert, and the history's size is a target (issue "Organisation scale"). Runs started
  // before it go on as they were, each change off:
  const release = patched('request-2026-12');
  // - the tags as the search attribute GrantflowTags;
  const tagsSearch = release;
  s.patches = {
    // - a stage's SLA counted in its approvers' business hours (sla.clock: business);
    businessHours: release,
    // - a licence-limited entitlement's seat taken, or waited for in line, before provisioning;
    seats: release,
    // - a leaver's open approvals handed to the stage's fallback (the `reroute` message): without it a run has no
    //   handler for it, and the offboarding falls back to recording `reroute_needed`;
    reroute: release,
  };
  // - the flusher publishes (a search-attribute upsert) only while the main loop is parked, after its command for this
  //   step: without it a flush that completes in the activation that wakes the main loop issued its upsert before or
  //   after the main loop's next command by microtask order, and the model test once replayed another order;
  const orderedPublish = release;
  // - one bookkeeping step per state transition: the submission is written with the evaluation's outcome (not in a
  //   step of its own), and the evaluation is a local activity;
  const lean = release;
  // - the connector calls on a task queue of their own, whose worker's slots bound the calls at the targets: a call
  //   that waits for a slot waits before its attempt starts (workflows/request/connector-queue.ts says why).
  const connectorQueue = release;
  const evaluation = lean ? localFacts : facts;
  // A connector call that the promise depends on has a budget; then the request shows `failed` and alerts.
  const connectors = proxyActivities<Activities>({
    ...(connectorQueue && { taskQueue: connectorTaskQueue(workflowInfo().taskQueue) }),
    startToCloseTimeout: '60s',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '20s',
      maximumAttempts: args.connectorAttempts ?? CONNECTOR_ATTEMPTS,
      nonRetryableErrorTypes: ['GrantEnded', 'ConfigError'],
    },
  });
  if (ownClock) s.clock = Math.max(s.clock ?? 0, workflowInfo().runStartTime.getTime());
  const now = () => (ownClock ? (s.clock as number) : Date.now());
  const reach = (t: number) => {
    if (ownClock && t > (s.clock as number)) s.clock = t;
  };
  const messageNow = () => {
    reach(Date.now());
    return now();
  };
  const step = () => {
    advance(s, now());
    refreshPending(s);
    s.tick++;
  };
  // The history's size, estimated from what this run did. Not workflowInfo().historyLength: an update rejected by
  // its validator runs in a workflow task that is then dropped from the history, so the length seen while running
  // can differ from the length seen on replay, and a decision taken on it would not replay (the model test found it).
  let cost = 0;
  const charge = (events: number) => (cost += events);
  registerHandlers({
    state: s,
    now: messageNow,
    step: () => {
      charge(MESSAGE_EVENTS);
      step();
    },
  });

  // The flusher issues its commands only while the main loop is parked (its own command for this step already
  // issued). Two coroutines woken in one activation would otherwise order their commands by microtask timing, which
  // jobs that never reach the history (a rejected update, a query) can shift: a replay then sees another order.
  // With local activities there is a second hazard: a local activity's result resolves in an activation of its own
  // when it runs, but may resolve together with what else was in flight when a replay reads its marker, so the two
  // coroutines would again race (the replay test found it with two local activities at once). So the flusher starts
  // nothing while the main loop runs a local activity.
  let stopping = false;
  let parked = false;
  let localWork = false;
  const park = async <T>(waiting: Promise<T>): Promise<T> => {
    parked = true;
    try {
      return await waiting;
    } finally {
      parked = false;
    }
  };
  const flusher = (async () => {
    for (;;) {
      // While the policy is asked, nothing is flushed: the submission goes with the evaluation's outcome.
      const deferred = () => lean && s.phase.name === 'validating';
      await condition(() => (parked && !localWork && s.outbox.queued > s.outbox.flushed && !deferred()) || stopping);
      if (s.outbox.queued <= s.outbox.flushed) return;
      const target = s.outbox.queued;
      const events = s.outbox.events.splice(0);
      const notifications = s.outbox.notifications.splice(0);
      s.view.updatedAt = new Date(now()).toISOString();
      const snapshot = clone(s.view);
      // Audit events, the projection row and the notification outbox go in one activity, in that order.
      charge(ACTIVITY_EVENTS);
      await bookkeeping.bookkeep({ events, notifications, projection: projectionOf(snapshot, ++s.counters.revision) });
      if (orderedPublish) await condition(() => parked || stopping);
      publish(snapshot, tagsSearch);
      s.published = snapshot;
      s.outbox.flushed = Math.max(s.outbox.flushed, target);
    }
  })();

  if (!carried) submitted(s, now(), args.input.duration);
  for (;;) {
    step();
    if (s.phase.name === 'closed' && !reviewOpen(s)) break;
    if (needsWork(s)) {
      charge(ACTIVITY_EVENTS);
      localWork = lean && runsLocally(s);
      try {
        await park(work(s, args, evaluation, connectors, now, reach));
      } finally {
        localWork = false;
      }
      continue;
    }
    if (cost > (args.historyLimit ?? HISTORY_LIMIT)) {
      // A handler may be waiting on work of the main loop (an extension's evaluation): do that work first.
      await park(condition(() => (s.outbox.flushed >= s.outbox.queued && allHandlersFinished()) || needsWork(s)));
      if (!needsWork(s) && s.outbox.flushed >= s.outbox.queued && allHandlersFinished()) {
        stopping = true;
        await flusher;
        return continueAsNew<typeof accessRequestV2>({ ...args, carried: undefined, state: s });
      }
      continue;
    }
    const tick = s.tick;
    const wake = nextWake(s);
    charge(TIMER_EVENTS);
    const woken = () => s.tick !== tick;
    if (wake === Infinity) {
      await park(condition(woken));
    } else if (!(await park(condition(woken, Math.max(1, wake - Date.now()))))) {
      reach(wake); // the timer fired: it is the moment it was set for
    }
  }
  await park(condition(() => s.outbox.flushed >= s.outbox.queued && allHandlersFinished()));
  stopping = true;
  await flusher;
  return s.published;
}

/** Whether the work the phase asks for is a local activity (the evaluation) in runs with `lean-bookkeeping`. */
function runsLocally(s: RequestState): boolean {
  return s.phase.name === 'validating';
}

/** The I/O the current phase asks for; its outcome goes back into the machine. */
async function work(
  s: RequestState,
  args: AccessRequestArgs,
  evaluation: typeof facts,
  connectors: ReturnType<typeof proxyActivities<Activities>>,
  now: () => number,
  reach: (t: number) => void,
): Promise<void> {
  const p = s.phase;
  const grant = s.grant;
  switch (p.name) {
    case 'validating': {
      const result = await evaluation.evaluateRequest({
        requestId: s.view.id,
        requester: s.view.requester,
        input: args.input,
        now: new Date(now()).toISOString(),
      });
      return evaluated(s, result, now());
    }
    case 'awaiting_seat': {
      const seats = grant?.seats;
      if (!grant || !seats) return;
      const decision = await facts.takeSeat({
        requestId: s.view.id,
        beneficiary: grant.beneficiary,
        entitlement: grant.entitlement,
        breakGlass: s.view.breakGlass,
        since: p.since,
        limit: seats.limit,
        whenFull: seats.whenFull,
      });
      return seatDecided(s, decision, now());
    }
    case 'closing':
      // Free the claim before the request shows as closed, so that a new request may follow at once.
      await bookkeeping.releaseClaim({
        requestId: s.view.id,
        beneficiary: s.view.beneficiary,
        entitlement: s.view.entitlement,
      });
      return closed(s, now());
    case 'provisioning': {
      if (!grant) return;
      s.accessMayExist = true;
      touch(s);
      try {
        const live = await connectors.grantAccess({
          requestId: s.view.id,
          grant,
          plannedAt: new Date(now()).toISOString(),
        });
        reach(Date.parse(live.startedAt));
        return activated(s, live.startedAt, live.expiresAt, now());
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        return fail(s, 'provisioning', `Granting failed: ${err.cause?.message ?? err.message}`, now());
      }
    }
    case 'revoking': {
      if (!grant) return;
      try {
        // When the access ended is a fact to record, not a decision: the task's time, never before the clock (a
        // revoke that waited for Temporal to come back must not be dated at the moment it was due).
        const endedAt = Math.max(now(), Date.now());
        const result = await connectors.deprovision({
          requestId: s.view.id,
          grant,
          endedAt: new Date(endedAt).toISOString(),
        });
        return revoked(s, result.revokedAtTarget, Math.max(now(), Date.now()));
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        return fail(s, 'revocation', `Revoking the grant failed: ${err.cause?.message ?? err.message}`, now(), p);
      }
    }
    case 'active': {
      const ext = s.view.extension;
      if (ext?.status !== 'evaluating') return;
      const evaluation = await facts.evaluateExtension({
        requestId: s.view.id,
        requester: s.view.requester,
        input: { ...args.input, duration: formatDuration(totalAfter(s, ext.durationMs)) },
        now: new Date(now()).toISOString(),
      });
      return extensionEvaluated(s, evaluation, now());
    }
    default:
      return;
  }
}

/** The operator console: search attributes and the UI summary, from the view as written. */
function publish(view: RequestView, tagsSearch: boolean): void {
  upsertSearchAttributes([
    { key: statusKey, value: view.status },
    { key: requesterKey, value: view.requester },
    { key: beneficiaryKey, value: view.beneficiary },
    { key: resourceKey, value: view.resource },
    { key: entitlementKey, value: view.entitlement },
    { key: riskLevelKey, value: view.risk?.level ?? 'unknown' },
    { key: pendingApproversKey, value: view.pendingApprovers },
    { key: breakGlassKey, value: view.breakGlass },
    ...(view.grant ? [{ key: expiresAtKey, value: new Date(view.grant.expiresAt) }] : []),
    // The tags, so the Temporal UI can filter on them; runs recorded before they were published go on without.
    ...(view.tags && tagsSearch ? [{ key: tagsKey, value: tagKeywords(view.tags) }] : []),
  ]);
  setCurrentDetails(summaryOf(view));
}
