import { assessRisk } from '../../domain/risk';
import { demoConfig, facts } from './demo-config';

const config = demoConfig();

describe('assessRisk', () => {
  it('keeps a routine low-sensitivity grant low', () => {
    expect(assessRisk(facts('alice', { entitlement: 'github:member', duration: 'P30D' }), config)).toEqual({
      score: 0,
      level: 'low',
      reasons: [],
    });
  });

  it('scores sensitivity, first access and a grant over 30 days', () => {
    const risk = assessRisk(
      facts('alice', { entitlement: 'analytics-db:read', duration: 'P60D' }, { heldResourceBefore: false }),
      config,
    );
    expect(risk).toEqual({
      score: 40,
      level: 'medium',
      reasons: [
        'analytics-db:read is medium sensitivity (+20)',
        'P60D is longer than 30 days (+10)',
        'alice has never had access to analytics-db (+10)',
      ],
    });
  });

  it('weighs a grant over 90 days more, not twice', () => {
    const risk = assessRisk(facts('alice', { entitlement: 'github:member', duration: 'P120D' }), config);
    expect(risk.reasons).toEqual(['P120D is longer than 90 days (+20)']);
    expect(risk.score).toBe(20);
  });

  it('uses the default duration when none is asked for', () => {
    // github:member defaults to P90D: over 30 days, not over 90.
    expect(assessRisk(facts('alice', { entitlement: 'github:member' }), config).score).toBe(10);
  });

  it('reaches medium at 25: a service account on a long grant', () => {
    const risk = assessRisk(facts('alice', { entitlement: 'github:member', beneficiary: 'svc-ci' }), config);
    expect(risk.reasons).toContain('svc-ci is a service account (+15)');
    expect(risk).toMatchObject({ score: 25, level: 'medium' });
  });

  it('reaches high when a service account asks for medium-sensitivity data for long', () => {
    const risk = assessRisk(
      facts('alice', { entitlement: 'analytics-db:read', beneficiary: 'svc-ci', duration: 'P60D' }),
      config,
    );
    expect(risk).toMatchObject({ score: 45, level: 'medium' });
    const first = assessRisk(
      facts(
        'alice',
        { entitlement: 'analytics-db:read', beneficiary: 'svc-ci', duration: 'P60D' },
        { heldResourceBefore: false },
      ),
      config,
    );
    expect(first).toMatchObject({ score: 55, level: 'high' });
  });

  it('adds the department factor when the owners sit elsewhere', () => {
    const risk = assessRisk(facts('alice', { entitlement: 'payroll:viewer' }), config);
    expect(risk.reasons).toEqual([
      'payroll:viewer is critical sensitivity (+60)',
      "alice (engineering) is outside the owners' department (finance) (+10)",
    ]);
    expect(risk).toMatchObject({ score: 70, level: 'high' });
    expect(assessRisk(facts('carol', { entitlement: 'payroll:viewer' }), config).score).toBe(60);
  });

  it('is critical from 75', () => {
    const risk = assessRisk(facts('alice', { entitlement: 'payroll:viewer' }, { heldResourceBefore: false }), config);
    expect(risk).toMatchObject({ score: 80, level: 'critical' });
  });

  it('scores privilege', () => {
    const risk = assessRisk(facts('dave', { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-1' } }), config);
    expect(risk.reasons).toEqual([
      'aws-prod:admin is critical sensitivity (+60)',
      'aws-prod:admin is privileged (+25)',
    ]);
    expect(risk).toMatchObject({ score: 85, level: 'critical' });
  });

  describe('break-glass out of hours', () => {
    const at = (now: string) =>
      assessRisk(
        facts('dave', { entitlement: 'aws-prod:admin', breakGlass: true, fields: { ticket: 'INC-1' } }, { now }),
        config,
      ).reasons.find((r) => r.startsWith('break-glass'));

    it('counts nights and weekends (UTC)', () => {
      expect(at('2026-11-24T03:15:00Z')).toBe('break-glass out of hours (Tuesday 03:15 UTC) (+15)');
      expect(at('2026-11-24T19:00:00Z')).toBe('break-glass out of hours (Tuesday 19:00 UTC) (+15)');
      expect(at('2026-11-28T12:00:00Z')).toBe('break-glass out of hours (Saturday 12:00 UTC) (+15)');
      expect(at('2026-11-24T08:00:00+02:00')).toBe('break-glass out of hours (Tuesday 06:00 UTC) (+15)');
    });

    it('does not count working hours', () => {
      expect(at('2026-11-24T07:00:00Z')).toBeUndefined();
      expect(at('2026-11-24T18:59:00Z')).toBeUndefined();
    });

    it('uses the break-glass ttl as the duration', () => {
      const risk = assessRisk(
        facts('dave', { entitlement: 'aws-prod:admin', breakGlass: true, fields: { ticket: 'INC-1' } }),
        config,
      );
      expect(risk.score).toBe(85);
    });
  });

  it('refuses an unknown entitlement: validate first', () => {
    expect(() => assessRisk(facts('alice', { entitlement: 'github:owner' }), config)).toThrow(
      'unknown entitlement "github:owner"',
    );
  });
});
