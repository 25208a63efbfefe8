import type { Config } from './config';
import type { Quorum, Rule, StageConfig } from './model';

/*
 * Approval plans and the whole policy as Mermaid flowcharts (https://mermaid.js.org/syntax/flowchart.html): text
 * the API can carry and GitHub, GitLab and the portal render as a picture. Pure, so the preview, the request view
 * and `npm run policy:graph` draw from the same code.
 */

export type DiagramStageStatus = 'waiting' | 'open' | 'approved' | 'denied' | 'timed_out' | 'cancelled';

/** A stage as the picture shows it: who decides, how many of them, and its clock. */
export interface DiagramStage {
  name: string;
  quorum: Quorum;
  required: number;
  /** Display names of who may decide. */
  approvers: string[];
  /** Display names of who is added on escalation. */
  fallback: string[];
  /** The stage's clock in words: `remind after PT8H`, `escalate after PT24H`, `deadline 2026-11-25T10:00Z`… */
  clock: string[];
  /** Only in a request's view: how far the stage has got, and who decided. */
  status?: DiagramStageStatus;
  decisions?: string[];
}

export interface PlanPicture {
  /** What is asked, e.g. `payroll:viewer for Alice Adams`. */
  subject: string;
  kind: 'auto-approve' | 'stages' | 'break-glass';
  rule: string;
  /** Why the rule applied: its conditions and the risk reasons. */
  why: string[];
  stages: DiagramStage[];
  /** Break-glass: the grant is live first and these stages review it afterwards. */
  breakGlassTtl?: string;
  /** Names of the stages an exception added, with the control that compensates. */
  exception?: { stages: string[]; compensatingControl: string; waived: string[] };
}

const STATUS_CLASSES: Record<DiagramStageStatus, string> = {
  waiting: 'fill:#f4f4f4,stroke:#999,color:#333',
  open: 'fill:#fff4ce,stroke:#c90,color:#000',
  approved: 'fill:#dff6dd,stroke:#107c10,color:#000',
  denied: 'fill:#fde7e9,stroke:#a4262c,color:#000',
  timed_out: 'fill:#fde7e9,stroke:#a4262c,color:#000',
  cancelled: 'fill:#f4f4f4,stroke:#666,color:#666,stroke-dasharray:4',
};

/** One request's approval plan: the stages in order, each with its quorum, approvers, clock and escalation path. */
export function planDiagram(picture: PlanPicture): string {
  const lines = ['flowchart TD'];
  const why = picture.why.length > 0 ? picture.why : ['no conditions: it matches every request'];
  lines.push(`  request(["${text(picture.subject)}"])`);
  lines.push(`  rule{{"${text(`rule: ${picture.rule}`)}<br/>${why.map(text).join('<br/>')}"}}`);
  lines.push('  request --> rule');
  if (picture.kind === 'auto-approve') {
    lines.push('  rule -->|auto-approve| granted(["access granted"])');
    return lines.join('\n');
  }
  let previous = 'rule';
  if (picture.kind === 'break-glass') {
    lines.push(
      `  rule -->|break-glass| live(["${text(`access granted at once, for at most ${picture.breakGlassTtl ?? '?'}`)}"])`,
    );
    previous = 'live';
  }
  const exceptionStages = new Set(picture.exception?.stages ?? []);
  if (picture.exception) {
    const { waived, compensatingControl } = picture.exception;
    lines.push(
      `  exception[/"${text(`exception to: ${waived.join(', ')}`)}<br/>${text(`control: ${compensatingControl}`)}"/]`,
    );
    lines.push('  rule -.- exception');
  }
  picture.stages.forEach((stage, i) => {
    const node = `s${i + 1}`;
    const label = [
      `${i + 1}. ${stage.name}${exceptionStages.has(stage.name) ? ' (exception)' : ''}`,
      `${quorumText(stage.quorum, stage.required)} of: ${stage.approvers.join(', ') || 'nobody'}`,
      ...stage.clock,
      ...(stage.decisions ?? []),
    ];
    lines.push(`  ${node}["${label.map(text).join('<br/>')}"]`);
    const edge = picture.kind === 'break-glass' && i === 0 ? 'review' : i === 0 ? 'then' : 'approved';
    lines.push(`  ${previous} -->|${edge}| ${node}`);
    if (stage.fallback.length > 0) {
      lines.push(`  ${node} -.->|escalate| ${node}f[/"${text(`adds ${stage.fallback.join(', ')}`)}"/]`);
    }
    if (stage.status) lines.push(`  class ${node} ${stage.status}`);
    previous = node;
  });
  const end = picture.kind === 'break-glass' ? 'review complete' : 'access granted';
  lines.push(`  ${previous} -->|approved| done(["${end}"])`);
  const used = [...new Set(picture.stages.flatMap((s) => (s.status ? [s.status] : [])))];
  for (const status of used) lines.push(`  classDef ${status} ${STATUS_CLASSES[status]}`);
  return lines.join('\n');
}

/** The whole policy as one picture: the rules in the order they are tried, each with its plan. */
export function policyDiagram(config: Config): string {
  const { policy } = config;
  const lines = ['flowchart TD', `  request(["${text(`a request (policy ${policy.version})`)}"])`];
  lines.push('  request --> bg{"break-glass?"}');
  lines.push(`  bg -->|yes| bglive(["access at once, for the entitlement's ttl"])`);
  lines.push(`  bglive -->|review| bgreview["${stageLabel(policy.breakGlassReview)}"]`);
  let previous = 'bg';
  let edge = 'no';
  policy.rules.forEach((rule, i) => {
    const node = `r${i + 1}`;
    lines.push(`  ${node}{{"${text(`${i + 1}. ${rule.name}`)}<br/>${conditions(rule).map(text).join('<br/>')}"}}`);
    lines.push(`  ${previous} -->|${edge}| ${node}`);
    if (rule.plan === 'auto-approve') {
      lines.push(`  ${node} -->|matches| ${node}auto(["auto-approve"])`);
    } else {
      rule.plan.forEach((stage, j) => {
        lines.push(`  ${node}s${j + 1}["${stageLabel(stage)}"]`);
        lines.push(`  ${j === 0 ? node : `${node}s${j}`} -->|${j === 0 ? 'matches' : 'approved'}| ${node}s${j + 1}`);
      });
    }
    previous = node;
    edge = 'no match';
  });
  // A last rule without conditions catches everything; otherwise what no rule covers is refused.
  const last = policy.rules.at(-1);
  if (!last || Object.keys(last.when).length > 0) {
    lines.push(`  ${previous} -->|no match| refused(["refused: no rule covers it"])`);
  }
  if (policy.exceptions) {
    const { allow, stages, maxDuration } = policy.exceptions;
    const limit = maxDuration ? `, never longer than ${maxDuration}` : '';
    lines.push(
      `  exc[/"${text(`exception (refused for ${allow.join(' or ')}, with a compensating control${limit})`)}"/]`,
    );
    stages.forEach((stage, j) => {
      lines.push(`  e${j + 1}["${stageLabel(stage)}"]`);
      lines.push(`  ${j === 0 ? 'exc' : `e${j}`} -->|${j === 0 ? "after the rule's stages" : 'approved'}| e${j + 1}`);
    });
  }
  return lines.join('\n');
}

/** A rule's `when`, one condition a line, in the words a business owner uses. */
export function conditions(rule: Rule): string[] {
  const w = rule.when;
  const out: string[] = [];
  if (w.entitlements) out.push(`entitlement is ${w.entitlements.join(' or ')}`);
  if (w.sensitivity) out.push(`sensitivity is ${w.sensitivity.join(' or ')}`);
  if (w.privileged !== undefined) out.push(w.privileged ? 'privileged' : 'not privileged');
  if (w.beneficiaryKind) out.push(`for a ${w.beneficiaryKind === 'service' ? 'service account' : 'person'}`);
  if (w.breakGlass !== undefined) out.push(w.breakGlass ? 'break-glass' : 'not break-glass');
  if (w.riskAtLeast) out.push(`risk at least ${w.riskAtLeast}`);
  if (w.riskAtMost) out.push(`risk at most ${w.riskAtMost}`);
  if (w.durationOver) out.push(`longer than ${w.durationOver}`);
  return out.length > 0 ? out : ['every other request'];
}

/** A configured stage's clock in words, in the units the policy was written in. */
export function slaClock(sla: StageConfig['sla']): string[] {
  return [
    ...sla.reminders.map((r) => `remind after ${r}`),
    ...(sla.escalateAfter !== undefined ? [`escalate after ${sla.escalateAfter}`] : []),
    `deadline after ${sla.deadline}`,
    ...(sla.clock === 'business' ? ['in working hours'] : []),
  ];
}

export function quorumText(quorum: Quorum, required: number): string {
  if (quorum === 'all') return `all ${required}`;
  if (quorum === 'any') return 'any 1';
  return `${required}`;
}

function stageLabel(stage: StageConfig): string {
  const quorum = stage.quorum === 'any' ? 'any' : stage.quorum === 'all' ? 'all' : `${stage.quorum}`;
  return [stage.name, `${quorum} of: ${stage.approvers.join(', ')}`, ...slaClock(stage.sla)].map(text).join('<br/>');
}

/**
 * Text safe inside a quoted Mermaid label: quotes, markup and Mermaid's own `#…;` escapes become entity codes, so a
 * justification or a name can neither end the label nor inject a link or a script.
 */
export function text(value: string): string {
  return value.replace(/[#"<>&`\r\n\\]/g, (c) => (c === '\r' || c === '\n' ? ' ' : `#${c.charCodeAt(0)};`));
}
