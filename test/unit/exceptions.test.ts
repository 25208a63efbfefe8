import { requestInputSchema, type Evaluation } from '../../domain/model';
import { evaluate } from '../../domain/policy';
import { demoConfig, facts } from './demo-config';

const config = demoConfig();
const DAY = 86_400_000;
const CONTROL = 'Finance reviews every payroll run she approves, weekly.';
const approverHeld = [
  { requestId: 'req-0', entitlement: 'payroll:approver', status: 'active' as const, breakGlass: false },
];

function valid(evaluation: Evaluation) {
  if (!evaluation.valid) throw new Error(`expected a valid evaluation, got ${JSON.stringify(evaluation.reasons)}`);
  return evaluation;
}
const codes = (evaluation: Evaluation) => evaluation.reasons.map((r) => r.code);

describe('exceptions', () => {
  it('refuses an SoD conflict submitted without an exception', () => {
    expect(
      codes(evaluate(facts('alice', { entitlement: 'payroll:viewer' }, { holdings: approverHeld }), config)),
    ).toEqual(['sod_conflict']);
  });

  it('refuses an exception without a compensating control, or with one too thin to mean anything', () => {
    const body = { entitlement: 'payroll:viewer', justification: 'Quarter-end close needs both roles' };
    for (const exception of [{}, { compensatingControl: '' }, { compensatingControl: '   weekly    ' }]) {
      const parsed = requestInputSchema.safeParse({ ...body, exception });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]).toMatchObject({ path: ['exception', 'compensatingControl'] });
    }
    expect(requestInputSchema.safeParse({ ...body, exception: { compensatingControl: CONTROL } }).success).toBe(true);
  });

  it("routes an SoD exception with a control to security and the owner's manager after the rule's stages", () => {
    const result = valid(
      evaluate(
        facts(
          'alice',
          { entitlement: 'payroll:viewer', exception: { compensatingControl: CONTROL, reviewEvery: 'P14D' } },
          { holdings: approverHeld },
        ),
        config,
      ),
    );
    if (result.plan.kind !== 'stages') throw new Error('expected stages');
    expect(result.plan.stages.map((s) => [s.name, s.approvers])).toEqual([
      ['manager', ['bob']],
      ['resource-owner', ['carol']],
      ['security', ['dave']],
      ['exception-security', ['dave']],
      ['exception-owner-manager', ['erin']],
    ]);
    expect(result.plan.exception).toEqual({
      waived: [expect.objectContaining({ code: 'sod_conflict', field: 'entitlement' })],
      compensatingControl: CONTROL,
      reviewEveryMs: 14 * DAY,
      stages: ['exception-security', 'exception-owner-manager'],
    });
  });

  it('lets a duration exception stretch the grant beyond the maximum, up to the exception limit only', () => {
    const asked = (duration: string) =>
      evaluate(
        facts('alice', { entitlement: 'analytics-db:read', duration, exception: { compensatingControl: CONTROL } }),
        config,
      );
    const stretched = valid(asked('P120D'));
    expect(stretched.grant).toMatchObject({ durationMs: 120 * DAY, maxDurationMs: 120 * DAY });
    const beyond = asked('P181D');
    expect(codes(beyond)).toEqual(['duration_too_long']);
    expect(beyond.reasons[0]?.message).toContain('Not even an exception may exceed P180D.');
  });

  it('keeps every refusal when one of them is not exceptable', () => {
    const result = evaluate(
      facts(
        'alice',
        { entitlement: 'aws-prod:admin', duration: 'P3D', exception: { compensatingControl: CONTROL } },
        {},
      ),
      config,
    );
    expect(codes(result)).toEqual(['field_missing', 'duration_too_long']);
  });

  it('refuses exceptions for break-glass, under a policy without exceptions, and for a request within policy', () => {
    const ask = { exception: { compensatingControl: CONTROL } };
    const breakGlass = evaluate(
      facts('alice', { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-1' }, breakGlass: true, ...ask }),
      config,
    );
    expect(codes(breakGlass)).toEqual(['exception_not_allowed']);

    const strict = demoConfig((raw) => {
      delete raw.policy.exceptions;
    });
    const noExceptions = evaluate(
      facts('alice', { entitlement: 'payroll:viewer', ...ask }, { holdings: approverHeld }),
      strict,
    );
    expect(codes(noExceptions)).toEqual(['sod_conflict', 'exception_not_allowed']);

    expect(codes(evaluate(facts('alice', { entitlement: 'github:member', ...ask }), config))).toEqual([
      'exception_not_needed',
    ]);
  });

  it('never routes an exception stage to the requester or the beneficiary', () => {
    // erin is carol's manager, so she would be the owner-manager stage; as the requester she is not.
    const result = valid(
      evaluate(
        facts(
          'erin',
          { entitlement: 'payroll:viewer', exception: { compensatingControl: CONTROL } },
          { holdings: approverHeld },
        ),
        config,
      ),
    );
    if (result.plan.kind !== 'stages') throw new Error('expected stages');
    for (const stage of result.plan.stages) expect(stage.approvers).not.toContain('erin');
    expect(result.plan.stages.find((s) => s.name === 'exception-owner-manager')?.approvers.length).toBeGreaterThan(0);
  });

  it('checks the exception stages of the policy like any other stage', () => {
    expect(() =>
      demoConfig((raw) => {
        raw.policy.exceptions?.stages.push({
          name: 'security',
          approvers: ['group:nobody'],
          sla: { deadline: 'PT1H' },
        });
      }),
    ).toThrow(
      /exceptions\.stages\[2\]\.name: duplicate stage name "security"[\s\S]*exceptions\.stages\[2\]\.approvers\[0\]: unknown group "nobody"/,
    );
  });
});
