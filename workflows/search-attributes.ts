import { defineSearchAttributeKey } from '@temporalio/common';

/** The operator console: every key here is registered with the dev server and kept current by the workflow. */
export const statusKey = defineSearchAttributeKey('GrantflowStatus', 'KEYWORD');
export const requesterKey = defineSearchAttributeKey('GrantflowRequester', 'KEYWORD');
export const beneficiaryKey = defineSearchAttributeKey('GrantflowBeneficiary', 'KEYWORD');
export const resourceKey = defineSearchAttributeKey('GrantflowResource', 'KEYWORD');
export const entitlementKey = defineSearchAttributeKey('GrantflowEntitlement', 'KEYWORD');
export const riskLevelKey = defineSearchAttributeKey('GrantflowRiskLevel', 'KEYWORD');
export const pendingApproversKey = defineSearchAttributeKey('GrantflowPendingApprovers', 'KEYWORD_LIST');
export const breakGlassKey = defineSearchAttributeKey('GrantflowBreakGlass', 'BOOL');
export const expiresAtKey = defineSearchAttributeKey('GrantflowExpiresAt', 'DATETIME');
/** Access reviews: the campaign's definition id and its phase (domain/campaign.ts campaignStatusSchema). */
export const campaignKey = defineSearchAttributeKey('GrantflowCampaign', 'KEYWORD');
export const campaignStatusKey = defineSearchAttributeKey('GrantflowCampaignStatus', 'KEYWORD');

export const searchAttributeKeys = [
  statusKey,
  requesterKey,
  beneficiaryKey,
  resourceKey,
  entitlementKey,
  riskLevelKey,
  pendingApproversKey,
  breakGlassKey,
  expiresAtKey,
  campaignKey,
  campaignStatusKey,
];
