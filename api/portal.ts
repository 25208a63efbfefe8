import fs from 'node:fs';
import path from 'node:path';
import express, { type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../domain';
import type { ApiEnv } from '../platform/env';
import { DEV_DEFAULT_SECRET, signDevToken } from './auth';
import { Problem } from './problem';

/** Where `npm run portal:build` writes the portal. */
export const PORTAL_DIST = path.join(__dirname, '..', 'web', 'dist');

/** How the portal signs people in; the browser reads it from /portal/config.json before anything else. */
export type PortalSignIn =
  | { mode: 'dev'; secret: string; audience: string }
  | { mode: 'oidc'; issuer: string; clientId: string; audience: string; scope: string };

export interface PortalDeps {
  config: Config;
  signIn: PortalSignIn;
  /** The built portal; default web/dist. A missing build answers 404 with how to build it. */
  distDir?: string;
}

const devTokenInput = z.object({ userId: z.string().min(1).max(64) }).strict();

/**
 * The portal's static files at `/` and its two endpoints: the sign-in configuration, and (development only) a token
 * for a picked demo user. The dev endpoint exists only when the API itself accepts dev tokens, which the environment
 * schema refuses in production; in OIDC mode the route is not mounted at all.
 */
export function portalRouter(deps: PortalDeps): Router {
  const router = express.Router();
  const dist = deps.distDir ?? PORTAL_DIST;
  const { signIn, config } = deps;

  router.get('/portal/config.json', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    if (signIn.mode === 'dev') {
      const users = config.directory.users
        .filter((u) => u.kind === 'human' && u.active)
        .map((u) => ({ id: u.id, name: u.name, groups: u.groups }));
      res.json({ mode: 'dev', users });
    } else {
      res.json({ mode: 'oidc', issuer: signIn.issuer, clientId: signIn.clientId, scope: signIn.scope });
    }
  });

  if (signIn.mode === 'dev') {
    router.post('/portal/dev-token', express.json({ limit: '1kb', strict: true }), async (req, res) => {
      const parsed = devTokenInput.safeParse(req.body ?? {});
      if (!parsed.success) throw new Problem('validation', 'Send {"userId": "<a directory user id>"}.');
      const user = config.users.get(parsed.data.userId);
      if (!user || user.kind !== 'human' || !user.active) {
        throw new Problem('not-found', `${parsed.data.userId} is not an active person in the directory.`);
      }
      const token = await signDevToken({
        userId: user.id,
        secret: signIn.secret,
        audience: signIn.audience,
        ttl: '8h',
      });
      res.set('Cache-Control', 'no-store').json({ token });
    });
  }

  // Hashed file names never change content, so they may be cached for good; index.html must always be fresh.
  router.use('/assets', express.static(path.join(dist, 'assets'), { immutable: true, maxAge: '365d', index: false }));
  router.get(['/', '/index.html'], (_req, res) => {
    const index = path.join(dist, 'index.html');
    if (!fs.existsSync(index)) {
      throw new Problem('not-found', 'The portal is not built: run `npm run portal:build`.');
    }
    res.set('Cache-Control', 'no-cache').sendFile(index);
  });
  return router;
}

/** The issuer's origin the browser may talk to (discovery and token endpoint), for the CSP's connect-src. */
export function connectSources(signIn: PortalSignIn | undefined): string[] {
  return signIn?.mode === 'oidc' ? ["'self'", new URL(signIn.issuer).origin] : ["'self'"];
}

/**
 * Mirrors authenticatorFromEnv: the portal offers dev sign-in exactly when the API accepts dev tokens (never in
 * production), and OIDC when an issuer is configured (with or without an explicit key set URL) and the portal has a
 * client id; otherwise there is no portal.
 */
export function portalSignInFromEnv(env: ApiEnv): PortalSignIn | undefined {
  if (env.OIDC_ISSUER) {
    if (!env.GRANTFLOW_PORTAL_CLIENT_ID) return undefined;
    return {
      mode: 'oidc',
      issuer: env.OIDC_ISSUER,
      clientId: env.GRANTFLOW_PORTAL_CLIENT_ID,
      audience: env.OIDC_AUDIENCE,
      scope: env.GRANTFLOW_PORTAL_SCOPE,
    };
  }
  if (env.NODE_ENV === 'production') return undefined;
  return { mode: 'dev', secret: env.GRANTFLOW_DEV_JWT_SECRET ?? DEV_DEFAULT_SECRET, audience: env.OIDC_AUDIENCE };
}
