import type { Quorum, ResolvedStage } from '../../domain/model';
import { initialView } from '../../workflows/messages';
import { applyReroute, checkReroute } from '../../workflows/request/reroute';
import { initialState, stageViewOf, type RequestState } from '../../workflows/request/state';

// The reroute's arithmetic, on the request's state alone: who goes in, what the stage still needs, what is refused.

function spec(name: string, approvers: string[], fallback: string[], quorum: Quorum = 'any'): ResolvedStage {
  const required = quorum === 'any' ? 1 : quorum === 'all' ? approvers.length : quorum;
  return { name, quorum, approvers, fallback, required, remindersMs: [], deadlineMs: 86_400_000 };
}

/** A request by alice, waiting in its first stage; `stages` are the round's stages in order. */
function waiting(stages: ResolvedStage[]): RequestState {
  const s = initialState(
    initialView({
      requestId: 'r1',
      requester: 'alice',
      input: { entitlement: 'analytics-db:read', justification: 'Needed.', fields: {}, breakGlass: false },
      submittedAt: '2026-01-01T00:00:00.000Z',
    }),
  );
  s.phase = { name: 'pending_approval' };
  s.request = { specs: stages, current: 0 };
  s.view.stages = stages.map((st) => stageViewOf(st, ['alice']));
  const first = s.view.stages[0]!;
  first.status = 'open';
  first.openedAt = '2026-01-01T00:00:00.000Z';
  return s;
}

const refusal = (s: RequestState, by: string, leaver: string) => {
  try {
    checkReroute(s, { by, leaver });
    return 'accepted';
  } catch (err) {
    return (err as { type?: string }).type;
  }
};

test('the leaver alone: their seat goes to the fallback (never the requester), and the stage counts as escalated', () => {
  const s = waiting([spec('manager', ['bob'], ['bob-delegate', 'erin', 'alice', 'dave'])]);
  expect(refusal(s, 'system', 'bob')).toBe('accepted');
  applyReroute(s, { by: 'system', leaver: 'bob', reason: 'offboarding: bob left' }, Date.parse('2026-01-01T01:00:00Z'));
  const stage = s.view.stages[0]!;
  expect(stage.approvers).toEqual(['bob-delegate', 'erin', 'dave']);
  expect(stage).toMatchObject({ required: 1, escalated: true, fallback: [] });
  const event = s.outbox.events.at(-1);
  expect(event).toMatchObject({ action: 'rerouted', actor: 'system', data: { leaver: 'bob' } });
  expect(event?.data?.stages).toEqual([
    {
      stage: 'manager',
      key: 'req:manager',
      open: true,
      added: ['bob-delegate', 'erin', 'dave'],
      required: 1,
      unmet: false,
    },
  ]);
  // The new approvers are told, and so is the requester.
  expect(s.outbox.notifications.map((n) => [n.key, n.to])).toEqual([
    ['r1:req:manager:rerouted:bob', ['bob-delegate', 'erin', 'dave']],
    ['r1:req:manager:rerouted:bob:requester', ['alice']],
  ]);
});

test('a stage of two needs two approvals still; an approval already given stands, and a leaver who decided stays', () => {
  const s = waiting([spec('owners', ['bob', 'carol', 'frank'], ['erin'], 2)]);
  const stage = s.view.stages[0]!;
  stage.decisions.push({ approver: 'carol', decision: 'approve', at: '2026-01-01T00:10:00.000Z', via: 'update' });
  applyReroute(s, { by: 'system', leaver: 'bob' }, Date.parse('2026-01-01T01:00:00Z'));
  expect(stage.approvers).toEqual(['carol', 'frank', 'erin']);
  expect(stage.required).toBe(2);
  // carol, who approved, leaves too: her approval was valid when she gave it, and nobody is added for her.
  expect(refusal(s, 'system', 'carol')).toBe('StageClosed');
});

test('with nobody to add, a stage that can no longer reach its count stays open (never easier) and says so', () => {
  const s = waiting([spec('owners', ['bob', 'carol'], [], 'all')]);
  applyReroute(s, { by: 'system', leaver: 'bob' }, Date.parse('2026-01-01T01:00:00Z'));
  const stage = s.view.stages[0]!;
  expect(stage).toMatchObject({ approvers: ['carol'], required: 2, status: 'open', escalated: false });
  expect((s.outbox.events.at(-1)?.data?.stages as { unmet: boolean }[])[0]?.unmet).toBe(true);
  expect(s.outbox.notifications.at(-1)?.text).toMatch(/nobody can take their place/);
});

test('the stages after the open one lose the leaver too, quietly: they are told when they open', () => {
  const s = waiting([spec('manager', ['bob'], ['erin']), spec('owner', ['bob', 'frank'], ['dave'])]);
  applyReroute(s, { by: 'system', leaver: 'bob' }, Date.parse('2026-01-01T01:00:00Z'));
  const later = s.view.stages[1]!;
  expect(later).toMatchObject({ status: 'waiting', approvers: ['frank', 'dave'], fallback: [] });
  expect(s.outbox.notifications.map((n) => n.key)).not.toContain('r1:req:owner:rerouted:bob');
});

test('refused: anyone but system, and a request with no open stage waiting on the leaver; nothing changes', () => {
  const s = waiting([spec('manager', ['bob'], ['erin'])]);
  const before = JSON.stringify(s);
  expect(refusal(s, 'erin', 'bob')).toBe('NotAllowed');
  expect(refusal(s, 'alice', 'bob')).toBe('NotAllowed');
  expect(refusal(s, 'system', 'erin')).toBe('StageClosed');
  s.view.stages[0]!.status = 'approved';
  expect(refusal(s, 'system', 'bob')).toBe('StageClosed');
  s.view.stages[0]!.status = 'open';
  expect(JSON.stringify(s)).toBe(before);
});
