import { useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, download, unwrap } from '../api/client';
import { Loading, ProblemText, When } from '../components/common';

interface Filter {
  requestId?: string;
  from?: string;
  to?: string;
}

const instant = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function AuditPage() {
  const [draft, setDraft] = useState({ requestId: '', from: '', to: '' });
  const [filter, setFilter] = useState<Filter>({});
  const trail = useQuery({
    queryKey: ['audit', filter],
    queryFn: () => unwrap(api.GET('/v1/audit', { params: { query: { ...filter, limit: 200 } } })),
  });
  const verify = useMutation({ mutationFn: () => unwrap(api.GET('/v1/audit/verify')) });
  const exporting = useMutation({
    mutationFn: (format: 'csv' | 'json') => {
      const query = new URLSearchParams({ format, ...(filter as Record<string, string>) });
      return download(`/v1/audit/export?${query.toString()}`, `grantflow-audit.${format}`);
    },
  });

  return (
    <>
      <h1 tabIndex={-1}>Audit trail</h1>
      <section className="card" aria-labelledby="verify-title">
        <h2 id="verify-title">Verify the chain</h2>
        <p className="muted">
          Recomputes every event&apos;s hash and key, checks the chain against the newest signed checkpoint, and names
          each break.
        </p>
        <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
          {verify.isPending ? 'Verifying…' : 'Verify'}
        </button>
        {verify.data && (
          <p role="status" data-testid="verify-result" className={verify.data.ok ? 'ok' : 'problem'}>
            {verify.data.ok
              ? `The chain holds: ${verify.data.count} events, head ${verify.data.head.hash.slice(0, 16)}…` +
                (verify.data.checkpoint ? `, signed checkpoint at event ${verify.data.checkpoint.seq}` : '')
              : verify.data.findings.map((f) => `Event ${f.seq}: ${f.message}`).join(' ')}
          </p>
        )}
        <ProblemText error={verify.error} />
      </section>
      <form
        className="card filters"
        aria-label="Filter the trail"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({
            ...(draft.requestId.trim() && { requestId: draft.requestId.trim() }),
            ...(draft.from && { from: instant(draft.from) }),
            ...(draft.to && { to: instant(draft.to) }),
          });
        }}
      >
        <div className="field">
          <label htmlFor="f-request">Request id</label>
          <input
            id="f-request"
            value={draft.requestId}
            onChange={(e) => setDraft({ ...draft, requestId: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor="f-from">From</label>
          <input
            id="f-from"
            type="datetime-local"
            value={draft.from}
            onChange={(e) => setDraft({ ...draft, from: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor="f-to">To</label>
          <input
            id="f-to"
            type="datetime-local"
            value={draft.to}
            onChange={(e) => setDraft({ ...draft, to: e.target.value })}
          />
        </div>
        <button type="submit">Filter</button>{' '}
        <button type="button" onClick={() => exporting.mutate('csv')}>
          Export CSV
        </button>{' '}
        <button type="button" onClick={() => exporting.mutate('json')}>
          Export JSON
        </button>
        <ProblemText error={exporting.error} />
      </form>
      {trail.isPending && <Loading what="the trail" />}
      <ProblemText error={trail.error} />
      {trail.data && (
        <div className="scroll" role="region" aria-label="Audit events" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">What</th>
                <th scope="col">Request</th>
              </tr>
            </thead>
            <tbody>
              {trail.data.events.map((e) => (
                <tr key={e.seq}>
                  <td>{e.seq}</td>
                  <td>
                    <When at={e.at} />
                  </td>
                  <td>{e.actor}</td>
                  <td>
                    {e.action.replace(/_/g, ' ')}
                    {typeof e.data.reason === 'string' && <span className="muted small"> · {e.data.reason}</span>}
                  </td>
                  <td className="small">{e.requestId ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
