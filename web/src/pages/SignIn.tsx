import { useEffect, useState } from 'react';
import { signIn } from '../auth/session';
import { finishSignIn, isCallback, startSignIn, type OidcSettings } from '../auth/oidc';

export type PortalConfig =
  { mode: 'dev'; users: { id: string; name: string; groups: string[] }[] } | ({ mode: 'oidc' } & OidcSettings);

export function SignIn({ config }: { config: PortalConfig }) {
  return (
    <section className="card narrow">
      <h1 tabIndex={-1}>Sign in to grantflow</h1>
      {config.mode === 'dev' ? <DevPicker users={config.users} /> : <OidcSignIn settings={config} />}
    </section>
  );
}

/** Development only: the API mounts /portal/dev-token only when it accepts development tokens. */
function DevPicker({ users }: { users: { id: string; name: string; groups: string[] }[] }) {
  const [error, setError] = useState<string>();
  const pick = async (userId: string) => {
    setError(undefined);
    const res = await fetch('/portal/dev-token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId }),
    });
    const body = (await res.json().catch(() => ({}))) as { token?: string; detail?: string };
    if (!res.ok || !body.token) setError(body.detail ?? `Sign-in failed (${res.status}).`);
    else await signIn(body.token).catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  };
  return (
    <>
      <p>
        Development sign-in: pick a person from the demo directory. A production deployment signs in through your
        identity provider instead.
      </p>
      <ul className="pick">
        {users.map((u) => (
          <li key={u.id}>
            <button type="button" onClick={() => void pick(u.id)} data-user={u.id}>
              <strong>{u.name}</strong> <span className="muted">{u.id}</span>
              <span className="muted small"> · {u.groups.join(', ')}</span>
            </button>
          </li>
        ))}
      </ul>
      {error && <p role="alert">{error}</p>}
    </>
  );
}

function OidcSignIn({ settings }: { settings: OidcSettings }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(isCallback());
  useEffect(() => {
    if (!isCallback()) return;
    finishSignIn(settings)
      .then(({ accessToken, idToken }) => signIn(accessToken, idToken))
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)))
      .finally(() => setBusy(false));
  }, [settings]);
  return (
    <>
      <p>Sign in with your organisation&apos;s account ({new URL(settings.issuer).host}).</p>
      <button
        type="button"
        disabled={busy}
        onClick={() => void startSignIn(settings).catch((err: unknown) => setError(String(err)))}
      >
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
      {error && <p role="alert">{error}</p>}
    </>
  );
}
