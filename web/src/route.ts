import { useSyncExternalStore } from 'react';

/**
 * Hash routes (`#/requests/abc`): the API serves one index.html at `/`, so deep links need no server rewrite rules.
 */
export type Route =
  | { page: 'catalog' }
  | { page: 'new'; entitlement: string }
  | { page: 'requests' }
  | { page: 'request'; id: string }
  | { page: 'approvals' }
  | { page: 'reviews' }
  | { page: 'owned' }
  | { page: 'audit' }
  | { page: 'kpis' };

export function parseRoute(hash: string): Route {
  const [, page = '', arg] = hash.replace(/^#/, '').split('/');
  const value = arg ? decodeURIComponent(arg) : '';
  switch (page) {
    case 'new':
      return value ? { page: 'new', entitlement: value } : { page: 'catalog' };
    case 'requests':
      return value ? { page: 'request', id: value } : { page: 'requests' };
    case 'approvals':
    case 'reviews':
    case 'owned':
    case 'audit':
    case 'kpis':
      return { page };
    default:
      return { page: 'catalog' };
  }
}

export function href(route: Route): string {
  switch (route.page) {
    case 'new':
      return `#/new/${encodeURIComponent(route.entitlement)}`;
    case 'request':
      return `#/requests/${encodeURIComponent(route.id)}`;
    default:
      return `#/${route.page}`;
  }
}

const subscribe = (cb: () => void) => {
  window.addEventListener('hashchange', cb);
  return () => window.removeEventListener('hashchange', cb);
};

export function useRoute(): Route {
  return parseRoute(useSyncExternalStore(subscribe, () => window.location.hash));
}

export function go(route: Route): void {
  window.location.hash = href(route);
}
