export * from './model';
export * from './duration';
export {
  parseConfigs,
  interpolateEnv,
  ConfigFileError,
  type Config,
  type ConfigFiles,
  type ConfigProblem,
  type PolicySource,
} from './config';
export { assessRisk, requestedDurationMs, RISK_RANK } from './risk';
export {
  resolveStage,
  resolveFulfillers,
  requiredApprovals,
  resolvePrincipals,
  groupMembers,
  activeManager,
  activeDelegate,
  isEligible,
  type ApproverContext,
} from './approvers';
export { evaluate, personOf, sodCircle, type ReasonCode } from './policy';
export {
  planDiagram,
  policyDiagram,
  conditions,
  slaClock,
  type PlanPicture,
  type DiagramStage,
  type DiagramStageStatus,
} from './diagram';
export {
  decideSeat,
  nextInLine,
  orderQueue,
  seatsUsed,
  SEAT_STATUSES,
  type SeatDecision,
  type SeatHolder,
  type SeatLimit,
  type QueuedRequest,
  type SeatAsk,
} from './seats';
export { requestTags, type RequestTags, type RequestType, type Urgency } from './taxonomy';
