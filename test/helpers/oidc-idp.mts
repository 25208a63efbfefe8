/**
 * A real OpenID provider (`oidc-provider`) for the OIDC tests, run as a child process because the library is
 * ESM-only. It issues JWT access tokens for the resource `urn:grantflow` (audience `grantflow`) through the
 * authorization code flow with PKCE; logging in takes the `login_hint` as the account, so a test signs in as anyone
 * without a form. Without a hint it shows a login page with one button per account, for a browser to press. A
 * public client (the portal: no secret, PKCE, CORS from its origin, RP-initiated logout) is added when the parent
 * names one. Accounts, client, resource and the signing keys (private JWKs) come from the parent in
 * IDP_SETTINGS (test/helpers/oidc.ts); the keys are replaced on a `rotate` message without restarting the server,
 * as a provider rotating its keys does.
 *
 * Messages from the parent: { type: 'rotate', keys: JWK[] }. To the parent: { type: 'ready', issuer } and
 * { type: 'rotated' }.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type JWK } from 'oidc-provider';

interface Settings {
  keys: JWK[];
  /** By account id (the provider's `sub`): the claims it puts into tokens. */
  accounts: Record<string, Record<string, string | boolean>>;
  client: { id: string; secret: string; redirectUri: string };
  /** A browser application signing in with PKCE alone; `redirectUri` is also where it lands after logout. */
  publicClient?: { id: string; redirectUri: string };
  resource: string;
  audience: string;
}

const settings = JSON.parse(process.env.IDP_SETTINGS ?? '{}') as Settings;
const { accounts, client, publicClient, resource } = settings;

function configuration(keys: JWK[]): Configuration {
  return {
    clients: [
      {
        client_id: client.id,
        client_secret: client.secret,
        redirect_uris: [client.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      ...(publicClient
        ? [
            {
              client_id: publicClient.id,
              redirect_uris: [publicClient.redirectUri],
              post_logout_redirect_uris: [publicClient.redirectUri],
              grant_types: ['authorization_code'],
              response_types: ['code' as const],
              token_endpoint_auth_method: 'none' as const,
            },
          ]
        : []),
    ],
    // The browser calls the token endpoint from the portal's origin: allowed for a public client's own origin only.
    clientBasedCORS: (_ctx, origin, c) =>
      c.clientAuthMethod === 'none' && c.redirectUris?.some((uri) => new URL(uri).origin === origin) === true,
    jwks: { keys },
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'] },
    scopes: ['openid', 'email', 'profile'],
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'grantflow',
          audience: settings.audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 3600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    // Real providers (Entra ID, Okta, Keycloak) put the user's email and username into access tokens on request.
    extraTokenClaims: (_ctx, token) => {
      const account = 'accountId' in token && token.accountId ? accounts[token.accountId] : undefined;
      return account ? { ...account } : undefined;
    },
    findAccount: (_ctx, sub) => {
      const account = accounts[sub];
      if (!account) return undefined;
      return { accountId: sub, claims: () => ({ sub, ...account }) };
    },
    // Consent is part of the one-step login below.
    loadExistingGrant: async (ctx) => {
      const grantId =
        ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(ctx.oidc.client?.clientId ?? '');
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  };
}

let provider: Provider;
const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/interaction/')) {
    void login(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
    return;
  }
  void provider.callback()(req, res);
});

async function formField(req: http.IncomingMessage, name: string): Promise<string | undefined> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return new URLSearchParams(body).get(name) ?? undefined;
}

function loginPage(res: http.ServerResponse): void {
  const buttons = Object.entries(accounts)
    .map(([id, claims]) => `<button name="account" value="${id}">${String(claims.preferred_username)} (${id})</button>`)
    .join('');
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(
    `<!doctype html><html lang="en"><title>Test provider</title><h1>Sign in</h1><form method="post">${buttons}</form>`,
  );
}

/**
 * Signs in as the login hint (or the account pressed on the login page) and grants every requested scope, then
 * hands back to the provider.
 */
async function login(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const current = provider;
  const details = await current.interactionDetails(req, res);
  const hint = details.params.login_hint;
  if (hint === undefined && req.method === 'GET') {
    loginPage(res);
    return;
  }
  const accountId = hint === undefined ? ((await formField(req, 'account')) ?? '') : String(hint);
  if (!accounts[accountId]) {
    await current.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown account' });
    return;
  }
  const grant = new current.Grant({ accountId, clientId: String(details.params.client_id) });
  grant.addOIDCScope('openid email profile');
  grant.addResourceScope(resource, 'grantflow');
  const grantId = await grant.save();
  await current.interactionFinished(req, res, { login: { accountId }, consent: { grantId } });
}

function start(keys: JWK[], issuer: string): void {
  provider = new Provider(issuer, configuration(keys));
  provider.proxy = false;
}

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  start(settings.keys, issuer);
  process.on('message', (message: { type: string; keys?: JWK[] }) => {
    if (message.type === 'rotate' && message.keys) {
      start(message.keys, issuer);
      process.send?.({ type: 'rotated' });
    }
  });
  process.send?.({ type: 'ready', issuer });
});
process.on('disconnect', () => process.exit(0));
