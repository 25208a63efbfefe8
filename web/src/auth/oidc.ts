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
  /** The page (hash route) the person was on: the issuer sends everyone back to the one redirect URI. */
  returnTo: string;
}

const redirectUri = () => `${window.location.origin}/`;

/**
 * oauth4webapi refuses plain http. The one exception is an issuer on this machine's loopback address (a local or test
 * identity provider), where nothing travels over a network; the API's environment schema requires https in production.
 */
function transport(issuer: URL): { [oauth.allowInsecureRequests]?: true } {
  const loopback = issuer.hostname === '127.0.0.1' || issuer.hostname === 'localhost' || issuer.hostname === '[::1]';
  return issuer.protocol === 'http:' && loopback ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(settings: OidcSettings): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(settings.issuer);
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...transport(issuer) });
  return oauth.processDiscoveryResponse(issuer, response);
}

/** Sends the browser to the issuer's authorization endpoint. */
export async function startSignIn(settings: OidcSettings): Promise<void> {
  const as = await discover(settings);
  if (!as.authorization_endpoint) throw new Error('The identity provider publishes no authorization endpoint.');
  const pending: Pending = {
    verifier: oauth.generateRandomCodeVerifier(),
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    returnTo: window.location.hash,
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
 * API verifies, with the ID token for signing out later. The code is removed from the address bar whatever happens.
 */
export async function finishSignIn(settings: OidcSettings): Promise<{ accessToken: string; idToken?: string }> {
  const current = new URL(window.location.href);
  window.history.replaceState(null, '', `${current.pathname}${current.hash}`);
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  if (!raw) throw new Error('This sign-in was not started here; start again.');
  const pending = JSON.parse(raw) as Pending;
  if (pending.returnTo.startsWith('#/'))
    window.history.replaceState(null, '', `${current.pathname}${pending.returnTo}`);
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
    transport(new URL(settings.issuer)),
  );
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  return { accessToken: result.access_token, ...(result.id_token && { idToken: result.id_token }) };
}

/**
 * Ends the identity provider's session too (RP-initiated logout), so the next person on this browser has to sign in
 * rather than being let in by the provider's cookie. Without an end-session endpoint, forgetting the token is all.
 */
export async function endProviderSession(settings: OidcSettings, idToken: string | undefined): Promise<void> {
  const as = await discover(settings);
  if (!as.end_session_endpoint) return;
  const url = new URL(as.end_session_endpoint);
  url.searchParams.set('client_id', settings.clientId);
  url.searchParams.set('post_logout_redirect_uri', redirectUri());
  if (idToken) url.searchParams.set('id_token_hint', idToken);
  window.location.assign(url.href);
}
