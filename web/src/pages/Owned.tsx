import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../api/client';
import { Countdown, Loading, ProblemText, When } from '../components/common';
import { LIVE_MS } from './MyRequests';

type Grant = Schemas['OwnedGrants']['resources'][number]['grants'][number];

/**
 * Access to my resources: who holds what on the resources the caller owns, however it was granted (auto-approved
 * grants never reached the owner's inbox), with a revoke through the request's own `revoke` message.
 */
export function OwnedPage() {
  const [notice, setNotice] = useState<string>();
  const owned = useQuery({
    queryKey: ['owned'],
    queryFn: () => unwrap(api.GET('/v1/owned/grants', {})),
    refetchInterval: LIVE_MS,
  });
  const resources = owned.data?.resources ?? [];
  return (
    <>
      <h1 tabIndex={-1}>Access to my resources</h1>
      <p className="muted">Everyone who holds access now to a resource you own, and until when.</p>
      <p role="status" className="ok">
        {notice ?? ''}
      </p>
      {owned.isPending && <Loading what="your resources" />}
      <ProblemText error={owned.error} />
      {owned.data && resources.length === 0 && <p role="status">You own no resource in the catalog.</p>}
      {owned.data?.truncated && <p className="problem">Only the first 1,000 grants are listed.</p>}
      {resources.map((r) => (
        <section key={r.id} aria-labelledby={`resource-${r.id}`} data-resource={r.id}>
          <h2 id={`resource-${r.id}`}>
            {r.name} <span className="muted small">({r.id})</span>
          </h2>
          {r.grants.length === 0 ? (
            <p>Nobody holds access to it now.</p>
          ) : (
            <ul className="cards" aria-label={`Access to ${r.name}`}>
              {r.grants.map((g) => (
                <GrantCard key={g.requestId} grant={g} onRevoked={setNotice} />
              ))}
            </ul>
          )}
        </section>
      ))}
    </>
  );
}

function GrantCard({ grant, onRevoked }: { grant: Grant; onRevoked: (notice: string) => void }) {
  const [reason, setReason] = useState('');
  const queries = useQueryClient();
  const revoke = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/v1/requests/{id}/revoke', {
          params: { path: { id: grant.requestId } },
          body: { ...(reason.trim() && { reason: reason.trim() }) },
        }),
      ),
    onSuccess: () => onRevoked(`Revocation of ${grant.entitlement} for ${grant.holder} sent.`),
    onSettled: () => void queries.invalidateQueries({ queryKey: ['owned'] }),
  });
  const base = `grant-${grant.requestId}`;
  return (
    <li className="card" data-request={grant.requestId} data-holder={grant.holder}>
      <h3 id={`${base}-title`}>
        {grant.holderName ?? grant.holder} <span className="muted small">({grant.holder})</span>
      </h3>
      <p>
        {grant.entitlementName} <code>{grant.entitlement}</code>
      </p>
      <p className="muted small">
        Asked by {grant.requester}
        {grant.grantedAt && (
          <>
            , granted <When at={grant.grantedAt} />
          </>
        )}
        {grant.expiresAt && (
          <>
            , ends <Countdown to={grant.expiresAt} />
          </>
        )}
      </p>
      <form className="decide" onSubmit={(e) => e.preventDefault()} aria-label={`Revoke ${grant.holder}'s access`}>
        <div className="field">
          <label htmlFor={`${base}-reason`}>Why revoke</label>
          <input id={`${base}-reason`} value={reason} onChange={(e) => setReason(e.target.value)} />
        </div>
        <button type="button" className="danger" onClick={() => revoke.mutate()} disabled={revoke.isPending}>
          Revoke access
        </button>
        <ProblemText error={revoke.error} />
      </form>
    </li>
  );
}
