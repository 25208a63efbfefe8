import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiProblem, unwrap, type Schemas } from '../api/client';
import { Badge, Countdown, Loading, ProblemText, When } from '../components/common';
import { LIVE_MS } from './MyRequests';

type Item = Schemas['ReviewItem'];
type Decision = 'keep' | 'revoke';

/**
 * The access-review inbox: every item the caller is asked to vouch for in an open campaign, with grantflow's
 * recommendation and its reasons. Decisions are recorded at once and applied when the campaign closes, so a reviewer
 * may change their mind until then (decided items stay listed). The API decides what a decision needs (a comment to
 * keep privileged access; never one's own access) and the page shows its sentence.
 */
export function ReviewsPage() {
  const [notice, setNotice] = useState<string>();
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const inbox = useQuery({
    queryKey: ['reviews'],
    queryFn: () => unwrap(api.GET('/v1/reviews/inbox', { params: { query: { all: 'true', limit: 500 } } })),
    refetchInterval: LIVE_MS,
  });
  const items = inbox.data?.items ?? [];
  const campaigns = groupByCampaign(items);
  const toggle = (id: string, on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const chosen = items.filter((i) => selected.has(i.id));
  return (
    <>
      <h1 tabIndex={-1}>Access reviews</h1>
      <p className="muted">
        Access you are asked to vouch for. Kept access stays; revoked access ends when the campaign closes. You may
        change a decision until then.
      </p>
      <p role="status" className="ok">
        {notice ?? ''}
      </p>
      {inbox.isPending && <Loading what="your reviews" />}
      <ProblemText error={inbox.error} />
      {inbox.data && items.length === 0 && <p role="status">No access review is waiting on you.</p>}
      {items.length > 0 && (
        <BulkForm
          items={chosen}
          onDone={(n) => (setNotice(n), setSelected(new Set()))}
          onSelectAll={() => setSelected(new Set(items.filter((i) => !i.decision).map((i) => i.id)))}
        />
      )}
      {campaigns.map(({ id, name, dueAt, items }) => (
        <section key={id} aria-labelledby={`campaign-${id}`} data-campaign={id}>
          <h2 id={`campaign-${id}`}>{name}</h2>
          <p className="muted small">
            Closes <Countdown to={dueAt} />; {items.filter((i) => i.decision).length} of {items.length} decided.
          </p>
          <ul className="cards" aria-label={`Items of ${name}`}>
            {items.map((item) => (
              <ReviewCard
                key={item.id}
                item={item}
                selected={selected.has(item.id)}
                onSelect={(on) => toggle(item.id, on)}
                onDecided={setNotice}
              />
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}

function groupByCampaign(items: Item[]): { id: string; name: string; dueAt: string; items: Item[] }[] {
  const byId = new Map<string, { id: string; name: string; dueAt: string; items: Item[] }>();
  for (const item of items) {
    const group = byId.get(item.campaignId) ?? {
      id: item.campaignId,
      name: item.campaignName,
      dueAt: item.dueAt,
      items: [],
    };
    group.items.push(item);
    byId.set(item.campaignId, group);
  }
  return [...byId.values()];
}

function useDecide(onDone: (notice: string) => void) {
  const queries = useQueryClient();
  return useMutation({
    mutationFn: ({ ids, decision, comment }: { ids: string[]; decision: Decision; comment: string }) => {
      const note = comment.trim() ? { comment: comment.trim() } : {};
      return ids.length === 1
        ? unwrap(
            api.POST('/v1/reviews/items/{itemId}/decision', {
              params: { path: { itemId: ids[0] ?? '' } },
              body: { decision, ...note },
            }),
          )
        : unwrap(api.POST('/v1/reviews/decisions', { body: { items: ids, decision, ...note } }));
    },
    onSuccess: (r, { decision }) =>
      onDone(
        `Recorded: ${decision} for ${r.items.length} item${r.items.length === 1 ? '' : 's'}; applied when the campaign closes.`,
      ),
    onSettled: () => void queries.invalidateQueries({ queryKey: ['reviews'] }),
  });
}

/** The API's field errors (e.g. `comment`: "is required to keep privileged access (item 12)") as sentences. */
function fieldSentences(error: unknown): string[] {
  return error instanceof ApiProblem ? error.fieldErrors.map((e) => `The ${e.field} ${e.message}.`) : [];
}

function ReviewCard(props: {
  item: Item;
  selected: boolean;
  onSelect: (on: boolean) => void;
  onDecided: (notice: string) => void;
}) {
  const { item, selected, onSelect, onDecided } = props;
  const [comment, setComment] = useState('');
  const decide = useDecide(onDecided);
  const fields = fieldSentences(decide.error);
  const send = (decision: Decision) => decide.mutate({ ids: [item.id], decision, comment });
  const base = `item-${item.id}`;
  return (
    <li className="card" data-item={item.id} data-holder={item.holder}>
      <h3 id={`${base}-title`}>
        {item.holder} holds {item.entitlement}
        {item.privileged && (
          <>
            {' '}
            <Badge kind="sensitivity" value="privileged" />
          </>
        )}
      </h3>
      <p className="muted small">
        Granted <When at={item.grantedAt} /> · request <code>{item.requestId}</code>
      </p>
      <p data-testid="recommendation">
        grantflow recommends <Badge kind="decision" value={item.recommendation} />
      </p>
      {item.reasons.length > 0 && (
        <ul aria-label={`Why, for ${item.holder}`} className="small">
          {item.reasons.map((r) => (
            <li key={r.code}>{r.message}</li>
          ))}
        </ul>
      )}
      {item.decision && (
        <p data-testid="your-decision">
          Your decision: <Badge kind="decision" value={item.decision} />
          {item.comment && <> — “{item.comment}”</>}
        </p>
      )}
      <div className="check">
        <input type="checkbox" id={`${base}-select`} checked={selected} onChange={(e) => onSelect(e.target.checked)} />
        <label htmlFor={`${base}-select`}>Select {item.holder}’s access for a bulk decision</label>
      </div>
      <form className="decide" onSubmit={(e) => e.preventDefault()} aria-labelledby={`${base}-title`}>
        <div className="field">
          <label htmlFor={`${base}-comment`}>Comment{item.privileged ? ' (required to keep)' : ''}</label>
          <input
            id={`${base}-comment`}
            value={comment}
            onChange={(e) => setComment(e.target.value)}
            aria-invalid={fields.length > 0}
            aria-describedby={`${base}-error`}
          />
          <span id={`${base}-error`} className="error" aria-live="polite">
            {fields.join(' ')}
          </span>
        </div>
        <button type="button" onClick={() => send('keep')} disabled={decide.isPending}>
          Keep
        </button>{' '}
        <button type="button" className="danger" onClick={() => send('revoke')} disabled={decide.isPending}>
          Revoke
        </button>
        <ProblemText error={decide.error} />
      </form>
    </li>
  );
}

/** One decision and one comment for every selected item, all or none (the API refuses the whole set on one misfit). */
function BulkForm(props: { items: Item[]; onDone: (notice: string) => void; onSelectAll: () => void }) {
  const { items, onDone, onSelectAll } = props;
  const [comment, setComment] = useState('');
  const decide = useDecide((n) => (setComment(''), onDone(n)));
  const fields = fieldSentences(decide.error);
  const send = (decision: Decision) => decide.mutate({ ids: items.map((i) => i.id), decision, comment });
  return (
    <form className="card decide" onSubmit={(e) => e.preventDefault()} aria-labelledby="bulk-title" data-testid="bulk">
      <h2 id="bulk-title">Decide several at once</h2>
      <p aria-live="polite">
        {items.length === 0
          ? 'Nothing selected.'
          : `${items.length} selected: ${items.map((i) => i.holder).join(', ')}.`}{' '}
        <button type="button" className="link" onClick={onSelectAll}>
          Select every undecided item
        </button>
      </p>
      <div className="field">
        <label htmlFor="bulk-comment">Comment for all selected</label>
        <input
          id="bulk-comment"
          value={comment}
          onChange={(e) => setComment(e.target.value)}
          aria-invalid={fields.length > 0}
          aria-describedby="bulk-error"
        />
        <span id="bulk-error" className="error" aria-live="polite">
          {fields.join(' ')}
        </span>
      </div>
      <button type="button" onClick={() => send('keep')} disabled={decide.isPending || items.length === 0}>
        Keep selected
      </button>{' '}
      <button
        type="button"
        className="danger"
        onClick={() => send('revoke')}
        disabled={decide.isPending || items.length === 0}
      >
        Revoke selected
      </button>
      <ProblemText error={decide.error} />
    </form>
  );
}
