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
/**
 * The request's tags (domain/taxonomy.ts) as `name:value` keywords, e.g. `type:exception`, `sensitivity:critical`,
 * `urgency:normal`, `application:payroll`, `owner:carol`: one list rather than one attribute each, since a namespace on
 * SQL visibility holds at most 10 Keyword attributes and grantflow already uses 9.
 */
export const tagsKey = defineSearchAttributeKey('GrantflowTags', 'KEYWORD_LIST');
/** The identity an offboarding is for (its status is in GrantflowStatus as `offboarding_<phase>`). */
export const identityKey = defineSearchAttributeKey('GrantflowIdentity', 'KEYWORD');
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
  identityKey,
  campaignKey,
  campaignStatusKey,
  tagsKey,
];
