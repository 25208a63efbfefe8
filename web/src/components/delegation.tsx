import { useDeferredValue, useState } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
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
  // Once a person is picked the field holds their id, and the suggestions would only repeat it.
  const [picked, setPicked] = useState(false);
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
          <label htmlFor="delegate-to">Hand my approvals to (name or directory id)</label>
          <input
            id="delegate-to"
            value={to}
            autoComplete="off"
            onChange={(e) => (setTo(e.target.value), setPicked(false))}
            aria-invalid={errors.has('to')}
            aria-describedby="delegate-to-error"
          />
          <span id="delegate-to-error" className="error" aria-live="polite">
            {errors.get('to') ? `This id ${errors.get('to')}.` : ''}
          </span>
          {!picked && <PeopleMatching text={to} onPick={(id) => (setTo(id), setPicked(true))} />}
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

/**
 * Active people whose name or id contains what was typed, from the API's people finder (id, name and department,
 * nothing else). A list of buttons rather than a native datalist: it reads the same on every phone and screen reader.
 */
function PeopleMatching({ text, onPick }: { text: string; onPick: (id: string) => void }) {
  const q = useDeferredValue(text.trim());
  const people = useQuery({
    queryKey: ['people', q],
    queryFn: () => unwrap(api.GET('/v1/people', { params: { query: { q, limit: 6 } } })),
    enabled: q.length > 0,
    placeholderData: keepPreviousData,
    staleTime: 30_000,
  });
  if (q.length === 0 || !people.data) return <ProblemText error={people.error} />;
  if (people.data.items.length === 0) return <p className="muted small">Nobody active matches “{q}”.</p>;
  return (
    <ul className="pick" aria-label="People matching">
      {people.data.items.map((p) => (
        <li key={p.id}>
          <button type="button" onClick={() => onPick(p.id)} data-person={p.id}>
            {p.name}{' '}
            <span className="muted">
              ({p.id}
              {p.department ? `, ${p.department}` : ''})
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}
