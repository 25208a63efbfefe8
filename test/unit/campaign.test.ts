import path from 'node:path';
import {
  defaultDecision,
  mayReview,
  parseCampaigns,
  recommend,
  resolveReviewers,
  type CampaignDefinition,
  type RecommendationFacts,
} from '../../domain/campaign';
import { ConfigFileError, type Config } from '../../domain/config';
import type { Entitlement } from '../../domain/model';
import { loadCampaigns } from '../../platform/campaign-files';
import { loadConfig } from '../../platform/config-files';
import { demoConfig, NOW } from './demo-config';

const config = demoConfig();
const read = config.entitlements.get('analytics-db:read') as Entitlement;

function definition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'quarterly',
    name: 'Quarterly',
    scope: { resources: ['analytics-db'] },
    reviewers: { rule: 'resource-owner', fallback: 'group:security' },
    duration: 'P14D',
    default: 'recommendation',
    ...overrides,
  };
}
const parsed = (c: Record<string, unknown>, cfg: Config = config): CampaignDefinition =>
  parseCampaigns({ version: '1', campaigns: [c] }, cfg).byId.get(c.id as string) as CampaignDefinition;

function problems(campaigns: unknown[]): string[] {
  try {
    parseCampaigns({ version: '1', campaigns }, config);
  } catch (err) {
    if (err instanceof ConfigFileError) return err.message.split('\n');
    throw err;
  }
  throw new Error('no problem found');
}

describe('campaign definitions', () => {
  it('reads the demo campaigns.yaml against the demo catalog and directory', () => {
    const dir = path.join(__dirname, '..', '..', 'config', 'demo');
    const defs = loadCampaigns(dir, loadConfig(dir));
    expect([...defs.byId.keys()]).toEqual(['analytics-quarterly', 'privileged-monthly', 'service-accounts']);
    expect(defs.byId.get('analytics-quarterly')?.maxDefaultRevokeShare).toBe(0.5);
    // The guard is on unless a definition turns it off.
    expect(defs.byId.get('privileged-monthly')?.maxDefaultRevokeShare).toBe(0.25);
  });

  it('names every problem with its place and a sentence', () => {
    expect(
      problems([
        definition({
          scope: { resources: ['nope'], groups: ['ghosts'] },
          reviewers: { rule: 'user:svc-ci', fallback: 'group:nobody' },
          reminders: ['P20D'],
          escalateAfter: 'P14D',
          schedule: { cron: ['every monday'] },
        }),
        definition({ default: 'maybe' }),
      ]),
    ).toEqual([expect.stringMatching(/^campaigns\.yaml: campaigns\[1\]\.default: /)]);
    expect(
      problems([
        definition({
          scope: { resources: ['nope'], groups: ['ghosts'] },
          reviewers: { rule: 'user:svc-ci', fallback: 'group:nobody' },
          reminders: ['P20D'],
          escalateAfter: 'P14D',
          schedule: { cron: ['every monday'] },
        }),
        definition(),
      ]),
    ).toEqual([
      'campaigns.yaml: campaigns[0].scope.resources[0]: unknown resource "nope"',
      'campaigns.yaml: campaigns[0].scope.groups[0]: unknown group "ghosts"',
      'campaigns.yaml: campaigns[0].scope: no entitlement in the catalog matches this scope, so the campaign would review nothing',
      'campaigns.yaml: campaigns[0].reviewers.rule: "svc-ci" is a service account and cannot review',
      'campaigns.yaml: campaigns[0].reviewers.fallback: unknown group "nobody"',
      'campaigns.yaml: campaigns[0].reminders[0]: P20D is not before the due date (P14D)',
      'campaigns.yaml: campaigns[0].escalateAfter: P14D is not before the due date (P14D)',
      'campaigns.yaml: campaigns[0].schedule.cron[0]: "every monday" must have five fields: minute hour day-of-month month weekday',
      'campaigns.yaml: campaigns[1].id: duplicate campaign id "quarterly"',
    ]);
  });
});

describe('reviewers', () => {
  const c = parsed(definition());

  it('go to the resource owner and, while frank is away, to his delegate', () => {
    expect(resolveReviewers(c, config, { holder: 'alice', entitlement: read }, NOW)).toEqual({
      assigned: ['frank'],
      reviewers: ['frank', 'grace'],
      fallback: ['dave'],
    });
  });

  it('never include the holder, also not as the delegate of the reviewer', () => {
    expect(resolveReviewers(c, config, { holder: 'grace', entitlement: read }, NOW).reviewers).toEqual(['frank']);
    // The owner holds it: nobody named is left, so the fallback reviews.
    expect(resolveReviewers(c, config, { holder: 'frank', entitlement: read }, NOW).reviewers).toEqual(['dave']);
  });

  it("never include a service account's owner of record", () => {
    const byOwner = parsed(definition({ reviewers: { rule: 'user:alice', fallback: 'group:security' } }));
    expect(resolveReviewers(byOwner, config, { holder: 'svc-ci', entitlement: read }, NOW).reviewers).toEqual(['dave']);
    // The manager rule asks the owner's manager, not the owner.
    const byManager = parsed(definition({ reviewers: { rule: 'manager', fallback: 'group:security' } }));
    expect(resolveReviewers(byManager, config, { holder: 'svc-ci', entitlement: read }, NOW).reviewers).toEqual([
      'bob',
    ]);
  });

  it('refuse the holder even when a stored item lists them, and let a delegate decide', () => {
    expect(mayReview(config, 'alice', { holder: 'alice', reviewers: ['alice', 'frank'] }, NOW)).toEqual({
      ok: false,
      why: 'own-access',
    });
    expect(mayReview(config, 'alice', { holder: 'svc-ci', reviewers: ['alice'] }, NOW)).toEqual({
      ok: false,
      why: 'own-access',
    });
    expect(mayReview(config, 'grace', { holder: 'alice', reviewers: ['frank'] }, NOW)).toEqual({ ok: true });
    expect(mayReview(config, 'bob', { holder: 'alice', reviewers: ['frank'] }, NOW)).toEqual({
      ok: false,
      why: 'not-reviewer',
    });
    // After the delegation ends, the delegate no longer stands in.
    expect(mayReview(config, 'grace', { holder: 'alice', reviewers: ['frank'] }, '2100-01-01T00:00:00Z').ok).toBe(
      false,
    );
  });
});

describe('recommendations', () => {
  const c = parsed(definition({ recommendations: { olderThan: 'P90D' } }));
  const facts = (over: Partial<RecommendationFacts> = {}): RecommendationFacts => ({
    holder: 'alice',
    entitlement: read,
    startedAt: '2026-11-01T00:00:00Z',
    extensions: 1,
    holderEntitlements: ['analytics-db:read'],
    holdersOfEntitlement: new Set(['alice', 'frank']),
    now: NOW,
    ...over,
  });
  const codes = (f: RecommendationFacts, cfg: Config = config) => {
    const r = recommend(c, cfg, f);
    return [r.recommendation, r.reasons.map((x) => x.code)];
  };

  it('keeps a young grant that peers hold too', () => {
    expect(codes(facts())).toEqual(['keep', []]);
  });

  it('revokes for one strong reason: holder left, SoD conflict, orphaned service account', () => {
    const left = demoConfig((raw) => {
      const alice = raw.directory.users.find((u) => u.id === 'alice');
      if (alice) alice.active = false;
    });
    expect(codes(facts(), left)).toEqual(['revoke', ['holder_inactive']]);
    const viewer = config.entitlements.get('payroll:viewer') as Entitlement;
    expect(codes(facts({ entitlement: viewer, holderEntitlements: ['payroll:viewer', 'payroll:approver'] }))).toEqual([
      'revoke',
      ['sod_conflict'],
    ]);
    expect(codes(facts({ holder: 'svc-ci' }), left)).toEqual(['revoke', ['service_account_without_owner']]);
  });

  it('revokes for two weak reasons, keeps for one', () => {
    expect(codes(facts({ startedAt: '2026-01-01T00:00:00Z' }))).toEqual(['keep', ['grant_older_than']]);
    expect(codes(facts({ startedAt: '2026-01-01T00:00:00Z', extensions: 0 }))).toEqual([
      'revoke',
      ['grant_older_than', 'never_extended'],
    ]);
    expect(
      codes(facts({ movedSinceGrant: 'moved from sales to engineering', holdersOfEntitlement: new Set() })),
    ).toEqual(['revoke', ['holder_moved', 'no_peer_holds_it']]);
  });

  it('are applied only by a default that says so', () => {
    expect(defaultDecision('recommendation', 'revoke')).toBe('revoke');
    expect(defaultDecision('keep', 'revoke')).toBe('keep');
    expect(defaultDecision('revoke', 'keep')).toBe('revoke');
  });
});
