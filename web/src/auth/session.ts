/**
 * The signed-in person's bearer token, kept in sessionStorage: it survives a reload of this tab and dies with it,
 * and no other tab or site can read it. React components follow it through useSyncExternalStore.
 */
const KEY = 'grantflow.session';

export interface Session {
  token: string;
  userId: string;
}

const listeners = new Set<() => void>();
let cached: Session | null | undefined;

export function currentSession(): Session | null {
  if (cached === undefined) {
    try {
      cached = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    } catch {
      cached = null;
    }
  }
  return cached;
}

export function currentToken(): string | undefined {
  return currentSession()?.token;
}

export function signIn(token: string): void {
  cached = { token, userId: subjectOf(token) };
  sessionStorage.setItem(KEY, JSON.stringify(cached));
  listeners.forEach((l) => l());
}

export function signOut(): void {
  if (currentSession() === null) return;
  cached = null;
  sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l());
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Only for display: who the token says we are. The API verifies the token; the portal trusts nothing it decodes. */
function subjectOf(token: string): string {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : 'unknown';
  } catch {
    return 'unknown';
  }
}
