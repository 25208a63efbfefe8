export { accessRequest } from './legacy/access-request-v1';
export { accessRequestV2 } from './request/workflow';
export { accessReviewCampaign } from './campaign/workflow';
