import {
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../../activities/campaign';
import { campaignTimings } from '../../domain/campaign';
import { campaignKey, campaignStatusKey } from '../search-attributes';
import {
  campaignActorSchema,
  campaignConfirmSchema,
  cancelCampaignSignal,
  confirmCampaignSignal,
  getCampaignQuery,
  type CampaignArgs,
  type CampaignState,
} from './messages';

// Bookkeeping retries until PostgreSQL is back; a revoke refused by a request is an item outcome, not a retry.
const db = proxyActivities<CampaignActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

// What one step adds to the history, for the run's own estimate of its size (see carryOn).
const ACTIVITY_EVENTS = 6;
const TIMER_EVENTS = 5;
const SIGNAL_EVENTS = 4;

/**
 * One access review: snapshot the grants in scope (pages of items into PostgreSQL), open with one digest per
 * reviewer, remind and escalate on timers, close on the due date (the default for unanswered items, held by the
 * revoke-share guard until security confirms), apply every decision through the request's own workflow, close.
 * The history holds counts and cursors only, and continues as new when it grows, so 10,000 items cost no more here
 * than ten.
 */
export async function accessReviewCampaign(args: CampaignArgs): Promise<CampaignState> {
  const info = workflowInfo();
  const state: CampaignState = args.state ?? {
    campaignId: info.workflowId,
    startedAt: new Date(info.startTime).toISOString(),
    status: 'snapshotting',
    items: 0,
    remindersSent: 0,
    escalated: false,
    ignored: 0,
  };
  const timings = campaignTimings(args.definition);
  const start = Date.parse(state.startedAt);
  const limit = args.historyLimit ?? 2000;
  // The history's size, estimated from what this run did. Not workflowInfo().historyLength: a workflow task whose
  // work never reaches the history (a query's replay, a rejected message) can make it differ between the live run
  // and its replay, and a continue-as-new decided on it would not replay.
  let cost = 0;
  const run = async <T>(step: Promise<T>): Promise<T> => {
    cost += ACTIVITY_EVENTS;
    return step;
  };
  const moveClock = (to: number) => {
    state.clock = Math.max(state.clock ?? start, to);
  };

  setHandler(getCampaignQuery, () => state);
  setHandler(cancelCampaignSignal, (raw) => {
    cost += SIGNAL_EVENTS;
    const parsed = campaignActorSchema.safeParse(raw);
    if (!parsed.success) {
      state.ignored += 1;
      return;
    }
    // Once applying, decisions are reaching targets: a cancel would leave the campaign half applied.
    if (state.cancelledBy || !['snapshotting', 'open', 'awaiting_confirmation'].includes(state.status)) return;
    state.cancelledBy = parsed.data.by;
    if (parsed.data.reason) state.cancelReason = parsed.data.reason;
  });
  setHandler(confirmCampaignSignal, (raw) => {
    cost += SIGNAL_EVENTS;
    const parsed = campaignConfirmSchema.safeParse(raw);
    if (!parsed.success || state.status !== 'awaiting_confirmation' || state.confirmation) {
      if (!parsed.success) state.ignored += 1;
      return;
    }
    state.confirmation = parsed.data;
  });

  const setStatus = (status: CampaignState['status']) => {
    state.status = status;
    upsertSearchAttributes([{ key: campaignStatusKey, value: status }]);
  };
  const cancelled = () => state.cancelledBy !== undefined;
  const carryOn = async () => {
    // continueAsNewSuggested is recorded in the workflow task's started event, so a replay reads the same value.
    if (cost < limit && !workflowInfo().continueAsNewSuggested) return;
    await condition(allHandlersFinished);
    await continueAsNew<typeof accessReviewCampaign>({ ...args, state });
  };
  const finishCancelled = async () => {
    await run(
      db.cancelCampaign({
        campaignId: state.campaignId,
        by: state.cancelledBy ?? 'system',
        ...(state.cancelReason && { reason: state.cancelReason }),
      }),
    );
    setStatus('cancelled');
    await condition(allHandlersFinished);
    return state;
  };

  if (!args.state) {
    upsertSearchAttributes([{ key: campaignKey, value: args.definition.id }]);
    await run(
      db.beginCampaign({
        campaignId: state.campaignId,
        definition: args.definition,
        startedBy: args.startedBy,
        startedAt: state.startedAt,
      }),
    );
    setStatus('snapshotting');
  }

  while (state.status === 'snapshotting') {
    if (cancelled()) return finishCancelled();
    const page = await run(
      db.snapshotCampaignPage({
        campaignId: state.campaignId,
        ...(state.cursor !== undefined && { after: state.cursor }),
      }),
    );
    state.items += page.added;
    if (page.next === undefined) {
      const opened = await run(db.openCampaign({ campaignId: state.campaignId }));
      moveClock(Date.parse(opened.at));
      state.items = opened.items;
      delete state.cursor;
      setStatus('open');
    } else {
      state.cursor = page.next;
      await carryOn();
    }
  }

  while (state.status === 'open') {
    const now = state.clock ?? start;
    const nextReminder = timings.remindersMs[state.remindersSent];
    const escalation = !state.escalated ? timings.escalateMs : undefined;
    const wake = Math.min(
      start + timings.dueMs,
      ...(nextReminder !== undefined ? [start + nextReminder] : []),
      ...(escalation !== undefined ? [start + escalation] : []),
    );
    cost += TIMER_EVENTS;
    if (await condition(cancelled, Math.max(1, wake - now))) return finishCancelled();
    // The timer fired: it is the moment it was set for, whatever the task's time says.
    moveClock(wake);
    const at = (state.clock ?? start) - start;
    if (at >= timings.dueMs) {
      const closed = await run(db.closeCampaign({ campaignId: state.campaignId }));
      setStatus(closed.held ? 'awaiting_confirmation' : 'applying');
    } else if (escalation !== undefined && at >= escalation) {
      moveClock(Date.parse((await run(db.escalateCampaign({ campaignId: state.campaignId }))).at));
      state.escalated = true;
    } else if (nextReminder !== undefined && at >= nextReminder) {
      state.remindersSent += 1;
      moveClock(
        Date.parse((await run(db.remindCampaign({ campaignId: state.campaignId, round: state.remindersSent }))).at),
      );
    }
    await carryOn();
  }

  if (state.status === 'awaiting_confirmation') {
    await condition(() => cancelled() || state.confirmation !== undefined);
    if (cancelled()) return finishCancelled();
    await run(
      db.closeCampaign({
        campaignId: state.campaignId,
        ...(state.confirmation && { confirmation: state.confirmation }),
      }),
    );
    setStatus('applying');
  }

  while (state.status === 'applying') {
    const page = await run(db.applyCampaignPage({ campaignId: state.campaignId }));
    if (page.remaining === 0) {
      await run(db.finishCampaign({ campaignId: state.campaignId }));
      setStatus('closed');
    } else {
      await carryOn();
    }
  }
  await condition(allHandlersFinished);
  return state;
}
