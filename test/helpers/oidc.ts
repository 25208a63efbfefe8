/**
 * Starts the OpenID provider of test/helpers/oidc-idp.mts on a free port and signs in through it as a real client
 * does: authorization code flow with PKCE, following the provider's redirects with its cookies, then the token
 * endpoint. What comes back is the provider's own JWT access token for grantflow.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export const OIDC_AUDIENCE = 'grantflow';
const client = {
  id: 'grantflow-test',
  secret: 'grantflow-test-client-secret-0123456789',
  redirectUri: 'http://127.0.0.1/callback',
};

/** Accounts at the provider, by its own `sub` (not the directory's id), with the claims it issues. */
export const idpAccounts = {
  'idp-0001': { email: 'Alice@Example.com', email_verified: true, preferred_username: 'alice' },
  'idp-0002': { email: 'bob@example.com', email_verified: true, preferred_username: 'bob' },
  'idp-0003': { email: 'dave@example.com', email_verified: false, preferred_username: 'nobody-here' },
  alice: { email: 'someone-else@example.com', email_verified: true, preferred_username: 'erin' },
};
export type IdpAccount = keyof typeof idpAccounts;

export interface Idp {
  issuer: string;
  /** An access token for `account`, signed with the provider's current key. */
  token(account: IdpAccount): Promise<string>;
  /** Replaces the provider's signing keys (the old ones are no longer published). */
  rotate(keys: JWK[]): Promise<void>;
  stop(): Promise<void>;
}

/** A private RS256 signing key with its key id, as the provider's configuration takes it. */
export async function signingKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

function next<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      child.off('message', onMessage).off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null) => reject(new Error(`The OpenID provider exited (${code}).`));
    child.on('message', onMessage).once('exit', onExit);
  });
}

/** `publicClient`: a browser application (the portal) that signs in with PKCE and no secret. */
export async function startIdp(keys: JWK[], publicClient?: { id: string; redirectUri: string }): Promise<Idp> {
  const settings = {
    keys,
    accounts: idpAccounts,
    client,
    publicClient,
    resource: 'urn:grantflow',
    audience: OIDC_AUDIENCE,
  };
  const child = fork(path.join(__dirname, 'oidc-idp.mts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, IDP_SETTINGS: JSON.stringify(settings), NODE_ENV: 'test' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const { issuer } = await next<{ issuer: string }>(child, 'ready');
  return {
    issuer,
    token: (account) => signIn(issuer, account),
    async rotate(newKeys) {
      const done = next(child, 'rotated');
      child.send({ type: 'rotate', keys: newKeys });
      await done;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function signIn(issuer: string, account: IdpAccount): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const cookies = new Map<string, string>();
  let url: string = `${issuer}/auth?${new URLSearchParams({
    client_id: client.id,
    response_type: 'code',
    redirect_uri: client.redirectUri,
    scope: 'openid email profile grantflow',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    login_hint: account,
    state: randomBytes(8).toString('hex'),
  })}`;
  // Follows the provider's redirects (auth → interaction → auth resume) until it sends us to the client.
  for (let hop = 0; hop < 10; hop += 1) {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`The provider answered ${res.status} at ${url}: ${await res.text()}`);
    url = new URL(location, url).toString();
    if (url.startsWith(client.redirectUri)) break;
  }
  const code = new URL(url).searchParams.get('code');
  if (!code) throw new Error(`The provider sent no code: ${url}`);
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirectUri,
      code_verifier: verifier,
      client_id: client.id,
      client_secret: client.secret,
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!res.ok || !body.access_token)
    throw new Error(`The token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
  return body.access_token;
}
