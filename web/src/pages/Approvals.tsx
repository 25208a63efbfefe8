import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type RequestSummary } from '../api/client';
import { Badge, Loading, ProblemText, When } from '../components/common';
import { TaskForms } from '../components/tasks';
import { DelegationCard } from '../components/delegation';
import { href } from '../route';
import { useCatalog } from './Catalog';
import { LIVE_MS } from './MyRequests';
import { useRequest } from './Request';

export function ApprovalsPage() {
  // Kept here: a decided item leaves the inbox, and its form with it, but the answer must stay readable.
  const [notice, setNotice] = useState<string>();
  const inbox = useQuery({
    queryKey: ['approvals'],
    queryFn: () => unwrap(api.GET('/v1/approvals', { params: { query: { limit: 50 } } })),
    refetchInterval: LIVE_MS,
  });
  return (
    <>
      <h1 tabIndex={-1}>Approvals</h1>
      <p className="muted">
        Requests waiting on your decision, review or manual fulfilment, including those delegated to you.
      </p>
      <p role="status" className="ok">
        {notice ?? ''}
      </p>
      {inbox.isPending && <Loading what="your inbox" />}
      <ProblemText error={inbox.error} />
      {inbox.data?.items.length === 0 && <p role="status">Nothing is waiting on you.</p>}
      <ul className="cards" aria-label="Waiting on you">
        {inbox.data?.items.map((r) => (
          <InboxItem key={r.id} summary={r} onDecided={setNotice} />
        ))}
      </ul>
      <DelegationCard />
    </>
  );
}

function InboxItem({ summary, onDecided }: { summary: RequestSummary; onDecided: (notice: string) => void }) {
  const view = useRequest(summary.id).data;
  const catalog = useCatalog().data;
  const entitlement = catalog?.resources.flatMap((r) => r.entitlements).find((e) => e.id === summary.entitlement);
  const holdings = useQuery({
    queryKey: ['holdings', summary.beneficiary],
    queryFn: () =>
      unwrap(
        api.GET('/v1/requests', {
          params: { query: { beneficiary: summary.beneficiary, status: 'active,provisioning', limit: 20 } },
        }),
      ),
  });
  const open = view && [...view.stages, ...(view.extension?.stages ?? [])].find((s) => s.status === 'open');
  return (
    <li className="card" data-request={summary.id}>
      <h2>
        <a href={href({ page: 'request', id: summary.id })}>{summary.entitlement}</a> for {summary.beneficiary}
      </h2>
      <p>
        {entitlement?.name ?? summary.entitlement}
        {entitlement && (
          <>
            {' '}
            · <Badge kind="sensitivity" value={entitlement.sensitivity} />
          </>
        )}
        {summary.riskLevel && (
          <>
            {' '}
            · risk <Badge kind="risk" value={summary.riskLevel} />
          </>
        )}
      </p>
      <p className="muted small">
        Asked by {summary.requester}, <When at={summary.submittedAt} />
      </p>
      {view && <blockquote>{view.justification}</blockquote>}
      {view?.risk && view.risk.reasons.length > 0 && (
        <ul aria-label="Risk reasons">
          {view.risk.reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
      <p className="small">
        {summary.beneficiary} holds now:{' '}
        {holdings.data ? holdings.data.items.map((h) => h.entitlement).join(', ') || 'nothing you can see' : '…'}
      </p>
      {open && <DecisionForm requestId={summary.id} stage={open.name} onDecided={onDecided} />}
      {view && <TaskForms view={view} offerRevoke={false} onDone={onDecided} />}
    </li>
  );
}

/**
 * Approve or deny with a comment. The portal does not guess who may decide: the workflow's validator answers, and a
 * refusal (your own request, not eligible, already decided) is shown in the API's own words.
 */
export function DecisionForm(props: { requestId: string; stage: string; onDecided: (notice: string) => void }) {
  const { requestId, stage, onDecided } = props;
  const [comment, setComment] = useState('');
  const queries = useQueryClient();
  const decide = useMutation({
    mutationFn: (decision: 'approve' | 'deny') =>
      unwrap(
        api.POST('/v1/requests/{id}/decisions', {
          params: { path: { id: requestId } },
          body: { decision, ...(comment.trim() && { comment: comment.trim() }) },
        }),
      ),
    onSuccess: (r) =>
      onDecided(
        `Recorded: stage ${r.stage} of ${requestId} is ${r.stageStatus.replace(/_/g, ' ')}, the request is ${r.status.replace(/_/g, ' ')}.`,
      ),
    onSettled: () => {
      void queries.invalidateQueries({ queryKey: ['request', requestId] });
      void queries.invalidateQueries({ queryKey: ['approvals'] });
    },
  });
  const id = `comment-${requestId}`;
  return (
    <form className="decide" onSubmit={(e) => e.preventDefault()} aria-label={`Decide on stage ${stage}`}>
      <div className="field">
        <label htmlFor={id}>Comment</label>
        <input id={id} value={comment} onChange={(e) => setComment(e.target.value)} />
      </div>
      <button type="button" onClick={() => decide.mutate('approve')} disabled={decide.isPending}>
        Approve
      </button>{' '}
      <button type="button" className="danger" onClick={() => decide.mutate('deny')} disabled={decide.isPending}>
        Deny
      </button>
      <ProblemText error={decide.error} />
    </form>
  );
}
