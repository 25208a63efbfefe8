import { requestInputSchema } from '../../domain/model';
import { evaluate } from '../../domain/policy';
import { requestTags } from '../../domain/taxonomy';
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
});
