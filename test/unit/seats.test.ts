import { decideSeat, nextInLine, seatsUsed, type QueuedRequest, type SeatHolder } from '../../domain/seats';
import { demoConfig } from './demo-config';

const queueing = { limit: 2, whenFull: 'queue' as const };
const holder = (requestId: string, beneficiary: string, status: SeatHolder['status'] = 'active'): SeatHolder => ({
  requestId,
  beneficiary,
  status,
});
const ask = (requestId: string, beneficiary: string, since = '2026-11-24T10:00:00Z', breakGlass = false) => ({
  requestId,
  beneficiary,
  since,
  breakGlass,
});

describe('seats', () => {
  it('with a limit of 2, a third request waits, and the freed seat goes to it exactly once', () => {
    let holders = [holder('r1', 'alice'), holder('r2', 'bob')];
    let queue: QueuedRequest[] = [];

    const third = decideSeat(queueing, holders, queue, ask('r3', 'carol'));
    expect(third).toEqual({ outcome: 'queued', position: 1, used: 2, limit: 2 });
    queue = [{ requestId: 'r3', beneficiary: 'carol', since: '2026-11-24T10:00:00Z' }];
    expect(nextInLine(queueing, holders, queue)).toEqual([]);

    // alice's grant is revoked: one seat frees, and carol is first in line.
    holders = [holder('r1', 'alice', 'revoked'), holder('r2', 'bob')];
    expect(nextInLine(queueing, holders, queue).map((q) => q.requestId)).toEqual(['r3']);
    expect(decideSeat(queueing, holders, queue, ask('r3', 'carol'))).toMatchObject({ outcome: 'seat' });

    // Once carol's provisioning has started she holds the seat: nobody else is started for it, and asking again
    // (an activity retry) still answers seat without taking a second one.
    holders = [...holders, holder('r3', 'carol', 'provisioning')];
    queue = [];
    expect(nextInLine(queueing, holders, queue)).toEqual([]);
    expect(decideSeat(queueing, holders, queue, ask('r3', 'carol'))).toEqual({ outcome: 'seat', used: 2, limit: 2 });
  });

  it('keeps the line first come, first served: a later request never overtakes', () => {
    const holders = [holder('r1', 'alice', 'revoked'), holder('r2', 'bob')];
    const queue = [
      { requestId: 'r4', beneficiary: 'dave', since: '2026-11-24T11:00:00Z' },
      { requestId: 'r3', beneficiary: 'carol', since: '2026-11-24T10:00:00Z' },
    ];
    expect(decideSeat(queueing, holders, queue, ask('r4', 'dave', '2026-11-24T11:00:00Z'))).toEqual({
      outcome: 'queued',
      position: 1,
      used: 1,
      limit: 2,
    });
    expect(nextInLine(queueing, holders, queue).map((q) => q.requestId)).toEqual(['r3']);
    expect(
      decideSeat({ limit: 3, whenFull: 'queue' }, holders, queue, ask('r4', 'dave', '2026-11-24T11:00:00Z')),
    ).toMatchObject({ outcome: 'seat' });
  });

  it('counts people, not grants: overlapping grants of one person take one seat', () => {
    const holders = [holder('r1', 'alice'), holder('r2', 'alice', 'active'), holder('r5', 'bob', 'failed')];
    expect(seatsUsed(holders)).toBe(2);
    expect(seatsUsed([holder('r1', 'alice', 'expired'), holder('r2', 'bob', 'pending_approval')])).toBe(0);
    // alice extending or adding a grant needs no new seat even when all are taken.
    expect(decideSeat(queueing, holders, [], ask('r6', 'alice'))).toMatchObject({ outcome: 'seat' });
  });

  it('refuses beyond the limit when the policy says so, and never holds up break-glass', () => {
    const holders = [holder('r1', 'alice'), holder('r2', 'bob')];
    const refused = decideSeat({ limit: 2, whenFull: 'refuse' }, holders, [], ask('r3', 'carol'));
    expect(refused).toMatchObject({ outcome: 'refused', used: 2, limit: 2 });
    expect(refused.outcome === 'refused' && refused.message).toBe(
      'All 2 seats are taken (2 in use); the policy refuses requests beyond the limit.',
    );
    expect(decideSeat(queueing, holders, [], ask('r3', 'carol', '2026-11-24T10:00:00Z', true))).toMatchObject({
      outcome: 'seat',
    });
  });

  it('reads a seat limit from the catalog, queueing by default', () => {
    const config = demoConfig((raw) => {
      const payroll = raw.catalog.resources.find((r) => r.id === 'payroll');
      const viewer = payroll?.entitlements.find((e) => e.role === 'viewer');
      if (!viewer) throw new Error('no payroll:viewer');
      viewer.seats = { limit: 2 };
    });
    expect(config.entitlements.get('payroll:viewer')?.seats).toEqual({
      limit: 2,
      whenFull: 'queue',
      recheckEvery: 'PT30S',
    });
    expect(() =>
      demoConfig((raw) => {
        const github = raw.catalog.resources.find((r) => r.id === 'github');
        if (github?.entitlements[0]) github.entitlements[0].seats = { limit: 0 };
      }),
    ).toThrow(/resources\[0\]\.entitlements\[0\]\.seats\.limit/);
  });
});
