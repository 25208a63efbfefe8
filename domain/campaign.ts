import { z } from 'zod';
import { activeDelegate, activeManager, groupMembers, isEligible, resolvePrincipals } from './approvers';
import { ConfigFileError, type Config, type ConfigProblem } from './config';
import { durationMs, durationSchema } from './duration';
import { sensitivitySchema, type Entitlement } from './model';

// Access reviews (certification campaigns): definitions as code beside the policy, and the pure rules of a review:
// who reviews an item, what grantflow recommends and why, and what the default does to an unanswered item.

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a lower-case id (letters, digits, . _ -)');

/** Who reviews: the holder's `manager`, the resource's owners, or a named `user:<id>` / `group:<id>`. */
export const reviewerSpecSchema = z.union([
  z.literal('manager'),
  z.literal('resource-owner'),
  z
    .string()
    .regex(/^(group|user):[a-z0-9][a-z0-9._-]{0,63}$/, 'must be manager, resource-owner, group:<id> or user:<id>'),
]);
export type ReviewerSpec = z.infer<typeof reviewerSpecSchema>;

export const campaignDefaultSchema = z.enum(['keep', 'revoke', 'recommendation']);
export type CampaignDefault = z.infer<typeof campaignDefaultSchema>;

export const campaignDefinitionSchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    /** Which live grants the campaign reviews; every condition given must hold. */
    scope: z
      .object({
        resources: z.array(id).min(1).optional(),
        /** `resource:role` ids. */
        entitlements: z.array(z.string()).min(1).optional(),
        sensitivity: z.array(sensitivitySchema).min(1).optional(),
        privileged: z.boolean().optional(),
        /** Holders in any of these directory groups (a service account by its owner's groups). */
        groups: z.array(id).min(1).optional(),
        /** These holders only (a one-off review of one identity's access, e.g. a service account handed over). */
        holders: z.array(z.string().min(1).max(64)).min(1).max(100).optional(),
        /** `include` (default), `exclude`, or `only` service accounts. */
        serviceAccounts: z.enum(['include', 'exclude', 'only']).default('include'),
      })
      .strict(),
    reviewers: z
      .object({
        rule: reviewerSpecSchema,
        /** Who reviews when the rule names nobody eligible, and who is added on escalation. Named only. */
        fallback: z.string().regex(/^(group|user):[a-z0-9][a-z0-9._-]{0,63}$/, 'must be group:<id> or user:<id>'),
      })
      .strict(),
    /** From start to the due date, when unanswered items follow the default. */
    duration: durationSchema,
    /** Offsets from the start at which reviewers with open items are reminded. */
    reminders: z.array(durationSchema).max(10).default([]),
    /** Offset from the start at which the fallback joins the reviewers of every open item. */
    escalateAfter: durationSchema.optional(),
    /** What an unanswered item becomes at the due date. */
    default: campaignDefaultSchema,
    /**
     * A default that would revoke more than this share of the items waits for security to confirm. Default 0.25;
     * 1 turns the guard off (a definition must say so explicitly).
     */
    maxDefaultRevokeShare: z.number().min(0).max(1).default(0.25),
    recommendations: z
      .object({
        /** A grant older than this counts against keeping it. */
        olderThan: durationSchema.default('P180D'),
      })
      .strict()
      .default({ olderThan: 'P180D' }),
    /** A recurring campaign: a Temporal Schedule with these cron expressions (UTC). */
    schedule: z
      .object({ cron: z.array(z.string().min(9).max(100)).min(1).max(10), paused: z.boolean().default(false) })
      .strict()
      .optional(),
  })
  .strict();
export type CampaignDefinition = z.infer<typeof campaignDefinitionSchema>;

export const campaignsFileSchema = z
  .object({ version: z.string().min(1).max(40), campaigns: z.array(campaignDefinitionSchema) })
  .strict();

export interface CampaignDefinitions {
  version: string;
  byId: Map<string, CampaignDefinition>;
}

/**
 * Parses campaigns.yaml and checks it against the catalog and directory: every resource, entitlement, user and group
 * it names exists, ids are unique, reminders and escalation fall before the due date. Throws a ConfigFileError
 * listing every problem, one sentence each, as the catalog does.
 */
export function parseCampaigns(raw: unknown, config: Config, file = 'campaigns.yaml'): CampaignDefinitions {
  const problems: ConfigProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ file, path, message });
  const parsed = campaignsFileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problem(formatPath(issue.path), issue.message);
    throw new ConfigFileError(problems);
  }
  const resources = new Set(config.catalog.resources.map((r) => r.id));
  const groups = new Set(config.directory.users.flatMap((u) => u.groups));
  const byId = new Map<string, CampaignDefinition>();
  parsed.data.campaigns.forEach((c, i) => {
    const at = `campaigns[${i}]`;
    if (byId.has(c.id)) problem(`${at}.id`, `duplicate campaign id "${c.id}"`);
    byId.set(c.id, c);
    c.scope.resources?.forEach((r, j) => {
      if (!resources.has(r)) problem(`${at}.scope.resources[${j}]`, `unknown resource "${r}"`);
    });
    c.scope.groups?.forEach((g, j) => {
      if (!groups.has(g)) problem(`${at}.scope.groups[${j}]`, `unknown group "${g}"`);
    });
    c.scope.holders?.forEach((h, j) => {
      if (!config.users.has(h)) problem(`${at}.scope.holders[${j}]`, `unknown identity "${h}"`);
    });
    c.scope.entitlements?.forEach((e, j) => {
      if (!config.entitlements.has(e)) problem(`${at}.scope.entitlements[${j}]`, `unknown entitlement "${e}"`);
    });
    if (entitlementsInScope(c, config).length === 0) {
      problem(`${at}.scope`, 'no entitlement in the catalog matches this scope, so the campaign would review nothing');
    }
    const principal = (spec: string, path: string) => {
      const [kind, name = ''] = spec.split(':');
      if (kind === 'group' && !groups.has(name)) problem(path, `unknown group "${name}"`);
      if (kind === 'user') {
        const user = config.users.get(name);
        if (!user) problem(path, `unknown user "${name}"`);
        else if (user.kind !== 'human') problem(path, `"${name}" is a service account and cannot review`);
      }
    };
    principal(c.reviewers.rule, `${at}.reviewers.rule`);
    principal(c.reviewers.fallback, `${at}.reviewers.fallback`);
    const due = durationMs(c.duration);
    c.reminders.forEach((r, j) => {
      if (durationMs(r) >= due) problem(`${at}.reminders[${j}]`, `${r} is not before the due date (${c.duration})`);
    });
    if (c.escalateAfter !== undefined && durationMs(c.escalateAfter) >= due) {
      problem(`${at}.escalateAfter`, `${c.escalateAfter} is not before the due date (${c.duration})`);
    }
    c.schedule?.cron.forEach((expr, j) => {
      if (expr.trim().split(/\s+/).length !== 5) {
        problem(`${at}.schedule.cron[${j}]`, `"${expr}" must have five fields: minute hour day-of-month month weekday`);
      }
    });
  });
  if (problems.length > 0) throw new ConfigFileError(problems);
  return { version: parsed.data.version, byId };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    return acc ? `${acc}.${String(key)}` : String(key);
  }, '');
}

/** The catalog's entitlements the campaign's scope covers (service-account filtering happens per holder). */
export function entitlementsInScope(c: CampaignDefinition, config: Config): Entitlement[] {
  return [...config.entitlements.values()].filter(
    (e) =>
      (!c.scope.resources || c.scope.resources.includes(e.resource.id)) &&
      (!c.scope.entitlements || c.scope.entitlements.includes(e.id)) &&
      (!c.scope.sensitivity || c.scope.sensitivity.includes(e.sensitivity)) &&
      (c.scope.privileged === undefined || c.scope.privileged === e.privileged),
  );
}

/** Whether a holder of an in-scope entitlement is reviewed, by the scope's group and service-account rules. */
export function holderInScope(c: CampaignDefinition, config: Config, holderId: string): boolean {
  const holder = config.users.get(holderId);
  const service = holder?.kind === 'service';
  if (c.scope.holders && !c.scope.holders.includes(holderId)) return false;
  if (c.scope.serviceAccounts === 'exclude' && service) return false;
  if (c.scope.serviceAccounts === 'only' && !service) return false;
  if (!c.scope.groups) return true;
  const person = service ? config.users.get(holder.owner ?? '') : holder;
  return (person?.groups ?? []).some((g) => c.scope.groups?.includes(g));
}

/** The people who may never review a grant: its holder and, for a service account, its owner of record. */
export function excludedReviewers(config: Config, holderId: string): string[] {
  const owner = config.users.get(holderId)?.owner;
  return owner ? [holderId, owner] : [holderId];
}

export interface ResolvedReviewers {
  /** Who the rule named (before delegations), for the evidence. */
  assigned: string[];
  /** Who may decide: the assigned plus the delegates of those away; or the fallback when that is nobody. */
  reviewers: string[];
  /** Added on escalation. */
  fallback: string[];
}

/**
 * Resolves an item's reviewers. Never the holder or the holder's owner of record, also not through a delegation;
 * when the rule leaves nobody, the fallback reviews; when that too is nobody, security does.
 */
export function resolveReviewers(
  c: CampaignDefinition,
  config: Config,
  item: { holder: string; entitlement: Entitlement },
  now: string,
): ResolvedReviewers {
  const excluded = new Set(excludedReviewers(config, item.holder));
  const allowed = (ids: string[]) => ids.filter((x) => !excluded.has(x));
  const holder = config.users.get(item.holder);
  const named = (specs: readonly string[]): string[] => resolvePrincipals(config, specs as `user:${string}`[]);
  let assigned: string[];
  if (c.reviewers.rule === 'manager') {
    // A service account has no manager: its owner's manager answers for it.
    const subject = holder?.kind === 'service' ? config.users.get(holder.owner ?? '') : holder;
    const manager = activeManager(config, subject);
    assigned = manager ? [manager] : [];
  } else if (c.reviewers.rule === 'resource-owner') {
    assigned = named(item.entitlement.resource.owners.filter((o) => o.startsWith('user:') || o.startsWith('group:')));
  } else {
    assigned = named([c.reviewers.rule]);
  }
  assigned = allowed(assigned);
  const delegates = assigned.map((x) => activeDelegate(config, x, now)).filter((x): x is string => x !== undefined);
  let reviewers = allowed([...new Set([...assigned, ...delegates])]);
  const fallback = allowed(named([c.reviewers.fallback])).filter((x) => !reviewers.includes(x));
  if (reviewers.length === 0) reviewers = fallback;
  if (reviewers.length === 0) reviewers = allowed(groupMembers(config, config.policy.roles.security));
  return { assigned, reviewers, fallback: fallback.filter((x) => !reviewers.includes(x)) };
}

/**
 * Whether `caller` may decide an item now: one of its reviewers, or the delegate of one who is away at `now`; never
 * the holder or the holder's owner of record, whatever else they are (security and admins included).
 */
export function mayReview(
  config: Config,
  caller: string,
  item: { holder: string; reviewers: readonly string[] },
  now: string,
): { ok: true } | { ok: false; why: 'own-access' | 'not-reviewer' } {
  if (excludedReviewers(config, item.holder).includes(caller)) return { ok: false, why: 'own-access' };
  if (item.reviewers.includes(caller)) return { ok: true };
  if (delegatorsOf(config, caller, now).some((x) => item.reviewers.includes(x))) return { ok: true };
  return { ok: false, why: 'not-reviewer' };
}

/** The people whose reviews `userId` takes over now (their delegation to `userId` runs past `now`). */
export function delegatorsOf(config: Config, userId: string, now: string): string[] {
  return config.directory.users.filter((u) => activeDelegate(config, u.id, now) === userId).map((u) => u.id);
}

// ---------- Recommendations ----------

export const recommendationReasonSchema = z.enum([
  'holder_inactive',
  'holder_moved',
  'sod_conflict',
  'service_account_without_owner',
  'grant_older_than',
  'never_extended',
  'no_peer_holds_it',
]);
export type RecommendationReason = z.infer<typeof recommendationReasonSchema>;

export interface ItemReason {
  code: RecommendationReason;
  message: string;
}

/** Reasons that alone argue for revoking; the others only together (two or more). */
const STRONG: readonly RecommendationReason[] = ['holder_inactive', 'sod_conflict', 'service_account_without_owner'];

export interface RecommendationFacts {
  holder: string;
  entitlement: Entitlement;
  startedAt: string;
  /** How often the grant was extended; undefined when unknown. */
  extensions?: number;
  /** How the holder moved since the grant started (the directory's change log), e.g. `moved from sales to finance`. */
  movedSinceGrant?: string;
  /** Entitlements the holder (and their circle) holds live now. */
  holderEntitlements: readonly string[];
  /** Everyone holding this entitlement live now. */
  holdersOfEntitlement: ReadonlySet<string>;
  now: string;
}

/** What grantflow recommends for one item, with every reason; shown to the reviewer, applied only by the default. */
export function recommend(
  c: CampaignDefinition,
  config: Config,
  f: RecommendationFacts,
): { recommendation: 'keep' | 'revoke'; reasons: ItemReason[] } {
  const reasons: ItemReason[] = [];
  const holder = config.users.get(f.holder);
  if (!holder || !holder.active) {
    reasons.push({ code: 'holder_inactive', message: `${f.holder} is no longer active in the directory.` });
  }
  if (f.movedSinceGrant !== undefined) {
    reasons.push({ code: 'holder_moved', message: `${f.holder} ${f.movedSinceGrant} since the grant started.` });
  }
  const conflicts = f.holderEntitlements.filter(
    (e) =>
      e !== f.entitlement.id &&
      (f.entitlement.conflicts.includes(e) ||
        (config.entitlements.get(e)?.conflicts.includes(f.entitlement.id) ?? false)),
  );
  if (conflicts.length > 0) {
    reasons.push({ code: 'sod_conflict', message: `${f.holder} also holds ${conflicts.join(', ')}, which conflicts.` });
  }
  if (holder?.kind === 'service' && !isEligible(config.users.get(holder.owner ?? ''))) {
    reasons.push({
      code: 'service_account_without_owner',
      message: `${f.holder} is a service account without an active owner.`,
    });
  }
  const ageMs = Date.parse(f.now) - Date.parse(f.startedAt);
  const limitMs = durationMs(c.recommendations.olderThan);
  if (ageMs > limitMs) {
    reasons.push({
      code: 'grant_older_than',
      message: `The grant is ${Math.floor(ageMs / 86_400_000)} days old (more than ${c.recommendations.olderThan}).`,
    });
  }
  if (f.extensions === 0 && ageMs > limitMs) {
    reasons.push({ code: 'never_extended', message: 'The grant was never extended since it started.' });
  }
  if (holder?.kind === 'human') {
    const peers = config.directory.users.filter(
      (u) =>
        u.id !== holder.id &&
        u.active &&
        ((holder.manager !== undefined && u.manager === holder.manager) ||
          (holder.department !== undefined && u.department === holder.department)),
    );
    if (peers.length > 0 && !peers.some((p) => f.holdersOfEntitlement.has(p.id))) {
      reasons.push({
        code: 'no_peer_holds_it',
        message: `None of ${f.holder}'s ${peers.length} peers (same manager or department) holds ${f.entitlement.id}.`,
      });
    }
  }
  const strong = reasons.some((r) => STRONG.includes(r.code));
  return { recommendation: strong || reasons.length >= 2 ? 'revoke' : 'keep', reasons };
}

/** What an item nobody answered becomes at the due date. */
export function defaultDecision(rule: CampaignDefault, recommendation: 'keep' | 'revoke'): 'keep' | 'revoke' {
  return rule === 'recommendation' ? recommendation : rule;
}

/** A decision on an item as reviewers send it: keeping privileged access needs a comment. */
export const itemDecisionSchema = z
  .object({
    decision: z.enum(['keep', 'revoke']),
    comment: z.string().trim().min(1).max(2000).optional(),
  })
  .strict();
export type ItemDecision = z.infer<typeof itemDecisionSchema>;

/** Campaign phases, defined once: the workflow, the store and the API use this list. */
export const campaignStatusSchema = z.enum([
  'snapshotting',
  'open',
  'awaiting_confirmation',
  'applying',
  'closed',
  'cancelled',
]);
export type CampaignStatus = z.infer<typeof campaignStatusSchema>;

/**
 * An item's outcome: `pending` until applied; `grant_ended` when the grant ended before the campaign touched it;
 * `failed` when the request's workflow refused the revoke (security follows up).
 */
export const itemOutcomeSchema = z.enum(['pending', 'kept', 'revoked', 'grant_ended', 'failed']);
export type ItemOutcome = z.infer<typeof itemOutcomeSchema>;

/** The timings a campaign's workflow waits on, in ms from its start. */
export function campaignTimings(c: CampaignDefinition): { dueMs: number; remindersMs: number[]; escalateMs?: number } {
  return {
    dueMs: durationMs(c.duration),
    remindersMs: c.reminders.map(durationMs).sort((a, b) => a - b),
    ...(c.escalateAfter !== undefined && { escalateMs: durationMs(c.escalateAfter) }),
  };
}
