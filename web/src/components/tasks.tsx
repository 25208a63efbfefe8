import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type RequestView } from '../api/client';
import { Countdown, ProblemText, When } from './common';

/**
 * What a request asks of someone other than its holder: the post-incident review of a break-glass access, a manual
 * grant or removal to confirm, and revoking a live grant (resource owners, security, admins). As with decisions,
 * the portal offers the action and the workflow's validator decides; a refusal shows in the API's words.
 */
export function TaskForms(props: { view: RequestView; offerRevoke: boolean; onDone: (n: string) => void }) {
  const { view, offerRevoke, onDone } = props;
  const review = view.review?.status === 'open' ? view.review : undefined;
  const task = view.fulfilment;
  const fulfil = task && !task.completedAt && task.status !== 'cancelled' && task.status !== 'completed';
  return (
    <>
      {review && <ReviewForm view={view} onDone={onDone} />}
      {fulfil && <FulfilForm view={view} onDone={onDone} />}
      {view.status === 'active' && offerRevoke && <RevokeForm view={view} onDone={onDone} />}
    </>
  );
}

function useMessage<B>(
  view: RequestView,
  send: (body: B) => Promise<unknown>,
  onDone: (n: string) => void,
  done: string,
) {
  const queries = useQueryClient();
  return useMutation({
    mutationFn: send,
    onSuccess: () => onDone(done),
    onSettled: () => {
      void queries.invalidateQueries({ queryKey: ['request', view.id] });
      void queries.invalidateQueries({ queryKey: ['approvals'] });
    },
  });
}

function ReviewForm({ view, onDone }: { view: RequestView; onDone: (n: string) => void }) {
  const [comment, setComment] = useState('');
  const path = { params: { path: { id: view.id } } };
  const review = useMessage(
    view,
    (outcome: 'cleared' | 'flagged') =>
      unwrap(api.POST('/v1/requests/{id}/review', { ...path, body: { outcome, ...(comment && { comment }) } })),
    onDone,
    `Review of ${view.id} recorded.`,
  );
  const id = `review-${view.id}`;
  return (
    <form className="decide" onSubmit={(e) => e.preventDefault()} aria-label="Post-incident review">
      <p>
        Break-glass by {view.requester}: was the access justified?
        {view.review?.deadlineAt && (
          <span className="muted">
            {' '}
            Due <Countdown to={view.review.deadlineAt} />.
          </span>
        )}
      </p>
      <div className="field">
        <label htmlFor={id}>Review comment</label>
        <input id={id} value={comment} onChange={(e) => setComment(e.target.value)} />
      </div>
      <button type="button" onClick={() => review.mutate('cleared')} disabled={review.isPending}>
        Clear
      </button>{' '}
      <button type="button" className="danger" onClick={() => review.mutate('flagged')} disabled={review.isPending}>
        Flag
      </button>
      <ProblemText error={review.error} />
    </form>
  );
}

function FulfilForm({ view, onDone }: { view: RequestView; onDone: (n: string) => void }) {
  const [comment, setComment] = useState('');
  const task = view.fulfilment;
  const fulfil = useMessage(
    view,
    () =>
      unwrap(
        api.POST('/v1/requests/{id}/fulfil', {
          params: { path: { id: view.id } },
          body: { ...(comment && { comment }) },
        }),
      ),
    onDone,
    `Confirmed: the ${task?.task === 'revoke' ? 'removal' : 'grant'} of ${view.entitlement} for ${view.beneficiary} is done.`,
  );
  if (!task) return null;
  const id = `fulfil-${view.id}`;
  const what = task.task === 'revoke' ? 'Remove' : 'Grant';
  return (
    <form className="decide" onSubmit={(e) => e.preventDefault()} aria-label="Manual task">
      <p>
        <strong>
          {what} {view.entitlement} {task.task === 'revoke' ? 'from' : 'to'} {view.beneficiary} by hand
        </strong>
        , then confirm here. Due <When at={task.dueAt} />.
      </p>
      <div className="field">
        <label htmlFor={id}>What you did</label>
        <input id={id} value={comment} onChange={(e) => setComment(e.target.value)} />
      </div>
      <button type="button" onClick={() => fulfil.mutate(undefined)} disabled={fulfil.isPending}>
        Confirm done
      </button>
      <ProblemText error={fulfil.error} />
    </form>
  );
}

function RevokeForm({ view, onDone }: { view: RequestView; onDone: (n: string) => void }) {
  const [reason, setReason] = useState('');
  const revoke = useMessage(
    view,
    () =>
      unwrap(
        api.POST('/v1/requests/{id}/revoke', {
          params: { path: { id: view.id } },
          body: { ...(reason && { reason }) },
        }),
      ),
    onDone,
    `Revocation of ${view.entitlement} for ${view.beneficiary} sent.`,
  );
  const id = `revoke-${view.id}`;
  return (
    <form className="decide" onSubmit={(e) => e.preventDefault()} aria-label="Revoke access">
      <p>Resource owners, security and admins may take this access away before it expires.</p>
      <div className="field">
        <label htmlFor={id}>Why revoke</label>
        <input id={id} value={reason} onChange={(e) => setReason(e.target.value)} />
      </div>
      <button type="button" className="danger" onClick={() => revoke.mutate(undefined)} disabled={revoke.isPending}>
        Revoke access
      </button>
      <ProblemText error={revoke.error} />
    </form>
  );
}
