import { useEffect, useRef, useSyncExternalStore } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { currentSession, signOut, subscribe } from './auth/session';
import { endProviderSession } from './auth/oidc';
import { href, useRoute, type Route } from './route';
import { SignIn, type PortalConfig } from './pages/SignIn';
import { CatalogPage } from './pages/Catalog';
import { NewRequestPage } from './pages/NewRequest';
import { MyRequestsPage } from './pages/MyRequests';
import { RequestPage } from './pages/Request';
import { ApprovalsPage } from './pages/Approvals';
import { AuditPage } from './pages/Audit';
import { ReviewsPage } from './pages/Reviews';
import { OwnedPage } from './pages/Owned';
import { KpisPage } from './pages/Kpis';

const NAV: { route: Route; label: string }[] = [
  { route: { page: 'catalog' }, label: 'Catalog' },
  { route: { page: 'requests' }, label: 'My requests' },
  { route: { page: 'approvals' }, label: 'Approvals' },
  { route: { page: 'reviews' }, label: 'Reviews' },
  { route: { page: 'owned' }, label: 'My resources' },
  { route: { page: 'audit' }, label: 'Audit' },
  { route: { page: 'kpis' }, label: 'KPIs' },
];

async function loadConfig(): Promise<PortalConfig> {
  const res = await fetch('/portal/config.json');
  if (!res.ok) throw new Error(`The portal configuration did not load (${res.status}).`);
  return (await res.json()) as PortalConfig;
}

export function App() {
  const session = useSyncExternalStore(subscribe, currentSession);
  const config = useQuery({ queryKey: ['portal-config'], queryFn: loadConfig, staleTime: Infinity });
  const queries = useQueryClient();
  // Nothing one person saw may show for the next one signing in on this tab.
  useEffect(() => () => queries.clear(), [session?.userId, queries]);

  if (!session) {
    return (
      <main id="main" className="signin">
        {config.data ? <SignIn config={config.data} /> : <p role="status">{config.error?.message ?? 'Loading…'}</p>}
      </main>
    );
  }
  const leave = () => {
    const ended = signOut();
    if (ended && config.data?.mode === 'oidc') void endProviderSession(config.data, ended.idToken);
  };
  return <Shell userId={session.userId} onSignOut={leave} />;
}

function Shell({ userId, onSignOut }: { userId: string; onSignOut: () => void }) {
  const route = useRoute();
  const current = route.page === 'request' ? 'requests' : route.page === 'new' ? 'catalog' : route.page;
  const main = useRef<HTMLElement>(null);
  // A screen reader hears the new page's heading, not silence, after a navigation.
  useEffect(() => {
    main.current?.querySelector('h1')?.focus();
  }, [route.page]);
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header className="top">
        <span className="brand">grantflow</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.label}>
                <a href={href(n.route)} aria-current={n.route.page === current ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          <span data-testid="signed-in-as">{userId}</span>
          <button type="button" className="link" onClick={onSignOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page route={route} userId={userId} />
      </main>
    </>
  );
}

function Page({ route, userId }: { route: Route; userId: string }) {
  switch (route.page) {
    case 'catalog':
      return <CatalogPage />;
    case 'new':
      return <NewRequestPage entitlementId={route.entitlement} />;
    case 'requests':
      return <MyRequestsPage />;
    case 'request':
      return <RequestPage id={route.id} userId={userId} />;
    case 'approvals':
      return <ApprovalsPage />;
    case 'reviews':
      return <ReviewsPage />;
    case 'owned':
      return <OwnedPage />;
    case 'audit':
      return <AuditPage />;
    case 'kpis':
      return <KpisPage />;
  }
}
