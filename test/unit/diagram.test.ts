import { previewDiagram, viewDiagram } from '../../api/plan-diagram';
import { planDiagram, policyDiagram, text } from '../../domain/diagram';
import { evaluate } from '../../domain/policy';
import type { RequestView } from '../../workflows/messages';
import { demoConfig, facts } from './demo-config';

const config = demoConfig();

/** The label text of every node, in the order the diagram declares them. */
function labels(diagram: string): string[] {
  return [...diagram.matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? '');
}

describe('plan diagrams', () => {
  it('draws the stages in order with quorum, approvers, clock and who escalation adds', () => {
    const diagram = previewDiagram(
      evaluate(facts('alice', { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-7' } }), config),
      config,
    );
    expect(diagram?.split('\n')).toEqual([
      'flowchart TD',
      '  request(["aws-prod:admin for Alice Adams (alice)"])',
      expect.stringMatching(
        /^ {2}rule\{\{"rule: privileged-critical<br\/>sensitivity is critical<br\/>privileged<br\/>risk critical \(95\)<br\/>aws-prod:admin is critical sensitivity \(\+60\)<br\/>/,
      ),
      '  request --> rule',
      '  s1["1. manager-and-security<br/>all 2 of: Bob Brown (bob), Dave Diaz (dave)<br/>remind after PT2H<br/>escalate after PT4H<br/>deadline after P1D"]',
      '  rule -->|then| s1',
      '  s1 -.->|escalate| s1f[/"adds Erin Evans (erin)"/]',
      '  s1 -->|approved| done(["access granted"])',
    ]);
  });

  it('draws auto-approval and break-glass for what they are', () => {
    const auto = previewDiagram(evaluate(facts('alice', { entitlement: 'github:member' }), config), config);
    expect(auto).toContain('rule -->|auto-approve| granted(["access granted"])');
    expect(auto).not.toContain('s1[');
    const glass = previewDiagram(
      evaluate(
        facts('alice', { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-7' }, breakGlass: true }),
        config,
      ),
      config,
    );
    expect(glass).toContain('rule -->|break-glass| live(["access granted at once, for at most PT4H"])');
    expect(glass).toContain('live -->|review| s1');
    expect(glass).toContain('done(["review complete"])');
  });

  it('has no diagram for a refused request', () => {
    expect(previewDiagram(evaluate(facts('alice', { entitlement: 'nope:nothing' }), config), config)).toBeUndefined();
  });

  it('keeps hostile text inside its label: quotes, markup, Mermaid escapes and line breaks', () => {
    const hostile = 'x"]) --> evil(["<img src=x onerror=alert(1)>#quot;\n`md`';
    const diagram = planDiagram({
      subject: hostile,
      kind: 'stages',
      rule: hostile,
      why: [hostile],
      stages: [{ name: 's', quorum: 'any', required: 1, approvers: [hostile], fallback: [], clock: [] }],
    });
    for (const line of diagram.split('\n')) {
      // Every quote on a line is a label delimiter: exactly two per labelled node, none inside.
      expect((line.match(/"/g) ?? []).length % 2).toBe(0);
      expect(line).not.toMatch(/<img|#quot;|`/);
    }
    expect(labels(diagram)[0]).toBe(text(hostile));
    expect(text(hostile)).toBe('x#34;]) --#62; evil([#34;#60;img src=x onerror=alert(1)#62;#35;quot; #96;md#96;');
  });

  it("draws a request's view: each stage's status, decisions and deadlines", () => {
    const evaluation = evaluate(facts('alice', { entitlement: 'payroll:viewer' }), config);
    if (!evaluation.valid || evaluation.plan.kind !== 'stages') throw new Error('expected stages');
    const view = {
      entitlement: 'payroll:viewer',
      beneficiary: 'alice',
      risk: evaluation.risk,
      plan: { kind: 'stages', rule: 'critical', policyVersion: config.policyVersion },
      stages: evaluation.plan.stages.map((s, i) => ({
        name: s.name,
        quorum: s.quorum,
        required: s.required,
        approvers: s.approvers,
        fallback: s.fallback,
        status: i === 0 ? 'approved' : i === 1 ? 'open' : 'waiting',
        escalated: false,
        decisions:
          i === 0 ? [{ approver: 'bob', decision: 'approve', at: '2026-11-24T11:05:00.000Z', via: 'update' }] : [],
        ...(i < 2 && {
          openedAt: '2026-11-24T10:00:00.000Z',
          escalatesAt: '2026-11-25T10:00:00.000Z',
          deadlineAt: '2026-11-27T10:00:00.000Z',
        }),
      })),
    } as unknown as RequestView;
    const diagram = viewDiagram(view, config) ?? '';
    expect(diagram).toContain('Bob Brown (bob) approved 2026-11-24 11:05 UTC');
    expect(diagram).toContain(
      'opened 2026-11-24 10:00 UTC<br/>escalates 2026-11-25 10:00 UTC<br/>deadline 2026-11-27 10:00 UTC',
    );
    expect(diagram).toContain('3. security<br/>any 1 of: Dave Diaz (dave)<br/>not open yet');
    expect(diagram).toMatch(/class s1 approved\n[\s\S]*class s2 open\n[\s\S]*class s3 waiting/);
    expect(diagram).toContain('classDef approved ');
    expect(diagram).toContain('rule: critical<br/>sensitivity is critical');

    // Decided under another policy version: the rule's conditions today may not be the ones that applied.
    const older = viewDiagram({ ...view, plan: { ...view.plan!, policyVersion: 'old@000000000000' } }, config) ?? '';
    expect(older).toContain('rule: critical<br/>decided under policy old@000000000000');
    expect(older).not.toContain('sensitivity is critical<br/>');
  });
});

describe('the policy diagram', () => {
  it('shows break-glass first, then every rule in the order tried with its stages, then exceptions', () => {
    const diagram = policyDiagram(config);
    const rules = [...diagram.matchAll(/^ {2}r(\d+)\{\{"\d+\. ([^<]+)</gm)].map((m) => m[2]);
    expect(rules).toEqual(config.policy.rules.map((r) => r.name));
    expect(diagram).toContain('bg -->|no| r1');
    expect(diagram).toContain('r1 -->|matches| r1auto(["auto-approve"])');
    expect(diagram).toContain(
      'r3s2["resource-owner<br/>any of: resource-owner<br/>remind after PT8H<br/>escalate after PT24H<br/>deadline after PT72H"]',
    );
    expect(diagram).toContain("exc -->|after the rule's stages| e1");
    // The last rule matches everything, so nothing falls through to a refusal.
    expect(diagram).not.toContain('refused: no rule covers it');
    const strict = demoConfig((raw) => {
      raw.policy.rules.pop();
    });
    expect(policyDiagram(strict)).toContain('r6 -->|no match| refused(["refused: no rule covers it"])');
  });
});
