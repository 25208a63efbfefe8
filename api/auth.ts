import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
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

type Verify = (token: string) => Promise<{ sub?: unknown }>;

function authenticator(verify: Verify): Authenticator {
  return {
    async authenticate(header) {
      if (!header) throw unauthenticated('Send a bearer token in the Authorization header.', 'invalid_request');
      const token = BEARER.exec(header.trim())?.[1];
      if (!token || token.length > MAX_TOKEN_LENGTH) {
        throw unauthenticated('The Authorization header must be "Bearer <token>".', 'invalid_request');
      }
      let payload: { sub?: unknown };
      try {
        payload = await verify(token);
      } catch (err) {
        throw tokenProblem(err);
      }
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw unauthenticated('The token names no subject (sub).');
      }
      return { userId: payload.sub };
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

/** Production: tokens from the OIDC issuer, checked against its published keys (asymmetric algorithms only). */
export function oidcAuthenticator(opts: { issuer: string; audience: string; keys: JWTVerifyGetKey }): Authenticator {
  return authenticator(async (token) => {
    const { payload } = await jwtVerify(token, opts.keys, {
      issuer: opts.issuer,
      audience: opts.audience,
      algorithms: ['RS256', 'ES256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    });
    return payload;
  });
}

/** OIDC when an issuer is configured, otherwise the dev secret (the env schema refuses that in production). */
export function authenticatorFromEnv(env: ApiEnv): Authenticator {
  if (env.OIDC_ISSUER && env.OIDC_JWKS_URL) {
    const keys = createRemoteJWKSet(new URL(env.OIDC_JWKS_URL), { timeoutDuration: 3000, cooldownDuration: 30_000 });
    return oidcAuthenticator({ issuer: env.OIDC_ISSUER, audience: env.OIDC_AUDIENCE, keys });
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
