import { requestInputSchema } from '../../domain/model';
import { evaluate } from '../../domain/policy';
import { requestTags, TAG_KEYWORDS_BUDGET, tagKeywords } from '../../domain/taxonomy';
import { demoConfig, facts } from './demo-config';

const config = demoConfig();
const held = [{ requestId: 'req-0', entitlement: 'payroll:approver', status: 'active' as const, breakGlass: false }];

describe('request tags', () => {
  it('tags an ordinary request with its application, sensitivity and owners', () => {
    const f = facts('alice', { entitlement: 'payroll:viewer' });
    expect(requestTags(f.input, evaluate(f, config), config)).toEqual({
      type: 'new',
      application: 'payroll',
      sensitivity: 'critical',
      urgency: 'normal',
      owners: ['carol'],
    });
  });

  it('tags break-glass as an emergency, an accepted exception as an exception, and the other origins as given', () => {
    const glass = facts('alice', { entitlement: 'aws-prod:admin', fields: { ticket: 'INC-1' }, breakGlass: true });
    expect(requestTags(glass.input, evaluate(glass, config), config)).toMatchObject({
      type: 'break-glass',
      urgency: 'emergency',
      owners: ['dave'],
    });
    const exception = facts(
      'alice',
      { entitlement: 'payroll:viewer', exception: { compensatingControl: 'Weekly review of payroll runs.' } },
      { holdings: held },
    );
    expect(requestTags(exception.input, evaluate(exception, config), config).type).toBe('exception');
    // Asked as an exception but refused: nothing was excepted.
    const refused = facts('alice', {
      entitlement: 'github:member',
      exception: { compensatingControl: 'Weekly review of payroll runs.' },
    });
    expect(requestTags(refused.input, evaluate(refused, config), config).type).toBe('new');
    const plain = facts('alice', { entitlement: 'github:member' });
    expect(requestTags(plain.input, undefined, config, 'birthright')).toMatchObject({
      type: 'birthright',
      sensitivity: 'low',
      owners: ['alice', 'bob', 'frank', 'grace'],
    });
    expect(requestTags(plain.input, undefined, config, 'extension').type).toBe('extension');
  });

  it('still tags the application of an entitlement the catalog does not know', () => {
    const input = requestInputSchema.parse({ entitlement: 'nope:thing', justification: 'For the tagging test here' });
    expect(requestTags(input, undefined, config)).toEqual({
      type: 'new',
      application: 'nope',
      urgency: 'normal',
      owners: [],
    });
  });

  describe('as GrantflowTags keywords', () => {
    const tags = { type: 'new' as const, application: 'github', urgency: 'normal' as const, owners: ['bob', 'carol'] };
    const bytes = (keywords: string[]) => Buffer.byteLength(JSON.stringify(keywords));

    it('names every tag and owner when they fit', () => {
      expect(tagKeywords({ ...tags, sensitivity: 'low' })).toEqual([
        'type:new',
        'application:github',
        'sensitivity:low',
        'urgency:normal',
        'owner:bob',
        'owner:carol',
      ]);
    });

    it("stays under Temporal's 2 KiB value limit for a resource owned by hundreds, saying how many it left out", () => {
      // The defect: 200 owners made a 2,722-byte value; Temporal refused the upsert and the requests stalled.
      const owners = Array.from({ length: 200 }, (_, i) => `synthetic-user-${String(i + 1).padStart(4, '0')}`);
      const keywords = tagKeywords({ ...tags, owners });
      expect(bytes(keywords)).toBeLessThanOrEqual(TAG_KEYWORDS_BUDGET);
      const named = keywords.filter((k) => /^owner:[^+]/.test(k));
      expect(named).toEqual(owners.slice(0, named.length).map((o) => `owner:${o}`));
      expect(keywords.at(-1)).toBe(`owner:+${owners.length - named.length}`);
      // Multi-byte names are counted in bytes, as the server counts them.
      const wide = tagKeywords({ ...tags, owners: owners.map((o) => `${o}-ß€`) });
      expect(bytes(wide)).toBeLessThanOrEqual(TAG_KEYWORDS_BUDGET);
    });

    it('uses the whole budget: one more owner than fits is the one left out', () => {
      const budget = bytes(tagKeywords(tags));
      expect(tagKeywords(tags, budget)).toEqual(tagKeywords(tags));
      expect(tagKeywords(tags, budget - 1).at(-1)).toMatch(/^owner:\+\d$/);
    });
  });
});
