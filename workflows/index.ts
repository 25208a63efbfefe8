export { accessRequest } from './legacy/access-request-v1';
export { accessRequestV2 } from './request/workflow';
export { offboarding } from './identity/offboarding';
export { mover } from './identity/mover';
export { accessReviewCampaign } from './campaign/workflow';
export { directorySync } from './identity/directory-sync';
