import { groupMembers, resolveFulfillers, resolvePrincipals, resolveStage, type ApproverContext } from './approvers';
import type { Config } from './config';
import { durationMs, formatDuration } from './duration';
import type {
  Entitlement,
  Evaluation,
  GrantSpec,
  Holding,
  Identity,
  Plan,
  Reason,
  RequestFacts,
  RequestInput,
  ResolvedStage,
  Risk,
  Rule,
} from './model';
import { OPEN_STATUSES } from './model';
import { assessRisk, requestedDurationMs, RISK_RANK } from './risk';
import { requestTags } from './taxonomy';

/** Every reason code `evaluate` may return, for callers that map them (API problem types, audit). */
export type ReasonCode =
  | 'unknown_entitlement'
  | 'unknown_requester'
  | 'requester_inactive'
  | 'requester_not_a_person'
  | 'unknown_beneficiary'
  | 'beneficiary_inactive'
  | 'beneficiary_not_allowed'
  | 'service_account_owner_inactive'
  | 'field_missing'
  | 'field_invalid'
  | 'field_unknown'
  | 'duration_too_long'
  | 'break_glass_not_allowed'
  | 'break_glass_service_account'
  | 'sod_conflict'
  | 'already_requested'
  | 'no_matching_rule'
  | 'no_eligible_approvers'
  | 'exception_not_allowed'
  | 'exception_not_needed'
  | 'seats_full';

const BREAK_GLASS_RULE = 'break-glass';

/**
 * Decides what happens to a request: the reasons it is refused, or its risk, approval plan and grant.
 * Pure: the same facts and config always give the same answer, so it also serves as the preview.
 */
export function evaluate(facts: RequestFacts, config: Config): Evaluation {
  const { input } = facts;
  const reasons: (Reason & { code: ReasonCode })[] = [];
  const refuse = (code: ReasonCode, message: string, field?: string) =>
    reasons.push({ code, message, ...(field !== undefined && { field }) });

  const entitlement = config.entitlements.get(input.entitlement);
  if (!entitlement) refuse('unknown_entitlement', `There is no entitlement "${input.entitlement}".`, 'entitlement');

  const requester = config.users.get(facts.requester);
  if (!requester) refuse('unknown_requester', `The requester "${facts.requester}" is not in the directory.`);
  else if (!requester.active) refuse('requester_inactive', `The requester "${requester.id}" is no longer active.`);
  else if (requester.kind !== 'human') {
    refuse('requester_not_a_person', `"${requester.id}" is a service account; its owner requests access for it.`);
  }

  const beneficiaryId = input.beneficiary ?? facts.requester;
  const beneficiary = config.users.get(beneficiaryId);
  if (!beneficiary) {
    refuse('unknown_beneficiary', `The beneficiary "${beneficiaryId}" is not in the directory.`, 'beneficiary');
  } else {
    checkBeneficiary(facts, beneficiary, config, refuse);
  }

  let existingRequestId: string | undefined;
  if (entitlement) {
    checkFields(facts, entitlement, refuse);
    checkDuration(facts, entitlement, refuse);
    if (input.breakGlass && !entitlement.breakGlass) {
      refuse('break_glass_not_allowed', `${entitlement.id} does not allow break-glass access.`, 'breakGlass');
    }
    if (input.breakGlass && beneficiary?.kind === 'service') {
      refuse('break_glass_service_account', 'Break-glass access is for people, not service accounts.', 'breakGlass');
    }
    // What someone else holds is not the requester's business: only a beneficiary they may act for is checked.
    const mayAsk = !reasons.some((r) => r.field === 'beneficiary');
    // Separation of duties spans the person and every service account they own (holdings of the whole circle);
    // a duplicate is only the same entitlement for the same beneficiary.
    const holdings = mayAsk
      ? facts.holdings.filter((h) => h.requestId !== facts.requestId && OPEN_STATUSES.includes(h.status))
      : [];
    checkConflicts(holdings, entitlement, beneficiaryId, config, refuse);
    const existing = holdings.find(
      (h) =>
        (h.beneficiary ?? beneficiaryId) === beneficiaryId &&
        h.entitlement === entitlement.id &&
        h.breakGlass === input.breakGlass,
    );
    if (existing) {
      existingRequestId = existing.requestId;
      refuse(
        'already_requested',
        `${beneficiaryId} already has ${entitlement.id} ${existing.status === 'active' ? 'live' : 'pending'} ` +
          `in request ${existing.requestId}; extend that request instead.`,
        'entitlement',
      );
    }
  }

  const risk = entitlement && beneficiary ? assessRisk(facts, config) : undefined;
  const waived = entitlement ? applyException(facts, entitlement, reasons, config, refuse) : [];
  if (!entitlement || !beneficiary || !risk || reasons.length > 0) {
    return invalid(reasons, risk, config, input, existingRequestId);
  }

  const ctx: ApproverContext = { config, requester: facts.requester, beneficiary, entitlement, now: facts.now };
  const grantMs = requestedDurationMs(input, entitlement);
  const rulePlan = planFor(facts, ctx, risk, grantMs);
  if (!rulePlan) {
    refuse('no_matching_rule', `No policy rule covers ${entitlement.id}; ask security to extend the policy.`);
    return invalid(reasons, risk, config, input);
  }
  const plan = waived.length > 0 ? withException(rulePlan, waived, input, ctx) : rulePlan;
  const stages = plan.kind === 'stages' ? plan.stages : plan.kind === 'break-glass' ? [plan.review] : [];
  for (const stage of stages.filter((s) => s.approvers.length === 0)) {
    refuse(
      'no_eligible_approvers',
      `Nobody other than the requester and beneficiary can approve stage "${stage.name}".`,
    );
  }
  if (reasons.length > 0) return invalid(reasons, risk, config, input);

  const { roles, extensionWithoutApprovalUpTo } = config.policy;
  const operators = [...new Set([roles.security, ...roles.admins].flatMap((group) => groupMembers(config, group)))];
  const grant: GrantSpec = {
    entitlement: entitlement.id,
    resource: entitlement.resource.id,
    target: entitlement.target,
    beneficiary: beneficiary.id,
    durationMs: grantMs,
    // Break-glass access never outlives its ttl, not even by extension; an approved exception stretches the maximum.
    maxDurationMs: Math.max(
      durationMs(input.breakGlass && entitlement.breakGlass ? entitlement.breakGlass.ttl : entitlement.maxDuration),
      waived.some((r) => r.code === 'duration_too_long') ? grantMs : 0,
    ),
    connector: entitlement.resource.connector,
    fulfillers: resolveFulfillers(ctx),
    revokers: [...new Set([...resolvePrincipals(config, entitlement.resource.owners), ...operators])],
    operators,
    ...(extensionWithoutApprovalUpTo !== undefined &&
      !input.breakGlass && { extensionWithoutApprovalMs: durationMs(extensionWithoutApprovalUpTo) }),
    ...(entitlement.seats && {
      seats: {
        limit: entitlement.seats.limit,
        whenFull: entitlement.seats.whenFull,
        recheckMs: durationMs(entitlement.seats.recheckEvery),
      },
    }),
  };
  const accepted: Evaluation = { valid: true, reasons: [], risk, plan, grant, policyVersion: config.policyVersion };
  return { ...accepted, tags: requestTags(input, accepted, config) };
}

type Refuse = (code: ReasonCode, message: string, field?: string) => void;

function invalid(
  reasons: Reason[],
  risk: Risk | undefined,
  config: Config,
  input: RequestInput,
  existingRequestId?: string,
): Evaluation {
  return {
    valid: false,
    reasons,
    policyVersion: config.policyVersion,
    tags: requestTags(input, undefined, config),
    ...(risk && { risk }),
    ...(existingRequestId !== undefined && { existingRequestId }),
  };
}

function checkBeneficiary(facts: RequestFacts, beneficiary: Identity, config: Config, refuse: Refuse): void {
  const id = beneficiary.id;
  if (!beneficiary.active)
    refuse('beneficiary_inactive', `The beneficiary "${id}" is no longer active.`, 'beneficiary');
  if (id !== facts.requester && (beneficiary.kind !== 'service' || beneficiary.owner !== facts.requester)) {
    refuse(
      'beneficiary_not_allowed',
      `You may request access only for yourself or for a service account you own; "${id}" is neither.`,
      'beneficiary',
    );
  }
  if (beneficiary.kind === 'service') {
    const owner = config.users.get(beneficiary.owner ?? '');
    if (!owner?.active) {
      refuse(
        'service_account_owner_inactive',
        `The service account "${id}" has no active owner${beneficiary.owner ? ` ("${beneficiary.owner}" has left)` : ''}; ` +
          'assign a new owner before requesting access for it.',
        'beneficiary',
      );
    }
  }
}

function checkFields(facts: RequestFacts, entitlement: Entitlement, refuse: Refuse): void {
  const given = facts.input.fields;
  for (const field of entitlement.fields) {
    const value = given[field.name]?.trim();
    const path = `fields.${field.name}`;
    if (value === undefined || value === '') {
      if (field.required) refuse('field_missing', `${field.label} is required for ${entitlement.id}.`, path);
      continue;
    }
    // Like an HTML form's pattern attribute, the pattern must match the whole value.
    if (field.pattern !== undefined && !new RegExp(`^(?:${field.pattern})$`).test(value)) {
      refuse('field_invalid', `${field.label}: "${value}" does not match the pattern ${field.pattern}.`, path);
    }
  }
  for (const name of Object.keys(given)) {
    if (!entitlement.fields.some((f) => f.name === name)) {
      refuse('field_unknown', `${entitlement.id} has no field "${name}".`, `fields.${name}`);
    }
  }
}

function checkDuration(facts: RequestFacts, entitlement: Entitlement, refuse: Refuse): void {
  const { duration, breakGlass } = facts.input;
  if (duration === undefined) return;
  const requested = durationMs(duration);
  const limit = breakGlass && entitlement.breakGlass ? entitlement.breakGlass.ttl : entitlement.maxDuration;
  if (requested > durationMs(limit)) {
    const what = breakGlass && entitlement.breakGlass ? 'break-glass limit' : 'maximum';
    refuse(
      'duration_too_long',
      `${duration} is longer than the ${what} of ${formatDuration(durationMs(limit))} for ${entitlement.id}.`,
      'duration',
    );
  }
}

function checkConflicts(
  holdings: readonly Holding[],
  entitlement: Entitlement,
  beneficiaryId: string,
  config: Config,
  refuse: Refuse,
): void {
  // Conflicts count in either direction, so a one-sided declaration in the catalog still holds.
  const conflicting = holdings.filter(
    (h) =>
      entitlement.conflicts.includes(h.entitlement) ||
      (config.entitlements.get(h.entitlement)?.conflicts.includes(entitlement.id) ?? false),
  );
  for (const h of conflicting) {
    refuse(
      'sod_conflict',
      `${entitlement.id} may not be held together with ${h.entitlement}, which ${h.beneficiary ?? beneficiaryId} ` +
        `${h.status === 'active' ? 'holds' : 'has requested'} in request ${h.requestId} (separation of duties).`,
      'entitlement',
    );
  }
}

/**
 * When the request asks to be an exception: if every refusal is one the policy lets an exception override, they are
 * taken out of `reasons` and returned (the caller adds the exception stages); otherwise they all stand. An exception
 * that is not allowed, or not needed, is itself a refusal, so nobody tags an ordinary request as an exception.
 */
function applyException(
  facts: RequestFacts,
  entitlement: Entitlement,
  reasons: (Reason & { code: ReasonCode })[],
  config: Config,
  refuse: Refuse,
): Reason[] {
  const { input } = facts;
  if (!input.exception) return [];
  const policy = config.policy.exceptions;
  if (input.breakGlass) {
    refuse('exception_not_allowed', 'Break-glass access cannot also be an exception.', 'exception');
    return [];
  }
  if (!policy) {
    refuse('exception_not_allowed', 'This policy allows no exceptions; every refusal stands.', 'exception');
    return [];
  }
  if (reasons.length === 0) {
    refuse('exception_not_needed', 'The request is within policy; submit it without an exception.', 'exception');
    return [];
  }
  const waivable = (code: string): boolean => (policy.allow as readonly string[]).includes(code);
  if (!reasons.every((r) => waivable(r.code))) return [];
  const requested = requestedDurationMs(input, entitlement);
  if (policy.maxDuration !== undefined && requested > durationMs(policy.maxDuration)) {
    // The duration refusal is already there; it stands, and says why the exception does not lift it.
    const tooLong = reasons.find((r) => r.code === 'duration_too_long');
    if (tooLong)
      tooLong.message += ` Not even an exception may exceed ${formatDuration(durationMs(policy.maxDuration))}.`;
    return [];
  }
  return reasons.splice(0);
}

/** The rule's plan with the exception stages after it; an auto-approved request gets only the exception stages. */
function withException(plan: Plan, waived: Reason[], input: RequestInput, ctx: ApproverContext): Plan {
  const policy = ctx.config.policy.exceptions;
  // applyException waives nothing without both, and break-glass never reaches here.
  if (!policy || !input.exception || plan.kind === 'break-glass') return plan;
  // Prefixed, so an exception stage never shares a name (and a notification key) with one of the rule's own.
  const added = policy.stages.map((stage) => resolveStage({ ...stage, name: `exception-${stage.name}` }, ctx));
  const { compensatingControl, reviewEvery } = input.exception;
  return {
    kind: 'stages',
    rule: plan.rule,
    stages: [...(plan.kind === 'stages' ? plan.stages : []), ...added],
    exception: {
      waived,
      compensatingControl,
      ...(reviewEvery !== undefined && { reviewEveryMs: durationMs(reviewEvery) }),
      stages: added.map((s) => s.name),
    },
  };
}

function planFor(facts: RequestFacts, ctx: ApproverContext, risk: Risk, grantMs: number): Plan | undefined {
  const { config } = ctx;
  if (facts.input.breakGlass) {
    return {
      kind: 'break-glass',
      rule: BREAK_GLASS_RULE,
      ttlMs: grantMs,
      review: resolveStage(config.policy.breakGlassReview, ctx),
    };
  }
  const rule = config.policy.rules.find((r) => matches(r, facts, ctx, risk, grantMs));
  if (!rule) return undefined;
  if (rule.plan === 'auto-approve') return { kind: 'auto-approve', rule: rule.name };
  const stages: ResolvedStage[] = rule.plan.map((stage) => resolveStage(stage, ctx));
  return { kind: 'stages', rule: rule.name, stages };
}

function matches(rule: Rule, facts: RequestFacts, ctx: ApproverContext, risk: Risk, grantMs: number): boolean {
  const w = rule.when;
  const { entitlement, beneficiary } = ctx;
  return (
    (w.entitlements === undefined || w.entitlements.includes(entitlement.id)) &&
    (w.sensitivity === undefined || w.sensitivity.includes(entitlement.sensitivity)) &&
    (w.privileged === undefined || w.privileged === entitlement.privileged) &&
    (w.beneficiaryKind === undefined || w.beneficiaryKind === beneficiary.kind) &&
    (w.breakGlass === undefined || w.breakGlass === facts.input.breakGlass) &&
    (w.riskAtLeast === undefined || RISK_RANK[risk.level] >= RISK_RANK[w.riskAtLeast]) &&
    (w.riskAtMost === undefined || RISK_RANK[risk.level] <= RISK_RANK[w.riskAtMost]) &&
    (w.durationOver === undefined || grantMs > durationMs(w.durationOver))
  );
}

/**
 * Whose holdings count for separation of duties when `beneficiaryId` asks: the person behind it (the beneficiary,
 * or the owner of a service account) and every service account that person owns.
 */
export function sodCircle(config: Config, beneficiaryId: string): string[] {
  const person = personOf(config, beneficiaryId);
  const owned = [...config.users.values()].filter((u) => u.kind === 'service' && u.owner === person).map((u) => u.id);
  return [...new Set([person, beneficiaryId, ...owned])].sort();
}

/** The person who answers for an identity: itself, or the owner of a service account. */
export function personOf(config: Config, id: string): string {
  const identity = config.users.get(id);
  return identity?.kind === 'service' && identity.owner ? identity.owner : id;
}
