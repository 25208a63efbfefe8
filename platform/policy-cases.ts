import fs from 'node:fs';
import path from 'node:path';
import { diffLines } from 'diff';
import { parse, stringify, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigFileError, parseConfigs, type Config } from '../domain/config';
import {
  identitySchema,
  quorumSchema,
  requestInputSchema,
  riskLevelSchema,
  statusSchema,
  type Evaluation,
  type Holding,
  type RequestFacts,
  type ResolvedStage,
} from '../domain/model';
import { evaluate } from '../domain/policy';
import { decideSeat, type QueuedRequest, type SeatHolder } from '../domain/seats';
import { clockForStage } from '../activities/calendar';
import { readConfigDocuments } from './config-files';

/** The file of cases beside the policy. */
export const POLICY_TESTS_FILE = 'policy-tests.yaml';
/** A Tuesday morning (UTC): cases that do not say when they happen are inside working hours. */
const DEFAULT_NOW = '2026-11-24T10:00:00Z';
const DEFAULT_JUSTIFICATION = 'Policy test case: the justification does not change the outcome.';

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a user id');

const stageExpectation = z
  .object({
    stage: z.string(),
    approvers: z.array(id),
    quorum: quorumSchema.optional(),
    required: z.number().int().min(0).optional(),
    fallback: z.array(id).optional(),
    /** `business` when the stage's SLA counts the approvers' working hours (policy `calendar`). */
    clock: z.enum(['wall', 'business']).optional(),
    /** When the stage escalates and times out if it opened at the case's `now` (ISO-8601, UTC). */
    escalatesAt: z.iso.datetime().optional(),
    deadlineAt: z.iso.datetime().optional(),
  })
  .strict();
type StageExpectation = z.infer<typeof stageExpectation>;

const expectation = z
  .object({
    valid: z.boolean(),
    /** Reason codes in the order the engine gives them, e.g. [sod_conflict]. */
    reasons: z.array(z.string()).optional(),
    risk: riskLevelSchema.optional(),
    /** The rule that gave the plan (`break-glass` for break-glass requests). */
    rule: z.string().optional(),
    /** `auto-approve`, or the stages in order with their named approvers. */
    plan: z.union([z.literal('auto-approve'), z.array(stageExpectation)]).optional(),
    /** The refusals an exception waived. */
    waived: z.array(z.string()).optional(),
    /**
     * For an entitlement with a seat limit: what happens at approval, with `given.seats` taken and waiting. `none`:
     * the entitlement has no limit.
     */
    seat: z
      .union([z.enum(['none', 'seat', 'refused']), z.object({ queued: z.number().int().min(1) }).strict()])
      .optional(),
  })
  .strict();
type Expectation = z.infer<typeof expectation>;

/** A person's directory entry changed for one case (`null` removes a field), e.g. `frank: { delegation: null }`. */
const directoryChange = z.record(id, z.record(z.string(), z.unknown()));

export const policyCaseSchema = z
  .object({
    name: z.string().min(1).max(200),
    given: z
      .object({
        requester: id,
        /** The request body as the API takes it; the justification may be left out. */
        request: z.record(z.string(), z.unknown()),
        /** The beneficiary's other requests: `{ entitlement, status }` (status defaults to active). */
        holdings: z
          .array(
            z
              .object({
                entitlement: z.string(),
                status: statusSchema.default('active'),
                breakGlass: z.boolean().default(false),
              })
              .strict(),
          )
          .default([]),
        /** Has the beneficiary held anything on this resource before? Defaults to yes. */
        heldResourceBefore: z.boolean().default(true),
        now: z.iso.datetime({ offset: true }).default(DEFAULT_NOW),
        directory: directoryChange.optional(),
        /** Seats of the entitlement held by other people, and other people waiting in line, at approval. */
        seats: z
          .object({ taken: z.number().int().min(0).default(0), waiting: z.number().int().min(0).default(0) })
          .strict()
          .default({ taken: 0, waiting: 0 }),
      })
      .strict(),
    expect: expectation,
  })
  .strict();
export type PolicyCase = z.infer<typeof policyCaseSchema>;

export const policyCasesSchema = z.object({ cases: z.array(policyCaseSchema).min(1) }).strict();

export interface CaseResult {
  name: string;
  passed: boolean;
  /** The rule that gave the plan, when the request was valid. */
  rule?: string;
  /** Expected and actual outcome as YAML, lines prefixed `-` (expected) and `+` (actual); empty when passed. */
  diff: string;
  /** Set instead of a diff when the case itself is wrong (an unknown user, a malformed request). */
  error?: string;
}

export interface SuiteResult {
  results: CaseResult[];
  /** Rules (and `break-glass`) no passing or failing case reached: the suite does not cover them. */
  uncovered: string[];
  passed: boolean;
}

/** Reads `dir`'s configuration and its policy-tests.yaml and runs every case through the policy engine. */
export function runPolicyTests(dir: string, env: Record<string, string | undefined> = {}): SuiteResult {
  const documents = readConfigDocuments(dir, env);
  const file = path.join(dir, POLICY_TESTS_FILE);
  const suite = readCases(file);
  const base = parseConfigs(documents.raw, documents.files, documents.source);
  const results = suite.cases.map((c) => runCase(c, base, documents));
  const reached = new Set(results.flatMap((r) => (r.rule ? [r.rule] : [])));
  const rules = [...base.policy.rules.map((r) => r.name), 'break-glass'];
  const uncovered = rules.filter((r) => !reached.has(r));
  return { results, uncovered, passed: uncovered.length === 0 && results.every((r) => r.passed) };
}

function readCases(file: string): z.infer<typeof policyCasesSchema> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError([{ file, path: '', message: `cannot read the file (${(err as Error).message})` }]);
  }
  let raw: unknown;
  try {
    raw = parse(text, { logLevel: 'error' });
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    throw new ConfigFileError([{ file, path: '', message: err.message.split('\n')[0] ?? err.message }]);
  }
  const parsed = policyCasesSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigFileError(
      parsed.error.issues.map((issue) => ({ file, path: issue.path.join('.'), message: issue.message })),
    );
  }
  return parsed.data;
}

/** Runs one case: the same `evaluate` the workflow and the preview use, on the directory as the case changes it. */
export function runCase(c: PolicyCase, base: Config, documents: ReturnType<typeof readConfigDocuments>): CaseResult {
  let config = base;
  let facts: RequestFacts;
  try {
    if (c.given.directory) config = withDirectoryChanges(documents, c.given.directory);
    const input = requestInputSchema.safeParse({ justification: DEFAULT_JUSTIFICATION, ...c.given.request });
    if (!input.success) {
      const issue = input.error.issues[0];
      throw new Error(`given.request.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
    }
    facts = {
      requestId: 'policy-test',
      requester: c.given.requester,
      input: input.data,
      now: c.given.now,
      holdings: c.given.holdings.map((h, i): Holding => ({
        requestId: `held-${i + 1}`,
        entitlement: h.entitlement,
        status: h.status,
        breakGlass: h.breakGlass,
      })),
      heldResourceBefore: c.given.heldResourceBefore,
    };
  } catch (err) {
    return { name: c.name, passed: false, diff: '', error: (err as Error).message };
  }
  const evaluation = evaluate(facts, config);
  const actual = outcome(evaluation, c.expect, config, c.given);
  const expected = normalised(c.expect);
  const want = stringify(expected);
  const got = stringify(actual);
  const rule = evaluation.valid ? evaluation.plan.rule : undefined;
  if (want === got) return { name: c.name, passed: true, diff: '', ...(rule !== undefined && { rule }) };
  return { name: c.name, passed: false, diff: lineDiff(want, got), ...(rule !== undefined && { rule }) };
}

function withDirectoryChanges(
  documents: ReturnType<typeof readConfigDocuments>,
  changes: Record<string, Record<string, unknown>>,
): Config {
  const raw = structuredClone(documents.raw);
  const users = (raw.directory as { users?: Record<string, unknown>[] }).users ?? [];
  for (const [userId, change] of Object.entries(changes)) {
    const user = users.find((u) => u.id === userId);
    if (!user) throw new Error(`given.directory: there is no user "${userId}" in the directory`);
    for (const [key, value] of Object.entries(change)) {
      if (!(key in identitySchema.shape)) throw new Error(`given.directory.${userId}: people have no field "${key}"`);
      if (value === null) delete user[key];
      else user[key] = value;
    }
  }
  return parseConfigs(raw, documents.files, documents.source);
}

/** The engine's answer in the expectation's shape, limited to what the case asks about. */
function outcome(evaluation: Evaluation, want: Expectation, config: Config, given: PolicyCase['given']): Expectation {
  const got: Expectation = { valid: evaluation.valid };
  if (want.reasons !== undefined) got.reasons = evaluation.valid ? [] : evaluation.reasons.map((r) => r.code);
  if (want.risk !== undefined && evaluation.risk) got.risk = evaluation.risk.level;
  if (!evaluation.valid) return got;
  const { plan } = evaluation;
  if (want.rule !== undefined) got.rule = plan.rule;
  if (want.plan !== undefined) {
    const wanted = Array.isArray(want.plan) ? want.plan : [];
    const stages = plan.kind === 'stages' ? plan.stages : plan.kind === 'break-glass' ? [plan.review] : [];
    got.plan =
      plan.kind === 'auto-approve'
        ? 'auto-approve'
        : stages.map((s, i) => stageOutcome(s, wanted[i], config, given.now, plan.kind === 'break-glass'));
  }
  if (want.waived !== undefined) {
    got.waived = plan.kind === 'stages' ? (plan.exception?.waived.map((r) => r.code) ?? []) : [];
  }
  if (want.seat !== undefined) got.seat = seatOutcome(evaluation.grant, given);
  return got;
}

/** The seat decision (domain/seats.ts, as the activity takes it) with the case's seats taken and people in line. */
function seatOutcome(
  grant: Extract<Evaluation, { valid: true }>['grant'],
  given: PolicyCase['given'],
): Expectation['seat'] {
  if (!grant.seats) return 'none';
  const holders: SeatHolder[] = Array.from({ length: given.seats.taken }, (_, i) => ({
    requestId: `holder-${i + 1}`,
    beneficiary: `holder-${i + 1}`,
    status: 'active',
  }));
  const queue: QueuedRequest[] = Array.from({ length: given.seats.waiting }, (_, i) => ({
    requestId: `waiting-${i + 1}`,
    beneficiary: `waiting-${i + 1}`,
    since: new Date(Date.parse(given.now) - (given.seats.waiting - i) * 60_000).toISOString(),
  }));
  const decision = decideSeat(grant.seats, holders, queue, {
    requestId: 'policy-test',
    beneficiary: grant.beneficiary,
    breakGlass: given.request.breakGlass === true,
    since: given.now,
  });
  return decision.outcome === 'queued' ? { queued: decision.position } : decision.outcome;
}

function stageOutcome(
  stage: ResolvedStage,
  want: StageExpectation | undefined,
  config: Config,
  now: string,
  breakGlass: boolean,
): StageExpectation {
  const times =
    want?.escalatesAt !== undefined || want?.deadlineAt !== undefined
      ? clockForStage(config, { openedAt: now, stage, breakGlass })
      : undefined;
  return {
    stage: stage.name,
    approvers: stage.approvers,
    ...(want?.quorum !== undefined && { quorum: stage.quorum }),
    ...(want?.required !== undefined && { required: stage.required }),
    ...(want?.fallback !== undefined && { fallback: stage.fallback }),
    ...(want?.clock !== undefined && { clock: stage.clock ?? 'wall' }),
    ...(want?.escalatesAt !== undefined && { escalatesAt: instant(times?.escalatesAt) }),
    ...(want?.deadlineAt !== undefined && { deadlineAt: instant(times?.deadlineAt) }),
  };
}

/** The expectation with its keys in the order `outcome` writes them, so equal outcomes print alike. */
function normalised(want: Expectation): Expectation {
  const order: (keyof Expectation)[] = ['valid', 'reasons', 'risk', 'rule', 'plan', 'waived', 'seat'];
  const plan = Array.isArray(want.plan)
    ? want.plan.map((s) => ({
        stage: s.stage,
        approvers: s.approvers,
        ...(s.quorum !== undefined && { quorum: s.quorum }),
        ...(s.required !== undefined && { required: s.required }),
        ...(s.fallback !== undefined && { fallback: s.fallback }),
        ...(s.clock !== undefined && { clock: s.clock }),
        ...(s.escalatesAt !== undefined && { escalatesAt: instant(s.escalatesAt) }),
        ...(s.deadlineAt !== undefined && { deadlineAt: instant(s.deadlineAt) }),
      }))
    : want.plan;
  const withPlan = { ...want, ...(plan !== undefined && { plan }) };
  return Object.fromEntries(order.filter((k) => withPlan[k] !== undefined).map((k) => [k, withPlan[k]])) as Expectation;
}

/** One spelling per instant (`…T15:00:00.000Z`), so a case may write it with or without milliseconds. */
function instant(at: string | undefined): string {
  return at === undefined ? 'never' : new Date(at).toISOString();
}

function lineDiff(expected: string, actual: string): string {
  return diffLines(expected, actual)
    .flatMap((part) => {
      const mark = part.added ? '+ ' : part.removed ? '- ' : '  ';
      return part.value
        .replace(/\n$/, '')
        .split('\n')
        .map((line) => `${mark}${line}`);
    })
    .join('\n');
}

/** The suite's report, one line a case, diffs indented under failures, coverage last. */
export function formatReport(suite: SuiteResult): string {
  const lines: string[] = [];
  for (const r of suite.results) {
    lines.push(`${r.passed ? 'ok  ' : 'FAIL'} ${r.name}`);
    if (r.error) lines.push(`     the case itself is wrong: ${r.error}`);
    else if (!r.passed) {
      lines.push('     - expected   + actual');
      lines.push(...r.diff.split('\n').map((l) => `     ${l}`));
    }
  }
  const failed = suite.results.filter((r) => !r.passed).length;
  lines.push('');
  lines.push(`${suite.results.length} cases, ${suite.results.length - failed} passed, ${failed} failed`);
  if (suite.uncovered.length > 0) lines.push(`rules no case reaches: ${suite.uncovered.join(', ')}`);
  return lines.join('\n');
}
