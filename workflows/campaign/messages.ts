import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import type { CampaignDefinition, CampaignStatus } from '../../domain/campaign';

// Wire names are stable verbs: running campaigns depend on them, so never rename one.

export const campaignActorSchema = z
  .object({ by: z.string().min(1).max(64), reason: z.string().max(500).optional() })
  .strict();
export type CampaignActorInput = z.infer<typeof campaignActorSchema>;

/** Security's answer to the revoke-share guard: apply the default as it is, or keep what it would have revoked. */
export const campaignConfirmSchema = z.object({ by: z.string().min(1).max(64), apply: z.boolean() }).strict();
export type CampaignConfirmInput = z.infer<typeof campaignConfirmSchema>;

export const cancelCampaignSignal = defineSignal<[CampaignActorInput]>('cancel');
export const confirmCampaignSignal = defineSignal<[CampaignConfirmInput]>('confirm');
export const getCampaignQuery = defineQuery<CampaignState>('getCampaign');

export interface CampaignArgs {
  definition: CampaignDefinition;
  /** A person for a one-off campaign; `system` for a scheduled run. */
  startedBy: string;
  /** Carried by continue-as-new; absent on the first run. */
  state?: CampaignState;
  /** Continue as new past this many history events (default 2000); tests lower it. */
  historyLimit?: number;
}

/** Everything the next run needs, carried whole by continue-as-new; items stay in PostgreSQL. */
export interface CampaignState {
  campaignId: string;
  startedAt: string;
  status: CampaignStatus;
  /** The snapshot's cursor while it pages. */
  cursor?: string;
  items: number;
  remindersSent: number;
  escalated: boolean;
  cancelledBy?: string;
  cancelReason?: string;
  confirmation?: CampaignConfirmInput;
  /**
   * The campaign's own clock (ms since the epoch), moved only by what the history holds: the run's start, the time
   * an activity reported, a timer that fired (to the moment it was set for). Never Date.now(): in the first workflow
   * task after a worker lost its cache the SDK can report the previous task's time, and a decision on it would not
   * replay. Absent before the first move.
   */
  clock?: number;
  /** Malformed signals recorded and ignored. */
  ignored: number;
}

/** Campaign workflow ids: `campaign-<definition>-<suffix>`; a schedule's runs get Temporal's timestamp suffix. */
export function campaignWorkflowId(definitionId: string, suffix: string): string {
  return `campaign-${definitionId}-${suffix}`;
}
export const CAMPAIGN_SCHEDULE_PREFIX = 'campaign-schedule-';
