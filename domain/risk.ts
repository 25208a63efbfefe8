import { isEligible, resolvePrincipals } from './approvers';
import type { Config } from './config';
import { durationMs, formatDuration } from './duration';
import type { Entitlement, RequestFacts, RequestInput, Risk, RiskLevel, Sensitivity } from './model';

/*
 * Risk is an additive score; each factor that applies adds its weight and a reason.
 *   sensitivity            low 0, medium 20, high 40, critical 60
 *   privileged entitlement +25
 *   grant longer than 30 days +10, longer than 90 days +20 (instead of +10)
 *   service-account beneficiary +15
 *   first access to this resource +10
 *   beneficiary's department is not among the resource owners' departments +10
 *   break-glass out of hours (before 07:00 or from 19:00 UTC, or at a weekend) +15
 * Levels: below 25 low, below 50 medium, below 75 high, otherwise critical. So a low-sensitivity entitlement
 * stays low unless several factors pile up, a medium one becomes high with two or three, and anything critical
 * or high and privileged is at least high.
 */
const SENSITIVITY_WEIGHT: Record<Sensitivity, number> = { low: 0, medium: 20, high: 40, critical: 60 };
const PRIVILEGED = 25;
const LONG_GRANT = { days: 30, weight: 10 };
const VERY_LONG_GRANT = { days: 90, weight: 20 };
const SERVICE_ACCOUNT = 15;
const FIRST_ACCESS = 10;
const OUTSIDE_DEPARTMENT = 10;
const OUT_OF_HOURS_BREAK_GLASS = 15;
const WORKING_HOURS_UTC = { from: 7, to: 19 };
const LEVELS: readonly [number, RiskLevel][] = [
  [25, 'low'],
  [50, 'medium'],
  [75, 'high'],
];

/** Orders risk levels, for `riskAtLeast` / `riskAtMost`. */
export const RISK_RANK: Readonly<Record<RiskLevel, number>> = { low: 0, medium: 1, high: 2, critical: 3 };

const DAY_MS = 86_400_000;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Scores a request. Throws when the entitlement or the beneficiary is unknown: validate first. */
export function assessRisk(facts: RequestFacts, config: Config): Risk {
  const entitlement = config.entitlements.get(facts.input.entitlement);
  if (!entitlement) throw new Error(`unknown entitlement "${facts.input.entitlement}"`);
  const beneficiaryId = facts.input.beneficiary ?? facts.requester;
  const beneficiary = config.users.get(beneficiaryId);
  if (!beneficiary) throw new Error(`unknown beneficiary "${beneficiaryId}"`);

  const factors: [number, string][] = [];
  const sensitivity = SENSITIVITY_WEIGHT[entitlement.sensitivity];
  if (sensitivity > 0) factors.push([sensitivity, `${entitlement.id} is ${entitlement.sensitivity} sensitivity`]);
  if (entitlement.privileged) factors.push([PRIVILEGED, `${entitlement.id} is privileged`]);

  const duration = requestedDurationMs(facts.input, entitlement);
  const long = [VERY_LONG_GRANT, LONG_GRANT].find((threshold) => duration > threshold.days * DAY_MS);
  if (long) factors.push([long.weight, `${formatDuration(duration)} is longer than ${long.days} days`]);

  if (beneficiary.kind === 'service') factors.push([SERVICE_ACCOUNT, `${beneficiary.id} is a service account`]);
  if (!facts.heldResourceBefore) {
    factors.push([FIRST_ACCESS, `${beneficiary.id} has never had access to ${entitlement.resource.id}`]);
  }

  const ownerDepartments = resourceOwnerDepartments(config, entitlement);
  if (beneficiary.department && ownerDepartments.length > 0 && !ownerDepartments.includes(beneficiary.department)) {
    factors.push([
      OUTSIDE_DEPARTMENT,
      `${beneficiary.id} (${beneficiary.department}) is outside the owners' department (${ownerDepartments.join(', ')})`,
    ]);
  }

  const outOfHours = facts.input.breakGlass ? describeOutOfHours(facts.now) : undefined;
  if (outOfHours) factors.push([OUT_OF_HOURS_BREAK_GLASS, `break-glass out of hours (${outOfHours})`]);

  const score = factors.reduce((sum, [weight]) => sum + weight, 0);
  return {
    score,
    level: LEVELS.find(([below]) => score < below)?.[1] ?? 'critical',
    reasons: factors.map(([weight, reason]) => `${reason} (+${weight})`),
  };
}

/** How long the grant would last: the requested duration, else the default (break-glass: its ttl). */
export function requestedDurationMs(input: RequestInput, entitlement: Entitlement): number {
  if (input.duration !== undefined) return durationMs(input.duration);
  if (input.breakGlass && entitlement.breakGlass) return durationMs(entitlement.breakGlass.ttl);
  return durationMs(entitlement.defaultDuration);
}

function resourceOwnerDepartments(config: Config, entitlement: Entitlement): string[] {
  const owners = resolvePrincipals(config, entitlement.resource.owners).map((id) => config.users.get(id));
  return [...new Set(owners.filter(isEligible).flatMap((u) => (u.department ? [u.department] : [])))];
}

/** A description of `now` when it falls outside working hours (UTC), else undefined. */
function describeOutOfHours(now: string): string | undefined {
  const at = new Date(now);
  if (Number.isNaN(at.getTime())) return undefined;
  const day = at.getUTCDay();
  const hour = at.getUTCHours();
  const weekend = day === 0 || day === 6;
  if (!weekend && hour >= WORKING_HOURS_UTC.from && hour < WORKING_HOURS_UTC.to) return undefined;
  return `${WEEKDAYS[day] ?? ''} ${at.toISOString().slice(11, 16)} UTC`;
}
