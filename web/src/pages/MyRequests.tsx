import { useQuery } from '@tanstack/react-query';
import { api, unwrap, type RequestSummary } from '../api/client';
import { Badge, Countdown, Loading, ProblemText, When } from '../components/common';
import { href } from '../route';

/** Live status by polling: a few seconds' delay, no connection held open per person. */
export const LIVE_MS = 2000;

export function MyRequestsPage() {
  const list = useQuery({
    queryKey: ['requests', 'mine'],
    queryFn: () => unwrap(api.GET('/v1/requests', { params: { query: { mine: 'true', limit: 50 } } })),
    refetchInterval: LIVE_MS,
  });
  return (
    <>
      <h1 tabIndex={-1}>My requests</h1>
      {list.isPending && <Loading what="your requests" />}
      <ProblemText error={list.error} />
      {list.data && list.data.items.length === 0 && (
        <p>
          You have no requests yet. <a href={href({ page: 'catalog' })}>Find something in the catalog.</a>
        </p>
      )}
      <RequestList items={list.data?.items ?? []} label="Your requests" />
    </>
  );
}

export function RequestList({ items, label }: { items: RequestSummary[]; label: string }) {
  return (
    <ul className="cards" aria-label={label}>
      {items.map((r) => (
        <li key={r.id} className="card" data-request={r.id}>
          <h2>
            <a href={href({ page: 'request', id: r.id })}>
              {r.entitlement}
              {r.beneficiary !== r.requester && ` for ${r.beneficiary}`}
            </a>
          </h2>
          <p>
            <Badge kind="status" value={r.status} />
            {r.riskLevel && (
              <>
                {' '}
                risk <Badge kind="risk" value={r.riskLevel} />
              </>
            )}
            {r.breakGlass && ' · break-glass'}
          </p>
          <p className="muted small">
            Asked by {r.requester}, <When at={r.submittedAt} />
            {r.pendingApprovers.length > 0 && ` · waiting on ${r.pendingApprovers.join(', ')}`}
            {r.expiresAt && r.status === 'active' && (
              <>
                {' '}
                · expires <Countdown to={r.expiresAt} />
              </>
            )}
          </p>
        </li>
      ))}
    </ul>
  );
}
