import type { Status } from './model';

/*
 * Seat counting for entitlements with a licence limit. A seat is a person, not a grant: overlapping grants of one
 * beneficiary (a break-glass over a regular grant, an extension) take one seat. Pure, so the activity that provisions
 * decides under a lock on the entitlement with exactly these rules, and the view and KPIs count the same way.
 */

/** Statuses in which a grant uses its seat: being provisioned, live, or failed (the access may still be there). */
export const SEAT_STATUSES: readonly Status[] = ['provisioning', 'active', 'failed'];

export interface SeatHolder {
  requestId: string;
  beneficiary: string;
  status: Status;
}

/** An approved request waiting for a seat; the line is first come, first served by `since`. */
export interface QueuedRequest {
  requestId: string;
  beneficiary: string;
  /** When it joined the line (ISO-8601): its approval. */
  since: string;
}

export interface SeatAsk {
  requestId: string;
  beneficiary: string;
  breakGlass: boolean;
  /** When it joined (or would join) the line. */
  since: string;
}

export type SeatDecision =
  | { outcome: 'seat'; used: number; limit: number }
  | { outcome: 'queued'; position: number; used: number; limit: number }
  | { outcome: 'refused'; used: number; limit: number; message: string };

export interface SeatLimit {
  limit: number;
  whenFull: 'queue' | 'refuse';
}

/** People holding a seat now. */
export function seatsUsed(holders: readonly SeatHolder[]): number {
  return new Set(holders.filter((h) => SEAT_STATUSES.includes(h.status)).map((h) => h.beneficiary)).size;
}

/** The line in order: earliest first, ties by request id, each person once (their earliest request). */
export function orderQueue(queue: readonly QueuedRequest[]): QueuedRequest[] {
  const sorted = [...queue].sort((a, b) =>
    a.since !== b.since ? (a.since < b.since ? -1 : 1) : a.requestId < b.requestId ? -1 : 1,
  );
  const seen = new Set<string>();
  return sorted.filter((q) => !seen.has(q.beneficiary) && seen.add(q.beneficiary));
}

/**
 * Whether an approved request may be provisioned now. Someone who already holds a seat needs no other; break-glass
 * never waits (an emergency outranks a licence count, and the review follows). Otherwise nobody overtakes the line:
 * the request gets a seat only if it is among the first as many in line as there are free seats.
 */
export function decideSeat(
  seats: SeatLimit,
  holders: readonly SeatHolder[],
  queue: readonly QueuedRequest[],
  ask: SeatAsk,
): SeatDecision {
  const used = seatsUsed(holders);
  const { limit } = seats;
  const holding = holders.some((h) => h.beneficiary === ask.beneficiary && SEAT_STATUSES.includes(h.status));
  if (holding || ask.breakGlass) return { outcome: 'seat', used, limit };

  const others = queue.filter((q) => q.requestId !== ask.requestId && q.beneficiary !== ask.beneficiary);
  const line = orderQueue([...others, { requestId: ask.requestId, beneficiary: ask.beneficiary, since: ask.since }]);
  const position = line.findIndex((q) => q.requestId === ask.requestId) + 1;
  const free = Math.max(0, limit - used);
  if (position <= free) return { outcome: 'seat', used, limit };
  if (seats.whenFull === 'refuse') {
    return {
      outcome: 'refused',
      used,
      limit,
      message: `All ${limit} seats are taken (${used} in use); the policy refuses requests beyond the limit.`,
    };
  }
  return { outcome: 'queued', position: position - free, used, limit };
}

/** When seats free up: the requests first in line that may now be provisioned, in order. */
export function nextInLine(
  seats: SeatLimit,
  holders: readonly SeatHolder[],
  queue: readonly QueuedRequest[],
): QueuedRequest[] {
  const holdingPeople = new Set(holders.filter((h) => SEAT_STATUSES.includes(h.status)).map((h) => h.beneficiary));
  const free = Math.max(0, seats.limit - holdingPeople.size);
  return orderQueue(queue.filter((q) => !holdingPeople.has(q.beneficiary))).slice(0, free);
}
