import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type RequestView } from '../api/client';
import { Badge, Countdown, Loading, ProblemText, When, readableDuration } from '../components/common';
import { LIVE_MS } from './MyRequests';
import { DecisionForm } from './Approvals';
import { TaskForms } from '../components/tasks';

const SETTLED = new Set(['rejected', 'denied', 'timed_out', 'cancelled', 'expired', 'revoked']);

export function useRequest(id: string) {
  return useQuery({
    queryKey: ['request', id],
    queryFn: () => unwrap(api.GET('/v1/requests/{id}', { params: { path: { id } } })),
    // Live until the request settles; a settled one changes only through a review.
    refetchInterval: (q) =>
      q.state.data && SETTLED.has(q.state.data.status) && !q.state.data.review ? false : LIVE_MS,
  });
}

export function RequestPage({ id, userId }: { id: string; userId: string }) {
  const request = useRequest(id);
  const view = request.data;
  return (
    <>
      <h1 tabIndex={-1}>
        {view
          ? `${view.entitlement}${view.beneficiary !== view.requester ? ` for ${view.beneficiary}` : ''}`
          : 'Request'}
      </h1>
      {request.isPending && <Loading what="the request" />}
      <ProblemText error={request.error} />
      {view && <RequestDetails view={view} userId={userId} />}
    </>
  );
}

function RequestDetails({ view, userId }: { view: RequestView; userId: string }) {
  const [notice, setNotice] = useState<string>();
  const open = [...view.stages, ...(view.extension?.stages ?? [])].find((s) => s.status === 'open');
  const mine = view.requester === userId || view.beneficiary === userId;
  return (
    <>
      <p className="status-line">
        Status <Badge kind="status" value={view.status} />
        {view.reviewState && (
          <>
            {' '}
            · review <Badge kind="status" value={view.reviewState} />
          </>
        )}
        {view.risk && (
          <>
            {' '}
            · risk <Badge kind="risk" value={view.risk.level} />
          </>
        )}
      </p>
      {view.grant && !view.grant.endedAt && view.status === 'active' && (
        <p data-testid="expiry">
          Access expires <Countdown to={view.grant.expiresAt} /> (<When at={view.grant.expiresAt} />)
        </p>
      )}
      {view.reasons.length > 0 && (
        <ul className="problem" aria-label="Reasons">
          {view.reasons.map((r) => (
            <li key={r.code + r.message}>{r.message}</li>
          ))}
        </ul>
      )}
      <section className="card">
        <h2>Why</h2>
        <p>{view.justification}</p>
        {view.risk && view.risk.reasons.length > 0 && (
          <ul aria-label="Risk reasons">
            {view.risk.reasons.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        )}
      </section>
      {view.stages.length > 0 && (
        <section className="card">
          <h2>Approval</h2>
          <ol className="stages">
            {view.stages.map((s) => (
              <li key={s.name}>
                <strong>{s.name}</strong> <Badge kind="status" value={s.status} /> ·{' '}
                {s.approvers.join(', ') || 'nobody yet'}
                {s.deadlineAt && s.status === 'open' && (
                  <span className="muted">
                    {' '}
                    · deadline <Countdown to={s.deadlineAt} />
                  </span>
                )}
                {s.decisions.map((d) => (
                  <div key={d.approver + d.at} className="small">
                    {d.approver} {d.decision === 'approve' ? 'approved' : 'denied'} <When at={d.at} />
                    {d.comment && `: “${d.comment}”`}
                  </div>
                ))}
              </li>
            ))}
          </ol>
        </section>
      )}
      {view.breakGlass && (
        <p className="confirm" data-testid="break-glass-warning">
          <strong>Break-glass access:</strong> granted without approval
          {view.review?.status === 'open'
            ? `; ${view.review.approvers.join(', ') || 'security'} will review it after the incident`
            : view.reviewState && view.reviewState !== 'pending'
              ? `; reviewed and ${view.reviewState}${view.review?.reviewedBy ? ` by ${view.review.reviewedBy}` : ''}`
              : '; a post-incident review follows'}
          {view.review?.status === 'open' && view.review.deadlineAt && (
            <>
              , due <Countdown to={view.review.deadlineAt} />
            </>
          )}
          .
        </p>
      )}
      {open && <DecisionForm requestId={view.id} stage={open.name} onDecided={setNotice} />}
      <TaskForms view={view} offerRevoke={!mine} onDone={setNotice} />
      <p role="status" className="ok">
        {notice ?? ''}
      </p>
      {mine && <OwnActions view={view} />}
      <section className="card">
        <h2>Timeline</h2>
        <ol className="timeline" aria-label="Timeline">
          {view.timeline.map((t, i) => (
            <li key={i}>
              <When at={t.at} /> <strong>{t.event.replace(/_/g, ' ')}</strong>
              {t.actor && ` by ${t.actor}`}
              {t.detail && <span className="muted"> · {t.detail}</span>}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}

/** Cancel, revoke and extend: the workflow says whether the state allows it, and the page shows its answer. */
function OwnActions({ view }: { view: RequestView }) {
  const queries = useQueryClient();
  const refresh = () => void queries.invalidateQueries({ queryKey: ['request', view.id] });
  const [reason, setReason] = useState('');
  const [duration, setDuration] = useState('P7D');
  const [why, setWhy] = useState('');
  const path = { params: { path: { id: view.id } } };
  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/requests/{id}/cancel', { ...path, body: { reason } })),
    onSettled: refresh,
  });
  const revoke = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/requests/{id}/revoke', { ...path, body: { reason } })),
    onSettled: refresh,
  });
  const extend = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/requests/{id}/extend', { ...path, body: { duration, justification: why } })),
    onSettled: refresh,
  });
  const pending = view.status === 'pending_approval' || view.status === 'validating';
  const live = view.status === 'active';
  if (!pending && !live) return null;
  return (
    <section className="card" aria-labelledby="own-actions">
      <h2 id="own-actions">Your request</h2>
      <div className="field">
        <label htmlFor="reason">Reason (optional)</label>
        <input id="reason" value={reason} onChange={(e) => setReason(e.target.value)} />
      </div>
      {pending && (
        <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
          Cancel request
        </button>
      )}
      {live && (
        <>
          <button type="button" className="danger" onClick={() => revoke.mutate()} disabled={revoke.isPending}>
            Give up access now
          </button>
          <h3>Extend</h3>
          <div className="field">
            <label htmlFor="extend-duration">By</label>
            <select id="extend-duration" value={duration} onChange={(e) => setDuration(e.target.value)}>
              {['PT1H', 'P1D', 'P7D', 'P30D'].map((d) => (
                <option key={d} value={d}>
                  {readableDuration(d)}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="extend-why">Why</label>
            <input id="extend-why" value={why} onChange={(e) => setWhy(e.target.value)} />
          </div>
          <button type="button" onClick={() => extend.mutate()} disabled={extend.isPending}>
            Ask to extend
          </button>
          {extend.data && (
            <p role="status">
              {extend.data.outcome === 'extended' ? 'Extended' : 'Sent for approval'}: access until{' '}
              <When at={extend.data.expiresAt} />.
            </p>
          )}
        </>
      )}
      <ProblemText error={cancel.error ?? revoke.error ?? extend.error} />
    </section>
  );
}
