import { parseDuration } from '../../domain/duration';
import type { FulfilInput } from '../messages';
import { refuse } from './refuse';
import { describe, notify, record, selfIds, touch, type RequestState } from './state';

// The manual connector: a named fulfiller makes the change by hand and confirms it, within the connector's SLA.

export function slaMs(s: RequestState): number {
  const connector = s.grant?.connector;
  const sla = connector?.type === 'manual' ? connector.sla : 'P2D';
  return parseDuration(sla) ?? 2 * 86_400_000;
}

export function openFulfilment(s: RequestState, task: 'grant' | 'revoke', now: number): void {
  const fulfillers = s.grant?.fulfillers ?? [];
  const round = ++s.counters.fulfilment;
  s.view.fulfilment = {
    task,
    fulfillers: fulfillers.filter((id) => !selfIds(s).includes(id)),
    openedAt: new Date(now).toISOString(),
    dueAt: new Date(now + slaMs(s)).toISOString(),
    round,
    status: 'open',
  };
  record(s, now, 'fulfilment_opened', 'system', { task, fulfillers, round });
  notify(s, `fulfil:${task}:${round}`, fulfillers, `Please ${task} access by hand`, describe(s));
}

/** A task whose change was confirmed: a grant task once, a revoke task (open or overdue) once. */
export function fulfilled(s: RequestState, task: 'grant' | 'revoke'): boolean {
  const f = s.view.fulfilment;
  return f?.task === task && f.status === 'completed';
}

export function taskOpen(s: RequestState, task: 'grant' | 'revoke'): boolean {
  const f = s.view.fulfilment;
  return f?.task === task && (f.status === 'open' || (task === 'revoke' && f.status === 'overdue'));
}

export function checkFulfil(s: RequestState, input: FulfilInput): void {
  const f = s.view.fulfilment;
  const phase = s.phase.name;
  const grantTask = f?.task === 'grant' && f.status === 'open' && phase === 'provisioning';
  const revokeTask =
    f?.task === 'revoke' &&
    (f.status === 'open' || f.status === 'overdue') &&
    (phase === 'revoking' || (s.phase.name === 'failed' && s.phase.action === 'revocation'));
  if (!f || (!grantTask && !revokeTask)) refuse('InvalidState', 'This request has no open fulfilment task.');
  if (selfIds(s).includes(input.by)) refuse('SelfApproval', 'You cannot fulfil a change to your own access.');
  if (!f.fulfillers.includes(input.by)) refuse('NotEligible', 'You are not a fulfiller of this task.');
}

export function applyFulfil(s: RequestState, input: FulfilInput, now: number): void {
  const f = s.view.fulfilment;
  if (!f) return;
  f.status = 'completed';
  f.completedBy = input.by;
  f.completedAt = new Date(now).toISOString();
  // From here on the access exists by hand: every way out of this request goes through a revoke task.
  if (f.task === 'grant') s.accessMayExist = true;
  record(s, now, 'fulfilled', input.by, { task: f.task, round: f.round, comment: input.comment });
}

/** A task past its SLA: a grant task closes (the request fails); a revoke task stays open and is escalated. */
export function overdue(s: RequestState, now: number): 'grant' | 'revoke' | undefined {
  const f = s.view.fulfilment;
  if (!f || f.status !== 'open' || now < Date.parse(f.dueAt)) return undefined;
  f.status = 'overdue';
  touch(s);
  if (f.task === 'revoke') {
    notify(
      s,
      `fulfil:revoke:${f.round}:overdue`,
      [...f.fulfillers, ...(s.grant?.operators ?? [])],
      'Overdue: remove access',
      describe(s),
    );
  }
  return f.task;
}

export function fulfilmentWake(s: RequestState): number {
  const f = s.view.fulfilment;
  return f?.status === 'open' ? Date.parse(f.dueAt) : Infinity;
}

export function cancelFulfilment(s: RequestState): void {
  const f = s.view.fulfilment;
  if (f && (f.status === 'open' || f.status === 'overdue') && f.task === 'grant') {
    f.status = 'cancelled';
    touch(s);
  }
}
