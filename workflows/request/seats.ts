import type { SeatDecision } from '../../domain/seats';
import { describe, enter, notify, record, touch, type RequestState } from './state';

// The seat phase of a licence-limited entitlement (catalog `seats`), in runs that took the patch `request-seats`.
// Between approval and provisioning the request asks an activity for a seat (activities/seats.ts, under the
// entitlement's lock in PostgreSQL). In line, it asks again on a durable timer. Provisioning starts only on an answer
// recorded in the history, and the activity is idempotent per request, so a crash anywhere replays the same decision
// and starts it once.

/** Where an approved (or auto-approved, or break-glass) request goes: provisioning, or the line for a seat. */
export function startProvisioning(s: RequestState, now: number): void {
  if (s.patches?.seats && s.grant?.seats) {
    return enter(s, { name: 'awaiting_seat', since: new Date(now).toISOString() });
  }
  enter(s, { name: 'provisioning', attempt: 1 });
}

/** The seat the request asks for now, if it waits for one and its next ask is due. */
export function seatDue(s: RequestState): boolean {
  return s.phase.name === 'awaiting_seat' && s.phase.recheckAt === undefined;
}

/** Its next ask, when it waits in line. */
export function seatWake(s: RequestState): number {
  return s.phase.name === 'awaiting_seat' && s.phase.recheckAt !== undefined ? s.phase.recheckAt : Infinity;
}

/** The line's timer fired: ask again. */
export function runSeatClock(s: RequestState, now: number): void {
  if (s.phase.name === 'awaiting_seat' && s.phase.recheckAt !== undefined && now >= s.phase.recheckAt) {
    s.phase.recheckAt = undefined;
  }
}

/** The activity's answer. A cancel accepted meanwhile is left to advance(), which closes the request. */
export function seatDecided(s: RequestState, decision: SeatDecision, now: number): void {
  const p = s.phase;
  const seats = s.grant?.seats;
  if (p.name !== 'awaiting_seat' || !seats || s.pending.cancel || s.pending.revoke) return;
  const { limit, used } = decision;
  const at = new Date(now).toISOString();
  const wasQueued = s.view.seat?.state === 'queued';
  switch (decision.outcome) {
    case 'seat':
      s.view.seat = { state: 'held', limit, used, ...(wasQueued && { queuedAt: p.since }), heldAt: at };
      record(s, now, 'seat_taken', 'system', { limit, used, ...(wasQueued && { queuedSince: p.since }) });
      if (wasQueued) notify(s, 'seat:held', [s.view.requester], 'A seat is free', `${describe(s)} Provisioning now.`);
      return enter(s, { name: 'provisioning', attempt: 1 });
    case 'queued': {
      const before = s.view.seat;
      if (!wasQueued) {
        record(s, now, 'seat_queued', 'system', { position: decision.position, limit, used });
        notify(
          s,
          'seat:queued',
          [s.view.requester],
          'Access request waiting for a seat',
          `All ${limit} seats are taken; the request is number ${decision.position} in line. ${describe(s)}`,
        );
      }
      if (!wasQueued || before?.position !== decision.position || before.used !== used) {
        s.view.seat = { state: 'queued', position: decision.position, limit, used, queuedAt: p.since };
        touch(s);
      }
      p.recheckAt = now + seats.recheckMs;
      return;
    }
    case 'refused':
      s.view.seat = undefined;
      s.view.reasons = [{ code: 'seats_full', message: decision.message, field: 'entitlement' }];
      record(s, now, 'rejected', 'system', { reasons: s.view.reasons, limit, used });
      notify(s, 'closed:rejected', [s.view.requester], 'Access request rejected', decision.message);
      return enter(s, { name: 'closing', status: 'rejected', by: 'system', recorded: true });
  }
}
