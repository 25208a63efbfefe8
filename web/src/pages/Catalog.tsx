import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';
import { Badge, Loading, ProblemText, readableDuration } from '../components/common';
import { href } from '../route';

export function useCatalog() {
  return useQuery({ queryKey: ['catalog'], queryFn: () => unwrap(api.GET('/v1/catalog')), staleTime: 60_000 });
}

export function CatalogPage() {
  const catalog = useCatalog();
  const [search, setSearch] = useState('');
  const entitlements = useMemo(() => {
    const words = search.toLowerCase().split(/\s+/).filter(Boolean);
    return (catalog.data?.resources ?? []).flatMap((r) =>
      r.entitlements
        .filter((e) => words.every((w) => `${r.name} ${e.id} ${e.name} ${e.sensitivity}`.toLowerCase().includes(w)))
        .map((e) => ({ resource: r, entitlement: e })),
    );
  }, [catalog.data, search]);

  return (
    <>
      <h1 tabIndex={-1}>Catalog</h1>
      <label className="field">
        <span>Search entitlements</span>
        <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="e.g. analytics" />
      </label>
      {catalog.isPending && <Loading what="the catalog" />}
      <ProblemText error={catalog.error} />
      <ul className="cards" aria-label="Entitlements">
        {entitlements.map(({ resource, entitlement: e }) => (
          <li key={e.id} className="card" data-entitlement={e.id}>
            <h2>
              {e.name} <code>{e.id}</code>
            </h2>
            <p className="muted">{resource.name}</p>
            <dl className="facts">
              <dt>Sensitivity</dt>
              <dd>
                <Badge kind="sensitivity" value={e.sensitivity} />
                {e.privileged && ' privileged'}
              </dd>
              <dt>Duration</dt>
              <dd>
                {readableDuration(e.defaultDuration)} by default, at most {readableDuration(e.maxDuration)}
              </dd>
              <dt>You will be asked for</dt>
              <dd>justification{e.fields.map((f) => `, ${f.label}${f.required ? '' : ' (optional)'}`).join('')}</dd>
              {e.breakGlass && (
                <>
                  <dt>Break-glass</dt>
                  <dd>allowed, for at most {readableDuration(e.breakGlass.ttl)}</dd>
                </>
              )}
              {e.conflicts.length > 0 && (
                <>
                  <dt>Cannot be held with</dt>
                  <dd>{e.conflicts.join(', ')}</dd>
                </>
              )}
            </dl>
            <a className="button" href={href({ page: 'new', entitlement: e.id })}>
              Request {e.id}
            </a>
          </li>
        ))}
      </ul>
      {catalog.data && entitlements.length === 0 && <p>No entitlement matches “{search}”.</p>}
    </>
  );
}
