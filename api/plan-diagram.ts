import {
  conditions,
  formatDuration,
  planDiagram,
  type Config,
  type DiagramStage,
  type Evaluation,
  type PlanPicture,
  type Risk,
} from '../domain';
import type { RequestView, StageView } from '../workflows/messages';

/** The preview's plan as a Mermaid flowchart; undefined when the request would be refused. */
export function previewDiagram(evaluation: Evaluation, config: Config): string | undefined {
  if (!evaluation.valid) return undefined;
  const { plan, grant } = evaluation;
  const stages = plan.kind === 'stages' ? plan.stages : plan.kind === 'break-glass' ? [plan.review] : [];
  const picture: PlanPicture = {
    subject: `${grant.entitlement} for ${nameOf(config, grant.beneficiary)}`,
    kind: plan.kind,
    rule: plan.rule,
    why: why(config, plan.rule, evaluation.risk),
    stages: stages.map((s) => ({
      name: s.name,
      quorum: s.quorum,
      required: s.required,
      approvers: s.approvers.map((id) => nameOf(config, id)),
      fallback: s.fallback.map((id) => nameOf(config, id)),
      clock: [
        ...s.remindersMs.map((ms) => `remind after ${formatDuration(ms)}`),
        ...(s.escalateAfterMs !== undefined ? [`escalate after ${formatDuration(s.escalateAfterMs)}`] : []),
        `deadline after ${formatDuration(s.deadlineMs)}`,
        ...(s.clock === 'business' ? ['in working hours'] : []),
      ],
    })),
    ...(plan.kind === 'break-glass' && { breakGlassTtl: formatDuration(plan.ttlMs) }),
    ...(plan.kind === 'stages' &&
      plan.exception && {
        exception: {
          stages: plan.exception.stages,
          compensatingControl: plan.exception.compensatingControl,
          waived: plan.exception.waived.map((r) => r.code),
        },
      }),
  };
  return planDiagram(picture);
}

/**
 * A request's plan as it stands, drawn from the view's own stages (status, decisions, deadlines); undefined before
 * validation has given it a plan. The rule's conditions are shown only when the view was decided under the policy
 * the API runs now: an older version's rule of the same name may have said something else.
 */
export function viewDiagram(view: RequestView, config: Config): string | undefined {
  const { plan } = view;
  if (!plan) return undefined;
  const stages = plan.kind === 'break-glass' ? (view.review ? [view.review] : []) : view.stages;
  const current = plan.policyVersion === config.policyVersion;
  const picture: PlanPicture = {
    subject: `${view.entitlement} for ${nameOf(config, view.beneficiary)}`,
    kind: plan.kind,
    rule: plan.rule,
    why: current
      ? why(config, plan.rule, view.risk)
      : [`decided under policy ${plan.policyVersion}`, ...(view.risk?.reasons ?? [])],
    stages: stages.map((s) => viewStage(s, config)),
    ...(plan.kind === 'break-glass' &&
      view.grant && { breakGlassTtl: `until ${view.grant.expiresAt.slice(0, 16).replace('T', ' ')} UTC` }),
  };
  return planDiagram(picture);
}

function viewStage(stage: StageView, config: Config): DiagramStage {
  const at = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  const clock = stage.openedAt
    ? [
        `opened ${at(stage.openedAt)}`,
        ...(stage.escalatesAt ? [`${stage.escalated ? 'escalated' : 'escalates'} ${at(stage.escalatesAt)}`] : []),
        ...(stage.deadlineAt ? [`deadline ${at(stage.deadlineAt)}`] : []),
      ]
    : ['not open yet'];
  return {
    name: stage.name,
    quorum: stage.quorum,
    required: stage.required,
    approvers: stage.approvers.map((id) => nameOf(config, id)),
    fallback: stage.escalated ? [] : stage.fallback.map((id) => nameOf(config, id)),
    clock,
    status: stage.status,
    decisions: stage.decisions.map(
      (d) => `${nameOf(config, d.approver)} ${d.decision === 'approve' ? 'approved' : 'denied'} ${at(d.at)}`,
    ),
  };
}

/** Why the rule applied: its conditions, then what made the risk what it is. */
function why(config: Config, ruleName: string, risk: Risk | undefined): string[] {
  const rule = config.policy.rules.find((r) => r.name === ruleName);
  const when = rule ? conditions(rule) : ruleName === 'break-glass' ? ['break-glass was asked for'] : [];
  return [...when, ...(risk ? [`risk ${risk.level} (${risk.score})`, ...risk.reasons] : [])];
}

function nameOf(config: Config, id: string): string {
  const name = config.users.get(id)?.name;
  return name ? `${name} (${id})` : id;
}
