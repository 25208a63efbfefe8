import * as oauth from 'oauth4webapi';

/** The portal is a public client: authorization code with PKCE (S256), state and nonce, no client secret. */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  scope: string;
}

const PENDING = 'grantflow.oidc.pending';

interface Pending {
  verifier: string;
  state: string;
  nonce: string;
}

const redirectUri = () => `${window.location.origin}/`;

async function discover(settings: OidcSettings): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(settings.issuer);
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc' }));
}

/** Sends the browser to the issuer's authorization endpoint. */
export async function startSignIn(settings: OidcSettings): Promise<void> {
  const as = await discover(settings);
  if (!as.authorization_endpoint) throw new Error('The identity provider publishes no authorization endpoint.');
  const pending: Pending = {
    verifier: oauth.generateRandomCodeVerifier(),
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', settings.clientId);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', settings.scope);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(pending.verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', pending.state);
  url.searchParams.set('nonce', pending.nonce);
  window.location.assign(url.href);
}

/** Whether this page load is the issuer sending the browser back with a code (or an error). */
export function isCallback(): boolean {
  const params = new URLSearchParams(window.location.search);
  return params.has('state') && (params.has('code') || params.has('error'));
}

/**
 * Exchanges the code for tokens (checking state, PKCE and the ID token's nonce) and returns the access token the
 * API verifies. The code is removed from the address bar whatever happens.
 */
export async function finishSignIn(settings: OidcSettings): Promise<string> {
  const current = new URL(window.location.href);
  window.history.replaceState(null, '', `${current.pathname}${current.hash}`);
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  if (!raw) throw new Error('This sign-in was not started here; start again.');
  const pending = JSON.parse(raw) as Pending;
  const as = await discover(settings);
  const client: oauth.Client = { client_id: settings.clientId };
  const params = oauth.validateAuthResponse(as, client, current, pending.state);
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    redirectUri(),
    pending.verifier,
  );
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  return result.access_token;
}
