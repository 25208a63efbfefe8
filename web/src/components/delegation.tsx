import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiProblem, unwrap } from '../api/client';
import { ProblemText, When } from './common';

/** The end of the chosen day in the person's own time zone, as the instant the API keeps. */
function endOfDay(date: string): string {
  return new Date(`${date}T23:59:59`).toISOString();
}

/**
 * Your own delegation: whom your approvals go to while you are away, and until when. The API decides who may be
 * named (not yourself, nobody inactive, no reserved id) and the form shows its sentence beside the field.
 */
export function DelegationCard() {
  const queries = useQueryClient();
  const me = useQuery({ queryKey: ['me'], queryFn: () => unwrap(api.GET('/v1/me', {})) });
  const [to, setTo] = useState('');
  const [until, setUntil] = useState('');
  const done = () => void queries.invalidateQueries({ queryKey: ['me'] });
  const set = useMutation({
    mutationFn: () =>
      unwrap(api.PUT('/v1/me/delegation', { body: { to: to.trim(), until: until && endOfDay(until) } })),
    onSuccess: (next) => queries.setQueryData(['me'], next),
    onSettled: done,
  });
  const clear = useMutation({
    mutationFn: () => unwrap(api.DELETE('/v1/me/delegation', {})),
    onSuccess: (next) => queries.setQueryData(['me'], next),
    onSettled: done,
  });
  const errors = new Map(
    (set.error instanceof ApiProblem ? set.error.fieldErrors : []).map((e) => [e.field, e.message]),
  );
  const current = me.data?.delegation;
  return (
    <section className="card" aria-labelledby="delegation-title">
      <h2 id="delegation-title">While you are away</h2>
      <p data-testid="delegation">
        {current ? (
          <>
            Your approvals also go to <strong>{current.to}</strong> until <When at={current.until} />.
          </>
        ) : (
          'You decide your approvals yourself: no delegation is set.'
        )}
      </p>
      <form onSubmit={(e) => (e.preventDefault(), set.mutate())} aria-label="Set your delegation" noValidate>
        <div className="field">
          <label htmlFor="delegate-to">Hand my approvals to (directory id)</label>
          <input
            id="delegate-to"
            value={to}
            onChange={(e) => setTo(e.target.value)}
            aria-invalid={errors.has('to')}
            aria-describedby="delegate-to-error"
          />
          <span id="delegate-to-error" className="error" aria-live="polite">
            {errors.get('to') ? `This id ${errors.get('to')}.` : ''}
          </span>
        </div>
        <div className="field">
          <label htmlFor="delegate-until">Until (inclusive)</label>
          <input
            id="delegate-until"
            type="date"
            value={until}
            onChange={(e) => setUntil(e.target.value)}
            aria-invalid={errors.has('until')}
            aria-describedby="delegate-until-error"
          />
          <span id="delegate-until-error" className="error" aria-live="polite">
            {errors.get('until') ? `The end ${errors.get('until')}.` : ''}
          </span>
        </div>
        <button type="submit" disabled={set.isPending}>
          Set delegation
        </button>{' '}
        {current && (
          <button type="button" onClick={() => clear.mutate()} disabled={clear.isPending}>
            Clear delegation
          </button>
        )}
      </form>
      {!(set.error instanceof ApiProblem && errors.size > 0) && <ProblemText error={set.error ?? clear.error} />}
    </section>
  );
}
