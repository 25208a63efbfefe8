import { decisionMessage } from '../../domain/messages';

/** The decision message may say where the decision was made; anything else stays refused by the strict schema. */
describe('decision message channel', () => {
  const base = { approver: 'bob', decision: 'approve' };

  test('a message without a channel is valid, as every message sent so far is', () => {
    expect(decisionMessage.safeParse(base).success).toBe(true);
  });

  test.each(['api', 'slack', 'portal'])('via %s is accepted and kept', (via) => {
    expect(decisionMessage.parse({ ...base, via })).toEqual({ ...base, via });
  });

  test('an unknown channel or another unknown field is refused', () => {
    expect(decisionMessage.safeParse({ ...base, via: 'email' }).success).toBe(false);
    expect(decisionMessage.safeParse({ ...base, channel: 'slack' }).success).toBe(false);
  });
});
