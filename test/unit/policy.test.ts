import type { Config } from '../../domain/config';
import type { Evaluation, Holding, Plan, RequestFacts } from '../../domain/model';
import { evaluate } from '../../domain/policy';
import { demoConfig, facts, rawUser } from './demo-config';

const config = demoConfig();
const HOUR = 3600_000;
const DAY = 24 * HOUR;

function valid(evaluation: Evaluation) {
  if (!evaluation.valid) throw new Error(`expected a valid evaluation, got ${JSON.stringify(evaluation.reasons)}`);
  return evaluation;
}

function invalid(evaluation: Evaluation) {
  if (evaluation.valid) throw new Error(`expected an invalid evaluation, got plan ${evaluation.plan.kind}`);
  return evaluation;
}

function stages(plan: Plan) {
  if (plan.kind !== 'stages') throw new Error(`expected stages, got ${plan.kind}`);
  return plan.stages;
}

/** Each stage as `name: approvers (required)`, the shape the policy is discussed in. */
function summary(requestFacts: RequestFacts, cfg: Config = config): string[] {
  return stages(valid(evaluate(requestFacts, cfg)).plan).map(
    (s) => `${s.name}: ${s.approvers.join(', ')} (${s.required})`,
  );
}

function codes(requestFacts: RequestFacts, cfg: Config = config) {
  return invalid(evaluate(requestFacts, cfg)).reasons.map((r) => [r.code, r.field]);
}

const holding = (overrides: Partial<Holding>): Holding => ({
  requestId: 'req-0',
  entitlement: 'analytics-db:read',
  status: 'active',
  breakGlass: false,
  ...overrides,
});

describe('evaluate: the demo plans', () => {
  it('auto-approves github:member', () => {
    const result = valid(evaluate(facts('alice', { entitlement: 'github:member' }), config));
    expect(result.plan).toEqual({ kind: 'auto-approve', rule: 'low-risk-auto-approve' });
    expect(result.policyVersion).toBe('2026-11-23.1');
    expect(result.grant).toEqual({
      entitlement: 'github:member',
      resource: 'github',
      target: 'member',
      beneficiary: 'alice',
      durationMs: 90 * DAY,
      maxDurationMs: 365 * DAY,
      connector: {
        type: 'webhook',
        url: 'http://127.0.0.1:8090/github',
        secretEnv: 'GRANTFLOW_WEBHOOK_SECRET',
      },
      fulfillers: [],
      revokers: ['alice', 'bob', 'frank', 'grace', 'dave', 'erin'],
      operators: ['dave', 'erin'],
      extensionWithoutApprovalMs: 7 * DAY,
    });
  });

  it("sends analytics-db:read to alice's manager, with the SLA in ms", () => {
    const result = valid(evaluate(facts('alice', { entitlement: 'analytics-db:read' }), config));
    expect(result.plan).toEqual({
      kind: 'stages',
      rule: 'medium',
      stages: [
        {
          name: 'manager',
          quorum: 'any',
          approvers: ['bob'],
          fallback: ['erin', 'dave'],
          required: 1,
          remindersMs: [8 * HOUR],
          escalateAfterMs: 24 * HOUR,
          deadlineMs: 72 * HOUR,
        },
      ],
    });
    expect(result.grant).toMatchObject({ durationMs: 30 * DAY, connector: { type: 'postgres-role' } });
  });

  it('sends analytics-db:write to the manager, then to frank and his delegate grace', () => {
    const requestFacts = facts('alice', { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-1234' } });
    expect(summary(requestFacts)).toEqual(['manager: bob (1)', 'resource-owner: frank, grace (1)']);
    expect(valid(evaluate(requestFacts, config)).plan.rule).toBe('high');
  });

  it('sends payroll:viewer to the manager, carol and security, and fulfils it by hand', () => {
    const result = valid(evaluate(facts('alice', { entitlement: 'payroll:viewer' }), config));
    expect(summary(facts('alice', { entitlement: 'payroll:viewer' }))).toEqual([
      'manager: bob (1)',
      'resource-owner: carol (1)',
      'security: dave (1)',
    ]);
    expect(result.plan.rule).toBe('critical');
    expect(result.grant).toMatchObject({
      connector: { type: 'manual' },
      fulfillers: ['carol'],
      revokers: ['carol', 'dave', 'erin'],
    });
  });

  it('needs both the manager and security for aws-prod:admin', () => {
    const requestFacts = facts('alice', { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-42' } });
    expect(summary(requestFacts)).toEqual(['manager-and-security: bob, dave (2)']);
    const result = valid(evaluate(requestFacts, config));
    expect(result.plan.rule).toBe('privileged-critical');
    expect(result.risk.level).toBe('critical');
    expect(result.grant.durationMs).toBe(8 * HOUR);
  });

  it('grants break-glass at once for its ttl, with a review by security', () => {
    const result = valid(
      evaluate(
        facts('alice', { entitlement: 'aws-prod:admin', breakGlass: true, fields: { ticket: 'INC-42' } }),
        config,
      ),
    );
    expect(result.plan).toMatchObject({
      kind: 'break-glass',
      rule: 'break-glass',
      ttlMs: 4 * HOUR,
      review: { name: 'post-incident-review', approvers: ['dave'], required: 1, deadlineMs: 24 * HOUR },
    });
    expect(result.grant).toMatchObject({ durationMs: 4 * HOUR, maxDurationMs: 4 * HOUR });
    expect(result.grant.extensionWithoutApprovalMs).toBeUndefined();
  });

  it('has security review its own break-glass through its manager', () => {
    const result = valid(
      evaluate(
        facts('dave', { entitlement: 'aws-prod:admin', breakGlass: true, fields: { ticket: 'INC-42' } }),
        config,
      ),
    );
    expect(result.plan).toMatchObject({ kind: 'break-glass', review: { approvers: ['erin'], fallback: [] } });
  });
});

describe('evaluate: awkward approvers', () => {
  it('sends a manager asking for themselves to their own manager, never to themselves', () => {
    expect(summary(facts('bob', { entitlement: 'analytics-db:read' }))).toEqual(['manager: erin (1)']);
    expect(summary(facts('bob', { entitlement: 'aws-prod:admin', fields: { ticket: 'CHG-7' } }))).toEqual([
      'manager-and-security: erin, dave (2)',
    ]);
  });

  it('keeps a delegate who is the requester out of the stage they would approve', () => {
    const result = valid(
      evaluate(facts('grace', { entitlement: 'analytics-db:write', fields: { ticket: 'CHG-1' } }), config),
    );
    const [manager, owner] = stages(result.plan);
    expect(manager?.approvers).toEqual(['erin']);
    expect(owner?.approvers).toEqual(['frank']);
    expect(owner?.fallback).not.toContain('grace');
  });

  it("routes a service account to its owner's manager", () => {
    const requestFacts = facts('alice', { entitlement: 'analytics-db:read', beneficiary: 'svc-ci' });
    expect(summary(requestFacts)).toEqual(['manager: bob (1)']);
    expect(valid(evaluate(requestFacts, config)).grant.beneficiary).toBe('svc-ci');
  });

  it('adds security when a service account on a medium resource is high risk', () => {
    const requestFacts = facts(
      'alice',
      { entitlement: 'analytics-db:read', beneficiary: 'svc-ci', duration: 'P60D' },
      { heldResourceBefore: false },
    );
    expect(valid(evaluate(requestFacts, config)).plan.rule).toBe('medium-high-risk');
    expect(summary(requestFacts)).toEqual(['manager: bob (1)', 'security: dave (1)']);
  });

  it('never lets escalation land on the requester or the beneficiary', () => {
    const requests = [...config.users.values()]
      .filter((u) => u.kind === 'human')
      .flatMap((u) =>
        [...config.entitlements.keys()].map((entitlement) =>
          facts(u.id, {
            entitlement,
            fields: entitlement.startsWith('aws') || entitlement.endsWith('write') ? { ticket: 'CHG-1' } : {},
          }),
        ),
      )
      .concat(facts('alice', { entitlement: 'analytics-db:read', beneficiary: 'svc-ci' }));
    let checked = 0;
    for (const requestFacts of requests) {
      const result = evaluate(requestFacts, config);
      if (!result.valid || result.plan.kind === 'auto-approve') continue;
      const resolved = result.plan.kind === 'stages' ? result.plan.stages : [result.plan.review];
      const excluded = [requestFacts.requester, requestFacts.input.beneficiary ?? requestFacts.requester];
      for (const s of resolved) {
        expect([...s.approvers, ...s.fallback].filter((id) => excluded.includes(id))).toEqual([]);
        expect(s.approvers.length).toBeGreaterThan(0);
      }
      checked += 1;
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('refuses a request nobody else can approve', () => {
    const cfg = demoConfig((raw) => (rawUser(raw, 'erin').active = false));
    const requestFacts = facts('dave', {
      entitlement: 'aws-prod:admin',
      breakGlass: true,
      fields: { ticket: 'INC-1' },
    });
    expect(codes(requestFacts, cfg)).toEqual([['no_eligible_approvers', undefined]]);
  });
});

describe('evaluate: who may ask for whom', () => {
  it('lets only the owner request for a service account', () => {
    expect(codes(facts('bob', { entitlement: 'analytics-db:read', beneficiary: 'svc-ci' }))).toEqual([
      ['beneficiary_not_allowed', 'beneficiary'],
    ]);
  });

  it('refuses a request for another person', () => {
    const result = invalid(evaluate(facts('bob', { entitlement: 'github:member', beneficiary: 'alice' }), config));
    expect(result.reasons).toEqual([
      {
        code: 'beneficiary_not_allowed',
        field: 'beneficiary',
        message: 'You may request access only for yourself or for a service account you own; "alice" is neither.',
      },
    ]);
  });

  it("says nothing of another person's holdings when the requester may not ask for them", () => {
    const requestFacts = {
      ...facts('alice', { entitlement: 'payroll:viewer', beneficiary: 'bob' }),
      holdings: [holding({ requestId: 'bob-live', entitlement: 'payroll:viewer', status: 'active' })],
    };
    const result = invalid(evaluate(requestFacts, config));
    expect(result.reasons.map((r) => r.code)).toEqual(['beneficiary_not_allowed']);
    expect(result.existingRequestId).toBeUndefined();
    expect(JSON.stringify(result)).not.toContain('bob-live');
  });

  it('refuses a service account whose owner left', () => {
    const cfg = demoConfig((raw) => (rawUser(raw, 'alice').active = false));
    expect(codes(facts('alice', { entitlement: 'github:member', beneficiary: 'svc-ci' }), cfg)).toEqual([
      ['requester_inactive', undefined],
      ['service_account_owner_inactive', 'beneficiary'],
    ]);
    expect(codes(facts('bob', { entitlement: 'github:member', beneficiary: 'svc-ci' }), cfg)).toEqual([
      ['beneficiary_not_allowed', 'beneficiary'],
      ['service_account_owner_inactive', 'beneficiary'],
    ]);
  });

  it('refuses unknown and inactive people, and service accounts as requesters', () => {
    expect(codes(facts('zed', { entitlement: 'github:member' }))).toEqual([
      ['unknown_requester', undefined],
      ['unknown_beneficiary', 'beneficiary'],
    ]);
    expect(codes(facts('alice', { entitlement: 'github:member', beneficiary: 'zed' }))).toEqual([
      ['unknown_beneficiary', 'beneficiary'],
    ]);
    expect(codes(facts('svc-ci', { entitlement: 'github:member' }))).toEqual([['requester_not_a_person', undefined]]);
    const cfg = demoConfig((raw) => (rawUser(raw, 'svc-ci').active = false));
    expect(codes(facts('alice', { entitlement: 'github:member', beneficiary: 'svc-ci' }), cfg)).toEqual([
      ['beneficiary_inactive', 'beneficiary'],
    ]);
  });
});

describe('evaluate: the request itself', () => {
  it('refuses an unknown entitlement, without a risk', () => {
    const result = invalid(evaluate(facts('alice', { entitlement: 'github:owner' }), config));
    expect(result.reasons).toEqual([
      { code: 'unknown_entitlement', field: 'entitlement', message: 'There is no entitlement "github:owner".' },
    ]);
    expect(result.risk).toBeUndefined();
  });

  it('refuses a duration over the maximum', () => {
    const result = invalid(evaluate(facts('alice', { entitlement: 'analytics-db:read', duration: 'P120D' }), config));
    expect(result.reasons).toEqual([
      {
        code: 'duration_too_long',
        field: 'duration',
        message: 'P120D is longer than the maximum of P90D for analytics-db:read.',
      },
    ]);
    expect(result.risk?.level).toBe('medium');
  });

  it('accepts a shorter duration and uses it', () => {
    const result = valid(evaluate(facts('alice', { entitlement: 'analytics-db:read', duration: 'P3D' }), config));
    expect(result.grant.durationMs).toBe(3 * DAY);
  });

  it('checks required fields against their pattern, on the whole value', () => {
    const write = (fields: Record<string, string>) => facts('alice', { entitlement: 'analytics-db:write', fields });
    expect(codes(write({}))).toEqual([['field_missing', 'fields.ticket']]);
    expect(codes(write({ ticket: '  ' }))).toEqual([['field_missing', 'fields.ticket']]);
    expect(invalid(evaluate(write({ ticket: 'INC-12' }), config)).reasons).toEqual([
      {
        code: 'field_invalid',
        field: 'fields.ticket',
        message: 'Change ticket (e.g. CHG-1234): "INC-12" does not match the pattern ^CHG-[0-9]{1,8}$.',
      },
    ]);
    const unanchored = demoConfig((raw) => {
      const field = raw.catalog.resources[1]?.entitlements[1]?.fields?.[0];
      if (field) field.pattern = 'CHG-[0-9]+';
    });
    expect(codes(write({ ticket: 'see CHG-12 too' }), unanchored)).toEqual([['field_invalid', 'fields.ticket']]);
    expect(evaluate(write({ ticket: 'CHG-12' }), unanchored).valid).toBe(true);
  });

  it('refuses unknown fields', () => {
    expect(codes(facts('alice', { entitlement: 'analytics-db:read', fields: { ticket: 'CHG-1' } }))).toEqual([
      ['field_unknown', 'fields.ticket'],
    ]);
  });

  it('refuses break-glass where it is not allowed, for service accounts, and beyond its ttl', () => {
    expect(codes(facts('alice', { entitlement: 'analytics-db:read', breakGlass: true }))).toEqual([
      ['break_glass_not_allowed', 'breakGlass'],
    ]);
    expect(
      codes(
        facts('alice', {
          entitlement: 'aws-prod:admin',
          beneficiary: 'svc-ci',
          breakGlass: true,
          fields: { ticket: 'INC-1' },
        }),
      ),
    ).toEqual([['break_glass_service_account', 'breakGlass']]);
    expect(
      codes(
        facts('alice', {
          entitlement: 'aws-prod:admin',
          breakGlass: true,
          duration: 'PT8H',
          fields: { ticket: 'INC-1' },
        }),
      ),
    ).toEqual([['duration_too_long', 'duration']]);
  });

  it('collects every reason at once', () => {
    const requestFacts = facts('bob', {
      entitlement: 'analytics-db:write',
      beneficiary: 'svc-ci',
      duration: 'P60D',
      fields: { ticket: 'nope', colour: 'blue' },
      breakGlass: true,
    });
    expect(codes(requestFacts)).toEqual([
      ['beneficiary_not_allowed', 'beneficiary'],
      ['field_invalid', 'fields.ticket'],
      ['field_unknown', 'fields.colour'],
      ['duration_too_long', 'duration'],
      ['break_glass_not_allowed', 'breakGlass'],
      ['break_glass_service_account', 'breakGlass'],
    ]);
  });
});

describe('evaluate: what the beneficiary already holds', () => {
  it('refuses a separation-of-duties conflict', () => {
    const result = invalid(
      evaluate(
        facts(
          'alice',
          { entitlement: 'payroll:viewer' },
          { holdings: [holding({ requestId: 'req-9', entitlement: 'payroll:approver' })] },
        ),
        config,
      ),
    );
    expect(result.reasons).toEqual([
      {
        code: 'sod_conflict',
        field: 'entitlement',
        message:
          'payroll:viewer may not be held together with payroll:approver, which alice holds in request req-9 (separation of duties).',
      },
    ]);
  });

  it('honours a conflict declared on one side only, and a pending request', () => {
    const oneSided = demoConfig((raw) => {
      const viewer = raw.catalog.resources[2]?.entitlements[0];
      if (viewer) viewer.conflicts = [];
    });
    const requestFacts = facts(
      'alice',
      { entitlement: 'payroll:viewer' },
      { holdings: [holding({ entitlement: 'payroll:approver', status: 'pending_approval' })] },
    );
    expect(codes(requestFacts, oneSided)).toEqual([['sod_conflict', 'entitlement']]);
  });

  it('ignores requests that are over', () => {
    const holdings = [
      holding({ entitlement: 'payroll:approver', status: 'revoked' }),
      holding({ entitlement: 'payroll:viewer', status: 'expired' }),
    ];
    expect(evaluate(facts('alice', { entitlement: 'payroll:viewer' }, { holdings }), config).valid).toBe(true);
  });

  it('points to a request already pending or live for the same entitlement', () => {
    for (const status of ['validating', 'pending_approval', 'provisioning', 'active'] as const) {
      const result = invalid(
        evaluate(
          facts('alice', { entitlement: 'analytics-db:read' }, { holdings: [holding({ requestId: 'req-7', status })] }),
          config,
        ),
      );
      expect(result.existingRequestId).toBe('req-7');
      expect(result.reasons.map((r) => r.code)).toEqual(['already_requested']);
    }
    const live = invalid(
      evaluate(
        facts('alice', { entitlement: 'analytics-db:read' }, { holdings: [holding({ requestId: 'req-7' })] }),
        config,
      ),
    );
    expect(live.reasons[0]?.message).toBe(
      'alice already has analytics-db:read live in request req-7; extend that request instead.',
    );
  });

  it('does not count the request being evaluated', () => {
    const holdings = [holding({ requestId: 'req-1', status: 'validating' })];
    expect(evaluate(facts('alice', { entitlement: 'analytics-db:read' }, { holdings }), config).valid).toBe(true);
  });

  it('allows break-glass over a regular grant, but not a second break-glass', () => {
    const input = { entitlement: 'aws-prod:admin', breakGlass: true, fields: { ticket: 'INC-1' } };
    const regular = [holding({ entitlement: 'aws-prod:admin' })];
    expect(evaluate(facts('alice', input, { holdings: regular }), config).valid).toBe(true);
    const glass = [holding({ requestId: 'req-3', entitlement: 'aws-prod:admin', breakGlass: true })];
    expect(invalid(evaluate(facts('alice', input, { holdings: glass }), config)).existingRequestId).toBe('req-3');
    // And a regular request while a break-glass grant is live: the incident is over, normal access follows.
    expect(evaluate(facts('alice', { ...input, breakGlass: false }, { holdings: glass }), config).valid).toBe(true);
  });
});

describe('evaluate: the policy', () => {
  it('refuses what no rule covers', () => {
    const narrow = demoConfig((raw) => {
      raw.policy.rules = [{ name: 'only-github', when: { entitlements: ['github:member'] }, plan: 'auto-approve' }];
    });
    expect(codes(facts('alice', { entitlement: 'analytics-db:read' }), narrow)).toEqual([
      ['no_matching_rule', undefined],
    ]);
  });

  it('matches rules on beneficiary kind and duration', () => {
    const custom = demoConfig((raw) => {
      raw.policy.rules.unshift(
        {
          name: 'service-accounts',
          when: { beneficiaryKind: 'service' },
          plan: [{ name: 'owner', approvers: ['resource-owner'], sla: { deadline: 'P1D' } }],
        },
        {
          name: 'long',
          when: { durationOver: 'P14D', entitlements: ['analytics-db:read'] },
          plan: [{ name: 'security', approvers: ['group:security'], quorum: 'all', sla: { deadline: 'P1D' } }],
        },
      );
    });
    const svc = valid(evaluate(facts('alice', { entitlement: 'github:member', beneficiary: 'svc-ci' }), custom));
    expect(svc.plan.rule).toBe('service-accounts');
    expect(valid(evaluate(facts('alice', { entitlement: 'analytics-db:read' }), custom)).plan.rule).toBe('long');
    expect(
      valid(evaluate(facts('alice', { entitlement: 'analytics-db:read', duration: 'P14D' }), custom)).plan.rule,
    ).toBe('medium');
  });
});
