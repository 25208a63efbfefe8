/**
 * The signed-in person's bearer token, held in this page's memory only: no storage any script, extension or other
 * tab could read it from, and it dies with the page (a reload signs in again, which the identity provider's own
 * session makes one redirect). React components follow it through useSyncExternalStore.
 */
export interface Session {
  token: string;
  /** The directory id the API resolved the token to (GET /v1/me), not a claim decoded here. */
  userId: string;
  /** Kept only to end the identity provider's session on sign-out (OIDC mode). */
  idToken?: string;
}

const listeners = new Set<() => void>();
let current: Session | null = null;

export function currentSession(): Session | null {
  return current;
}

export function currentToken(): string | undefined {
  return current?.token;
}

/** Asks the API who the token is: the portal shows and acts as whoever the API says, never what it decodes. */
export async function signIn(token: string, idToken?: string): Promise<void> {
  const res = await fetch('/v1/me', { headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json().catch(() => ({}))) as { id?: string; detail?: string };
  if (!res.ok || !body.id) throw new Error(body.detail ?? `The API refused the sign-in (${res.status}).`);
  current = { token, userId: body.id, ...(idToken && { idToken }) };
  listeners.forEach((l) => l());
}

/** Forgets the token; returns the session that ended, for the identity provider's sign-out. */
export function signOut(): Session | null {
  const ended = current;
  if (ended === null) return null;
  current = null;
  listeners.forEach((l) => l());
  return ended;
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
