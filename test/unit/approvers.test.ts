import {
  activeDelegate,
  activeManager,
  requiredApprovals,
  resolveFulfillers,
  resolveStage,
  type ApproverContext,
} from '../../domain/approvers';
import type { Config } from '../../domain/config';
import type { StageConfig } from '../../domain/model';
import { demoConfig, NOW, rawUser, user } from './demo-config';

const config = demoConfig();

function ctx(
  requester: string,
  entitlement: string,
  opts: { beneficiary?: string; config?: Config; now?: string } = {},
) {
  const cfg = opts.config ?? config;
  const found = cfg.entitlements.get(entitlement);
  if (!found) throw new Error(`no entitlement ${entitlement}`);
  const context: ApproverContext = {
    config: cfg,
    requester,
    beneficiary: user(cfg, opts.beneficiary ?? requester),
    entitlement: found,
    now: opts.now ?? NOW,
  };
  return context;
}

function stage(approvers: string[], quorum: StageConfig['quorum'] = 'any'): StageConfig {
  return { name: 'test', approvers, quorum, sla: { reminders: ['PT8H'], escalateAfter: 'PT24H', deadline: 'PT72H' } };
}

describe('resolveStage', () => {
  it('resolves the manager of the beneficiary', () => {
    const resolved = resolveStage(stage(['manager']), ctx('alice', 'analytics-db:read'));
    expect(resolved).toEqual({
      name: 'test',
      quorum: 'any',
      approvers: ['bob'],
      fallback: ['erin', 'dave'],
      required: 1,
      remindersMs: [8 * 3600_000],
      escalateAfterMs: 24 * 3600_000,
      deadlineMs: 72 * 3600_000,
    });
  });

  it("resolves a service account's manager as its owner's manager", () => {
    const resolved = resolveStage(stage(['manager']), ctx('alice', 'analytics-db:read', { beneficiary: 'svc-ci' }));
    expect(resolved.approvers).toEqual(['bob']);
  });

  it('adds the delegate of an away approver and keeps the approver', () => {
    const resolved = resolveStage(stage(['resource-owner']), ctx('alice', 'analytics-db:write'));
    expect(resolved.approvers).toEqual(['frank', 'grace']);
    expect(resolved.fallback).toEqual(['bob', 'erin', 'dave']);
  });

  it('ignores a delegation that has ended', () => {
    const later = '2100-01-01T00:00:00Z';
    expect(activeDelegate(config, 'frank', later)).toBeUndefined();
    const resolved = resolveStage(stage(['resource-owner']), ctx('alice', 'analytics-db:write', { now: later }));
    expect(resolved.approvers).toEqual(['frank']);
  });

  it('never lists a delegate who is the requester', () => {
    const resolved = resolveStage(stage(['resource-owner']), ctx('grace', 'analytics-db:write'));
    expect(resolved.approvers).toEqual(['frank']);
    expect(resolved.fallback).not.toContain('grace');
  });

  it('never lists a manager who requests for themselves', () => {
    const resolved = resolveStage(stage(['manager', 'group:managers']), ctx('bob', 'analytics-db:read'));
    expect(resolved.approvers).toEqual(['erin', 'carol', 'grace']);
    expect(resolved.fallback).not.toContain('bob');
  });

  it('skips inactive people and walks up past a manager who left', () => {
    const cfg = demoConfig((raw) => (rawUser(raw, 'bob').active = false));
    expect(activeManager(cfg, user(cfg, 'alice'))).toBe('erin');
    const resolved = resolveStage(
      stage(['manager', 'group:managers']),
      ctx('alice', 'analytics-db:read', { config: cfg }),
    );
    expect(resolved.approvers).toEqual(['erin', 'carol', 'grace']);
  });

  it('falls back when the named approvers are all excluded', () => {
    // Alice is the only one named: her manager and security stand in, and escalate further up.
    const resolved = resolveStage(stage(['user:alice']), ctx('alice', 'analytics-db:read'));
    expect(resolved.approvers).toEqual(['bob', 'dave']);
    expect(resolved.fallback).toEqual(['erin']);
    expect(resolved.required).toBe(1);
  });

  it('falls back to security when nobody named is active', () => {
    const cfg = demoConfig((raw) => (rawUser(raw, 'carol').active = false));
    const resolved = resolveStage(stage(['resource-owner']), ctx('alice', 'payroll:viewer', { config: cfg }));
    expect(resolved.approvers).toEqual(['dave']);
  });

  it('resolves to nobody when even security is excluded or gone', () => {
    const cfg = demoConfig((raw) => (rawUser(raw, 'erin').active = false));
    const resolved = resolveStage(stage(['group:security']), ctx('dave', 'aws-prod:admin', { config: cfg }));
    expect(resolved.approvers).toEqual([]);
    expect(resolved.fallback).toEqual([]);
  });

  it('counts the quorum over the eligible approvers', () => {
    const managers = (quorum: StageConfig['quorum']) =>
      resolveStage(stage(['group:managers'], quorum), ctx('alice', 'analytics-db:read'));
    expect(managers('all')).toMatchObject({ approvers: ['bob', 'carol', 'grace'], required: 3 });
    expect(managers('any').required).toBe(1);
    expect(managers(2).required).toBe(2);
    expect(managers(5).required).toBe(3);
    // Bob asks: only two managers are left, and `all` means both of them.
    expect(resolveStage(stage(['group:managers'], 'all'), ctx('bob', 'analytics-db:read')).required).toBe(2);
  });

  it('never puts the requester or the beneficiary among approvers or fallback', () => {
    const specs = ['manager', 'resource-owner', 'group:managers', 'group:security', 'group:engineering', 'user:frank'];
    const cases = [...config.users.values()]
      .filter((u) => u.kind === 'human')
      .map((u) => ({ requester: u.id, beneficiary: u.id }))
      .concat([{ requester: 'alice', beneficiary: 'svc-ci' }]);
    for (const { requester, beneficiary } of cases) {
      for (const entitlement of config.entitlements.keys()) {
        for (const spec of specs) {
          const resolved = resolveStage(stage([spec]), ctx(requester, entitlement, { beneficiary }));
          const everyone = [...resolved.approvers, ...resolved.fallback];
          expect({ requester, entitlement, spec, everyone }).toEqual({
            requester,
            entitlement,
            spec,
            everyone: everyone.filter((id) => id !== requester && id !== beneficiary),
          });
          expect(everyone.some((id) => user(config, id).kind !== 'human' || !user(config, id).active)).toBe(false);
        }
      }
    }
  });
});

describe('requiredApprovals', () => {
  it('is one for any, all for all, n capped at the approvers', () => {
    expect([requiredApprovals('any', 3), requiredApprovals('all', 3), requiredApprovals(2, 3)]).toEqual([1, 3, 2]);
    expect(requiredApprovals(4, 3)).toBe(3);
  });
});

describe('resolveFulfillers', () => {
  it('resolves the fulfillers of a manual connector', () => {
    expect(resolveFulfillers(ctx('alice', 'payroll:viewer'))).toEqual(['carol']);
    expect(resolveFulfillers(ctx('alice', 'analytics-db:read'))).toEqual([]);
  });

  it('never lets someone fulfil their own request, falling back to security', () => {
    expect(resolveFulfillers(ctx('carol', 'payroll:viewer'))).toEqual(['dave']);
  });
});
