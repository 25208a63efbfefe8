import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { CampaignDefinitions } from '../domain/campaign';
import type { Logger } from '../platform/logger';
import { campaignKey, campaignStatusKey } from '../workflows/search-attributes';
import { CAMPAIGN_SCHEDULE_PREFIX, type CampaignArgs } from '../workflows/campaign/messages';
import { SYSTEM_ACTOR } from '../domain/model';

/**
 * Makes the Temporal Schedules match the recurring campaigns of campaigns.yaml: each is created, or updated to the
 * definition as it now reads (the next run starts from it). Schedules of definitions that lost their `schedule`
 * are paused rather than deleted, so their history stays for the auditor. Idempotent: run at every start-up.
 */
export async function syncCampaignSchedules(
  client: Client,
  definitions: CampaignDefinitions,
  taskQueue: string,
  log?: Logger,
): Promise<string[]> {
  const synced: string[] = [];
  for (const definition of definitions.byId.values()) {
    const scheduleId = `${CAMPAIGN_SCHEDULE_PREFIX}${definition.id}`;
    if (!definition.schedule) {
      await client.schedule
        .getHandle(scheduleId)
        .pause('its definition in campaigns.yaml no longer has a schedule')
        .catch(() => undefined);
      continue;
    }
    const args: CampaignArgs = { definition, startedBy: SYSTEM_ACTOR };
    const options: ScheduleOptions = {
      scheduleId,
      spec: { cronExpressions: definition.schedule.cron },
      action: {
        type: 'startWorkflow',
        workflowType: 'accessReviewCampaign',
        // Temporal appends the run's time, so every run has an id of its own.
        workflowId: `campaign-${definition.id}-scheduled`,
        taskQueue,
        args: [args],
        typedSearchAttributes: [
          { key: campaignKey, value: definition.id },
          { key: campaignStatusKey, value: 'snapshotting' },
        ],
      },
      // Two reviews of the same grants at once would ask reviewers twice; a late run waits for the earlier one.
      policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: '1 day' },
      state: { paused: definition.schedule.paused, note: `campaigns.yaml version ${definitions.version}` },
    };
    try {
      await client.schedule.create(options);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((previous) => ({
        ...previous,
        spec: options.spec,
        action: options.action,
        policies: options.policies,
        state: { ...previous.state, paused: definition.schedule?.paused ?? false, note: options.state?.note },
      }));
    }
    synced.push(scheduleId);
  }
  log?.info({ schedules: synced, version: definitions.version }, 'campaign schedules in step with campaigns.yaml');
  return synced;
}
