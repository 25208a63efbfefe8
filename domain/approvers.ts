import type { Config } from './config';
import { durationMs } from './duration';
import type { ApproverSpec, Entitlement, Identity, Quorum, ResolvedStage, StageConfig } from './model';

/** Who a request is about: approver specs are resolved relative to it. */
export interface ApproverContext {
  config: Config;
  requester: string;
  beneficiary: Identity;
  entitlement: Entitlement;
  /** ISO timestamp; delegations that end before it are ignored. */
  now: string;
}

/** Only active people can approve, own or fulfil; service accounts never can. */
export function isEligible(user: Identity | undefined): user is Identity {
  return user !== undefined && user.active && user.kind === 'human';
}

/** Active people in a group, in directory order. */
export function groupMembers(config: Config, group: string): string[] {
  return config.directory.users.filter((u) => isEligible(u) && u.groups.includes(group)).map((u) => u.id);
}

/** Resolves `user:<id>` and `group:<id>` to active people; relative specs (`manager`, `resource-owner`…) resolve to nobody here. */
export function resolvePrincipals(config: Config, specs: readonly ApproverSpec[]): string[] {
  return unique(
    specs.flatMap((spec) => {
      const [kind, id = ''] = spec.split(':');
      if (kind === 'group') return groupMembers(config, id);
      if (kind === 'user') return isEligible(config.users.get(id)) ? [id] : [];
      return [];
    }),
  );
}

/** The first active manager up the chain: when someone's manager has left, their manager's manager answers. */
export function activeManager(config: Config, user: Identity | undefined): string | undefined {
  const seen = new Set<string>();
  let next = user?.manager;
  while (next !== undefined && !seen.has(next)) {
    seen.add(next);
    if (isEligible(config.users.get(next))) return next;
    next = config.users.get(next)?.manager;
  }
  return undefined;
}

/** The person a user's approvals go to while they are away, if that delegation is still running at `now`. */
export function activeDelegate(config: Config, userId: string, now: string): string | undefined {
  const delegation = config.users.get(userId)?.delegation;
  if (!delegation || Date.parse(delegation.until) <= Date.parse(now)) return undefined;
  return isEligible(config.users.get(delegation.to)) ? delegation.to : undefined;
}

/**
 * Resolves a stage to user ids. Approvers are the people the specs name plus the delegates of those who are
 * away; the fallback (added on escalation) is delegates, then the approvers' managers, then security. Neither
 * ever contains the requester or the beneficiary. A stage whose approvers are all excluded or gone starts with
 * its fallback; if even that is empty the stage has no approvers and the caller must refuse the request.
 */
export function resolveStage(stage: StageConfig, ctx: ApproverContext): ResolvedStage {
  const { config, now } = ctx;
  const excluded = new Set([ctx.requester, ctx.beneficiary.id]);
  const allowed = (id: string) => !excluded.has(id);

  const named = unique(stage.approvers.flatMap((spec) => resolveSpec(spec, ctx)));
  const withDelegates = unique([...named, ...defined(named.map((id) => activeDelegate(config, id, now)))]);
  let approvers = withDelegates.filter(allowed);
  let fallback = fallbackFor(withDelegates, ctx).filter((id) => allowed(id) && !approvers.includes(id));
  if (approvers.length === 0) {
    approvers = fallback;
    fallback = fallbackFor(approvers, ctx).filter((id) => allowed(id) && !approvers.includes(id));
  }

  return {
    name: stage.name,
    quorum: stage.quorum,
    approvers,
    fallback,
    required: requiredApprovals(stage.quorum, approvers.length),
    remindersMs: stage.sla.reminders.map(durationMs),
    ...(stage.sla.escalateAfter !== undefined && { escalateAfterMs: durationMs(stage.sla.escalateAfter) }),
    deadlineMs: durationMs(stage.sla.deadline),
    ...(stage.sla.clock === 'business' && { clock: 'business' as const }),
  };
}

/** Who may mark a manual connector's fulfilment task done: never the requester or beneficiary; security if nobody else. */
export function resolveFulfillers(ctx: ApproverContext): string[] {
  const { connector } = ctx.entitlement.resource;
  if (connector.type !== 'manual') return [];
  const allowed = (id: string) => id !== ctx.requester && id !== ctx.beneficiary.id;
  const fulfillers = resolvePrincipals(ctx.config, connector.fulfillers).filter(allowed);
  return fulfillers.length > 0
    ? fulfillers
    : groupMembers(ctx.config, ctx.config.policy.roles.security).filter(allowed);
}

/** How many approvals settle a stage: `any` one, `all` of them, or `n` (capped at the number of approvers). */
export function requiredApprovals(quorum: Quorum, approvers: number): number {
  if (quorum === 'any') return Math.min(1, approvers);
  if (quorum === 'all') return approvers;
  return Math.min(quorum, approvers);
}

function resolveSpec(spec: ApproverSpec, ctx: ApproverContext): string[] {
  if (spec === 'resource-owner') return resolvePrincipals(ctx.config, ctx.entitlement.resource.owners);
  if (spec === 'resource-owner-manager') {
    const owners = resolvePrincipals(ctx.config, ctx.entitlement.resource.owners);
    return unique(defined(owners.map((id) => activeManager(ctx.config, ctx.config.users.get(id)))));
  }
  if (spec === 'manager') {
    // A service account has no manager of its own: its owner's manager answers for it.
    const subject =
      ctx.beneficiary.kind === 'service' ? ctx.config.users.get(ctx.beneficiary.owner ?? '') : ctx.beneficiary;
    return defined([activeManager(ctx.config, subject)]);
  }
  return resolvePrincipals(ctx.config, [spec]);
}

function fallbackFor(approvers: readonly string[], ctx: ApproverContext): string[] {
  const { config, now } = ctx;
  return unique([
    ...defined(approvers.map((id) => activeDelegate(config, id, now))),
    ...defined(approvers.map((id) => activeManager(config, config.users.get(id)))),
    ...groupMembers(config, config.policy.roles.security),
  ]);
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

function defined(ids: readonly (string | undefined)[]): string[] {
  return ids.filter((id): id is string => id !== undefined);
}
