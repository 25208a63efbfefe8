import type { z } from 'zod';
import { durationMs as ms } from './duration';
import {
  catalogSchema,
  directorySchema,
  policySchema,
  type ApproverSpec,
  type Catalog,
  type Directory,
  type Entitlement,
  type Identity,
  type Policy,
  type StageConfig,
} from './model';
import { RISK_RANK } from './risk';

/** The directory, catalog and policy, parsed and cross-checked, with lookups by id. */
export interface Config {
  directory: Directory;
  catalog: Catalog;
  policy: Policy;
  users: Map<string, Identity>;
  /** Keyed by `resource:role`. */
  entitlements: Map<string, Entitlement>;
  /**
   * The version every decision records: the policy's own label, plus the digest of the catalog and policy files
   * when they were read from disk (`label@digest`), so two deployments with the same label but different rules differ.
   */
  policyVersion: string;
  /** The files the policy version was computed from, when read from disk. */
  source?: PolicySource;
}

/** The policy and catalog files as read, each with its SHA-256, and the digest over both. */
export interface PolicySource {
  files: { name: string; sha256: string }[];
  /** SHA-256 of the `sha256sum` lines of the files (`sha256sum catalog.yaml policy.yaml | sha256sum`). */
  sha256: string;
}

/** The names the three documents are reported under in errors (usually their file paths). */
// A type alias rather than an interface, so it also fits `Record<string, string>` (loaders build it generically).
export type ConfigFiles = { directory: string; catalog: string; policy: string };

export interface ConfigProblem {
  file: string;
  /** Where in the file, e.g. `users[3].manager`; empty for the whole document. */
  path: string;
  message: string;
}

/** One or more problems in the configuration files, one line each: `file: path: problem`. */
export class ConfigFileError extends Error {
  override name = 'ConfigFileError';
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map((p) => [p.file, p.path, p.message].filter(Boolean).join(': ')).join('\n'));
    this.problems = problems;
  }
}

const POSTGRES_ROLE = /^[a-z_][a-z0-9_]{0,62}$/;
const DEFAULT_FILES: ConfigFiles = { directory: 'directory.yaml', catalog: 'catalog.yaml', policy: 'policy.yaml' };

/**
 * Parses the three configuration documents (already read from YAML) and checks that they agree with each
 * other: every referenced user, group and entitlement exists, ids are unique and durations are consistent.
 * Throws a ConfigFileError listing every problem found.
 */
export function parseConfigs(
  raw: { directory: unknown; catalog: unknown; policy: unknown },
  files: ConfigFiles = DEFAULT_FILES,
  source?: PolicySource,
): Config {
  const problems: ConfigProblem[] = [];
  const directory = parseDocument(directorySchema, raw.directory, files.directory, problems);
  const catalog = parseDocument(catalogSchema, raw.catalog, files.catalog, problems);
  const policy = parseDocument(policySchema, raw.policy, files.policy, problems);
  if (!directory || !catalog || !policy) throw new ConfigFileError(problems);

  const users = checkDirectory(directory, report(problems, files.directory));
  const groups = new Set(directory.users.flatMap((u) => u.groups));
  const principals = (file: string) => principalChecker(users, groups, files.directory, report(problems, file));
  const entitlements = checkCatalog(catalog, principals(files.catalog), report(problems, files.catalog));
  checkPolicy(policy, entitlements, principals(files.policy), report(problems, files.policy));

  if (problems.length > 0) throw new ConfigFileError(problems);
  const policyVersion = source ? `${policy.version}@${source.sha256.slice(0, 12)}` : policy.version;
  return { directory, catalog, policy, users, entitlements, policyVersion, ...(source && { source }) };
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in a configuration file's text (the default applies when VAR is
 * unset or empty, as in the shell). Whole-line `#` comments are left alone so they may mention the syntax.
 * Values are substituted as text, so quote them in YAML; a value with a line break is refused because it
 * could add keys to the document. Throws a ConfigFileError naming every variable that is missing.
 */
export function interpolateEnv(text: string, env: Record<string, string | undefined>, file = 'configuration'): string {
  const problems: ConfigProblem[] = [];
  const lines = text.split('\n').map((line, index) => {
    if (/^\s*#/.test(line)) return line;
    return line.replace(ENV_REFERENCE, (_match, name: string, fallback: string | undefined) => {
      const value = env[name];
      const path = `line ${index + 1}`;
      if (value !== undefined && /[\r\n]/.test(value)) {
        problems.push({ file, path, message: `environment variable ${name} must not contain a line break` });
        return '';
      }
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      if (value === undefined) {
        problems.push({ file, path, message: `environment variable ${name} is not set and has no default` });
      }
      return '';
    });
  });
  if (problems.length > 0) throw new ConfigFileError(problems);
  return lines.join('\n');
}

type Report = (path: string, message: string) => void;
type CheckPrincipal = (spec: ApproverSpec, path: string, opts?: { relative?: boolean }) => void;

function report(problems: ConfigProblem[], file: string): Report {
  return (path, message) => problems.push({ file, path, message });
}

function parseDocument<T>(schema: z.ZodType<T>, raw: unknown, file: string, problems: ConfigProblem[]) {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  for (const issue of result.error.issues)
    problems.push({ file, path: formatPath(issue.path), message: issue.message });
  return undefined;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    return acc ? `${acc}.${String(key)}` : String(key);
  }, '');
}

function checkDirectory(directory: Directory, problem: Report): Map<string, Identity> {
  const users = new Map<string, Identity>();
  const firstIndex = new Map<string, number>();
  directory.users.forEach((user, i) => {
    const first = firstIndex.get(user.id);
    if (first !== undefined) problem(`users[${i}].id`, `duplicate user id "${user.id}" (first at users[${first}])`);
    else {
      users.set(user.id, user);
      firstIndex.set(user.id, i);
    }
  });

  const person = (path: string, id: string, self: string, role: string) => {
    const target = users.get(id);
    if (!target) problem(path, `unknown user "${id}"`);
    else if (id === self) problem(path, `"${self}" cannot be their own ${role}`);
    else if (target.kind !== 'human') problem(path, `"${id}" is a service account; a ${role} must be a person`);
  };

  directory.users.forEach((user, i) => {
    const at = `users[${i}]`;
    if (user.manager !== undefined) person(`${at}.manager`, user.manager, user.id, 'manager');
    if (user.delegation) person(`${at}.delegation.to`, user.delegation.to, user.id, 'delegate');
    if (user.kind === 'service') {
      if (user.owner === undefined) problem(`${at}.owner`, `service account "${user.id}" needs an owner`);
      else person(`${at}.owner`, user.owner, user.id, 'owner');
    } else if (user.owner !== undefined) {
      problem(`${at}.owner`, `only service accounts have an owner; "${user.id}" is a person`);
    }
  });

  // A loop in the manager chain would make "the approver's manager" undefined; report it once, at its smallest id.
  directory.users.forEach((user, i) => {
    const chain: string[] = [];
    let next = user.manager;
    while (next !== undefined && next !== user.id && !chain.includes(next)) {
      chain.push(next);
      next = users.get(next)?.manager;
    }
    if (next === user.id && chain.length > 0 && chain.every((id) => id > user.id)) {
      problem(`users[${i}].manager`, `manager chain loops: ${[user.id, ...chain, user.id].join(' → ')}`);
    }
  });
  return users;
}

function principalChecker(
  users: Map<string, Identity>,
  groups: Set<string>,
  directoryFile: string,
  problem: Report,
): CheckPrincipal {
  return (spec, path, opts = {}) => {
    if (spec === 'manager' || spec === 'resource-owner' || spec === 'resource-owner-manager') {
      if (!opts.relative) problem(path, `must be user:<id> or group:<id>, not "${spec}"`);
      return;
    }
    const [kind, id = ''] = spec.split(':');
    if (kind === 'group') {
      if (!groups.has(id)) problem(path, `unknown group "${id}" (no user in ${directoryFile} belongs to it)`);
      return;
    }
    const user = users.get(id);
    if (!user) problem(path, `unknown user "${id}"`);
    else if (user.kind !== 'human') problem(path, `"${id}" is a service account and cannot approve or own`);
  };
}

function checkCatalog(catalog: Catalog, principal: CheckPrincipal, problem: Report): Map<string, Entitlement> {
  const entitlements = new Map<string, Entitlement>();
  const resourceIndex = new Map<string, number>();

  catalog.resources.forEach((resource, i) => {
    const at = `resources[${i}]`;
    const first = resourceIndex.get(resource.id);
    if (first !== undefined) {
      problem(`${at}.id`, `duplicate resource id "${resource.id}" (first at resources[${first}])`);
      return;
    }
    resourceIndex.set(resource.id, i);
    resource.owners.forEach((owner, j) => principal(owner, `${at}.owners[${j}]`));
    if (resource.connector.type === 'manual') {
      resource.connector.fulfillers.forEach((f, j) => principal(f, `${at}.connector.fulfillers[${j}]`));
    }

    resource.entitlements.forEach((e, j) => {
      const eAt = `${at}.entitlements[${j}]`;
      const id = `${resource.id}:${e.role}`;
      if (entitlements.has(id)) {
        problem(`${eAt}.role`, `duplicate role "${e.role}" in resource "${resource.id}"`);
        return;
      }
      entitlements.set(id, { ...e, id, resource, sensitivity: e.sensitivity ?? resource.sensitivity });

      if (resource.connector.type === 'postgres-role' && !POSTGRES_ROLE.test(e.target)) {
        problem(`${eAt}.target`, `"${e.target}" is not a plain PostgreSQL role name (lower-case letters, digits, _)`);
      }

      if (ms(e.maxDuration) < ms(e.defaultDuration)) {
        problem(`${eAt}.maxDuration`, `${e.maxDuration} is shorter than defaultDuration ${e.defaultDuration}`);
      }
      if (e.breakGlass && ms(e.breakGlass.ttl) > ms(e.maxDuration)) {
        problem(`${eAt}.breakGlass.ttl`, `${e.breakGlass.ttl} is longer than maxDuration ${e.maxDuration}`);
      }
      const fieldNames = new Set<string>();
      e.fields.forEach((field, k) => {
        const fAt = `${eAt}.fields[${k}]`;
        if (fieldNames.has(field.name)) problem(`${fAt}.name`, `duplicate field "${field.name}"`);
        fieldNames.add(field.name);
        if (field.pattern !== undefined) {
          try {
            new RegExp(field.pattern);
          } catch (err) {
            problem(`${fAt}.pattern`, `invalid regular expression: ${(err as Error).message}`);
          }
        }
      });
    });
  });

  // Conflicts may point forward, so they are checked once every entitlement is known.
  catalog.resources.forEach((resource, i) => {
    if (resourceIndex.get(resource.id) !== i) return;
    resource.entitlements.forEach((e, j) => {
      e.conflicts.forEach((conflict, k) => {
        const path = `resources[${i}].entitlements[${j}].conflicts[${k}]`;
        if (!entitlements.has(conflict)) problem(path, `unknown entitlement "${conflict}"`);
        else if (conflict === `${resource.id}:${e.role}`) problem(path, `an entitlement cannot conflict with itself`);
      });
    });
  });
  return entitlements;
}

function checkPolicy(
  policy: Policy,
  entitlements: Map<string, Entitlement>,
  principal: CheckPrincipal,
  problem: Report,
): void {
  const calendar = policy.calendar !== undefined;
  principal(`group:${policy.roles.security}`, 'roles.security');
  policy.roles.auditors.forEach((g, i) => principal(`group:${g}`, `roles.auditors[${i}]`));
  policy.roles.admins.forEach((g, i) => principal(`group:${g}`, `roles.admins[${i}]`));
  checkStage(policy.breakGlassReview, 'breakGlassReview', principal, problem, calendar);
  if (policy.breakGlassReview.sla.clock === 'business') {
    problem('breakGlassReview.sla.clock', 'break-glass ignores calendars: its review counts wall-clock time');
  }
  const exceptionStages = new Set<string>();
  policy.exceptions?.stages.forEach((stage, j) => {
    const at = `exceptions.stages[${j}]`;
    if (exceptionStages.has(stage.name)) problem(`${at}.name`, `duplicate stage name "${stage.name}"`);
    exceptionStages.add(stage.name);
    checkStage(stage, at, principal, problem, calendar);
  });

  const ruleNames = new Set<string>();
  policy.rules.forEach((rule, i) => {
    const at = `rules[${i}]`;
    if (ruleNames.has(rule.name)) problem(`${at}.name`, `duplicate rule name "${rule.name}"`);
    ruleNames.add(rule.name);
    rule.when.entitlements?.forEach((id, j) => {
      if (!entitlements.has(id)) problem(`${at}.when.entitlements[${j}]`, `unknown entitlement "${id}"`);
    });
    const { riskAtLeast, riskAtMost } = rule.when;
    if (riskAtLeast && riskAtMost && RISK_RANK[riskAtLeast] > RISK_RANK[riskAtMost]) {
      problem(`${at}.when`, `riskAtLeast ${riskAtLeast} is above riskAtMost ${riskAtMost}, so the rule never matches`);
    }
    if (rule.plan === 'auto-approve') return;
    const stageNames = new Set<string>();
    rule.plan.forEach((stage, j) => {
      if (stageNames.has(stage.name)) problem(`${at}.plan[${j}].name`, `duplicate stage name "${stage.name}"`);
      stageNames.add(stage.name);
      checkStage(stage, `${at}.plan[${j}]`, principal, problem, calendar);
    });
  });
}

function checkStage(
  stage: StageConfig,
  at: string,
  principal: CheckPrincipal,
  problem: Report,
  calendar: boolean,
): void {
  if (stage.sla.clock === 'business' && !calendar) {
    problem(`${at}.sla.clock`, 'a business-hours SLA needs a policy calendar (working days and hours)');
  }
  stage.approvers.forEach((spec, i) => principal(spec, `${at}.approvers[${i}]`, { relative: true }));
  const deadline = ms(stage.sla.deadline);
  if (stage.sla.escalateAfter !== undefined && ms(stage.sla.escalateAfter) >= deadline) {
    problem(`${at}.sla.escalateAfter`, `${stage.sla.escalateAfter} is not before the deadline ${stage.sla.deadline}`);
  }
  stage.sla.reminders.forEach((reminder, i) => {
    if (ms(reminder) >= deadline) {
      problem(`${at}.sla.reminders[${i}]`, `${reminder} is not before the deadline ${stage.sla.deadline}`);
    }
  });
}
