import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { Identity } from '../domain';
import type { ApiEnv } from '../platform/env';
import { Problem, unavailable } from './problem';

/** The secret the dev stack signs tokens with when GRANTFLOW_DEV_JWT_SECRET is unset. Never used in production. */
export const DEV_DEFAULT_SECRET = 'grantflow-dev-secret-change-me';
export const DEV_ISSUER = 'grantflow-dev';

/** Who the bearer token says the caller is; the directory then decides whether that person may call at all. */
export interface Authenticated {
  userId: string;
}

export interface Authenticator {
  /** Verifies the `Authorization` header; throws a Problem (401, or 503 when the identity provider is down). */
  authenticate(header: string | undefined): Promise<Authenticated>;
}

const CLOCK_TOLERANCE_SECONDS = 30;
// Far above any real ID or access token, and small enough that a junk header costs nothing to refuse.
const MAX_TOKEN_LENGTH = 8192;
const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i;

type Verify = (token: string) => Promise<JWTPayload>;
/** Which person a verified token names; throws a Problem when it names nobody. */
type Identify = (payload: JWTPayload) => string | Promise<string>;

/** The directory's people by id: a fixed map, or the live directory read at each call. */
export type DirectoryUsers = ReadonlyMap<string, Identity> | (() => Promise<ReadonlyMap<string, Identity>>);

/** The claim that carries the directory identity: `sub` is a directory id, `email` a directory email. */
export const identityClaims = ['sub', 'email', 'preferred_username'] as const;
export type IdentityClaim = (typeof identityClaims)[number];

const bySubject: Identify = (payload) => {
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw unauthenticated('The token names no subject (sub).');
  }
  return payload.sub;
};

function authenticator(verify: Verify, identify: Identify = bySubject): Authenticator {
  return {
    async authenticate(header) {
      if (!header) throw unauthenticated('Send a bearer token in the Authorization header.', 'invalid_request');
      const token = BEARER.exec(header.trim())?.[1];
      if (!token || token.length > MAX_TOKEN_LENGTH) {
        throw unauthenticated('The Authorization header must be "Bearer <token>".', 'invalid_request');
      }
      let payload: JWTPayload;
      try {
        payload = await verify(token);
      } catch (err) {
        throw tokenProblem(err);
      }
      return { userId: await identify(payload) };
    },
  };
}

/** Development and tests: HS256 tokens signed with a shared secret, issued by `npm run token`. */
export function devAuthenticator(opts: { secret: string; audience: string }): Authenticator {
  const key = new TextEncoder().encode(opts.secret);
  return authenticator(async (token) => {
    const { payload } = await jwtVerify(token, key, {
      issuer: DEV_ISSUER,
      audience: opts.audience,
      algorithms: ['HS256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    });
    return payload;
  });
}

/** A development token for `userId`, as `npm run token` prints it. */
export async function signDevToken(opts: {
  userId: string;
  secret?: string;
  audience?: string;
  /** A jose time span such as `8h` or `30m`. */
  ttl?: string;
}): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(opts.userId)
    .setIssuer(DEV_ISSUER)
    .setAudience(opts.audience ?? 'grantflow')
    .setIssuedAt()
    .setExpirationTime(opts.ttl ?? '8h')
    .sign(new TextEncoder().encode(opts.secret ?? DEV_DEFAULT_SECRET));
}

/**
 * Maps the configured claim to a directory id. `sub` and `preferred_username` are directory ids; `email` is looked
 * up in the directory (case-insensitively), and an email the provider marks unverified names nobody. With the live
 * directory, the lookup follows every change: a joiner signs in at once, a changed email stops naming its old owner.
 */
export function claimIdentifier(claim: IdentityClaim, users?: DirectoryUsers): Identify {
  if (claim === 'sub') return bySubject;
  if (claim === 'email' && !users) throw new Error('Mapping the email claim needs the directory.');
  const read = typeof users === 'function' ? users : () => Promise.resolve(users ?? new Map<string, Identity>());
  // One index per directory snapshot: snapshots are immutable and replaced when the directory's version moves.
  const indexes = new WeakMap<ReadonlyMap<string, Identity>, Map<string, string>>();
  const byEmail = async () => {
    const current = await read();
    let index = indexes.get(current);
    if (!index) {
      index = new Map();
      for (const user of current.values()) if (user.email) index.set(user.email.toLowerCase(), user.id);
      indexes.set(current, index);
    }
    return index;
  };
  return async (payload) => {
    const value = payload[claim];
    if (typeof value !== 'string' || value === '') throw unauthenticated(`The token carries no ${claim} claim.`);
    if (claim !== 'email') return value;
    if (payload.email_verified === false) throw unauthenticated("The token's email is not verified by the provider.");
    const userId = (await byEmail()).get(value.toLowerCase());
    if (!userId) throw unauthenticated("The token's email names nobody in the directory.");
    return userId;
  };
}

/** Production: tokens from the OIDC issuer, checked against its published keys (asymmetric algorithms only). */
export function oidcAuthenticator(opts: {
  issuer: string;
  audience: string;
  keys: JWTVerifyGetKey;
  identify?: Identify;
}): Authenticator {
  return authenticator(async (token) => {
    const { payload } = await jwtVerify(token, opts.keys, {
      issuer: opts.issuer,
      audience: opts.audience,
      algorithms: ['RS256', 'PS256', 'ES256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    });
    return payload;
  }, opts.identify);
}

export interface KeySetTiming {
  /** How long a fetched key set is trusted: a key the issuer retired is refused at the latest this long after. */
  cacheMaxAgeMs: number;
  /** The least time between two fetches, so tokens with unknown key ids cannot make us hammer the issuer. */
  cooldownMs: number;
}

const discoverySchema = z.object({ issuer: z.string(), jwks_uri: z.url() });

/** The issuer's key set URL from its discovery document (OpenID Connect Discovery 1.0, section 4). */
export async function discoverJwksUrl(issuer: string): Promise<URL> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(3000), headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`OIDC discovery at ${url} answered ${res.status}.`);
  const doc = discoverySchema.parse(await res.json());
  // The document must be the issuer's own (section 4.3): otherwise its keys are not the ones tokens are signed with.
  if (doc.issuer !== issuer) throw new Error(`OIDC discovery at ${url} names issuer ${doc.issuer}, not ${issuer}.`);
  return new URL(doc.jwks_uri);
}

/**
 * The issuer's keys, fetched from `jwksUrl` or, without one, from the URL its discovery document names. Fetched on
 * first use (an identity provider that is down at start-up makes requests 503, not the API crash), refetched when a
 * token names an unknown key (rotation is picked up without restart) and when the cache is older than its maximum
 * age (a retired key stops working).
 */
export function issuerKeys(opts: { issuer: string; jwksUrl?: string } & KeySetTiming): JWTVerifyGetKey {
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const load = async () => {
    const url = opts.jwksUrl ? new URL(opts.jwksUrl) : await discoverJwksUrl(opts.issuer);
    return createRemoteJWKSet(url, {
      timeoutDuration: 3000,
      cacheMaxAge: opts.cacheMaxAgeMs,
      cooldownDuration: opts.cooldownMs,
    });
  };
  return async (header, token) => {
    keys ??= load().catch((err: unknown) => {
      keys = undefined; // try discovery again on the next token
      throw err;
    });
    return (await keys)(header, token);
  };
}

/** OIDC when an issuer is configured, otherwise the dev secret (the env schema refuses that in production). */
export function authenticatorFromEnv(env: ApiEnv, users?: DirectoryUsers): Authenticator {
  if (env.OIDC_ISSUER) {
    const keys = issuerKeys({
      issuer: env.OIDC_ISSUER,
      jwksUrl: env.OIDC_JWKS_URL,
      cacheMaxAgeMs: env.OIDC_JWKS_CACHE_SECONDS * 1000,
      cooldownMs: env.OIDC_JWKS_COOLDOWN_SECONDS * 1000,
    });
    const identify = claimIdentifier(env.OIDC_IDENTITY_CLAIM, users);
    return oidcAuthenticator({ issuer: env.OIDC_ISSUER, audience: env.OIDC_AUDIENCE, keys, identify });
  }
  if (env.NODE_ENV === 'production') throw new Error('Development tokens are refused when NODE_ENV=production.');
  return devAuthenticator({ secret: env.GRANTFLOW_DEV_JWT_SECRET ?? DEV_DEFAULT_SECRET, audience: env.OIDC_AUDIENCE });
}

function unauthenticated(detail: string, error: 'invalid_request' | 'invalid_token' = 'invalid_token'): Problem {
  return new Problem('unauthenticated', detail, {
    headers: { 'WWW-Authenticate': `Bearer realm="grantflow", error="${error}"` },
  });
}

/** Says why a token failed without echoing it; a key server that cannot be reached is not the caller's fault. */
function tokenProblem(err: unknown): Problem {
  if (err instanceof errors.JWKSTimeout) return unavailable('The identity provider');
  if (err instanceof errors.JWTExpired) return unauthenticated('The token has expired.');
  if (err instanceof errors.JWTClaimValidationFailed) {
    return unauthenticated(`The token's "${err.claim}" claim is not acceptable.`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return unauthenticated('The token is signed with an algorithm not accepted here.');
  if (err instanceof errors.JOSEError) return unauthenticated('The token is not valid.');
  // Not a verdict on the token: the key set could not be fetched.
  return unavailable('The identity provider');
}
