import type { RequestHandler } from 'express';
import type { Config, Identity } from '../domain';
import { RESERVED_ACTOR_IDS } from '../domain/model';
import type { RequestView } from '../workflows/messages';
import type { Authenticator } from './auth';
import { Problem } from './problem';

/** The person behind a request to the API, as the directory knows them. */
export interface Caller {
  id: string;
  identity: Identity;
  /** Members of the security, auditor and admin groups see every request. */
  seesAll: boolean;
  /** Members of the security and auditor groups read the audit trail. */
  auditor: boolean;
  /** The caller and the service accounts they own: requests for these are the caller's own. */
  own: string[];
}

/** Who a request concerns: enough to decide who may see it. */
export interface RequestSubject {
  requester: string;
  beneficiary: string;
  /** Everyone who could ever decide, review or fulfil. */
  involved: readonly string[];
}

declare module 'express-serve-static-core' {
  interface Locals {
    caller?: Caller;
  }
}

/**
 * Resolves a verified user id in the directory. Unknown ids are unauthenticated (the token names nobody we know);
 * inactive people and service accounts are authenticated but may not call: a service account's owner acts for it.
 */
export function resolveCaller(config: Config, userId: string): Caller {
  const identity = RESERVED_ACTOR_IDS.includes(userId) ? undefined : config.users.get(userId);
  if (!identity) {
    throw new Problem('unauthenticated', 'The token names nobody in the directory.', {
      headers: { 'WWW-Authenticate': 'Bearer realm="grantflow", error="invalid_token"' },
    });
  }
  if (!identity.active) throw new Problem('forbidden', `${identity.id} is no longer active.`);
  if (identity.kind !== 'human') {
    throw new Problem('forbidden', `${identity.id} is a service account; its owner uses the API on its behalf.`);
  }
  const { security, auditors, admins } = config.policy.roles;
  const groups = new Set(identity.groups);
  const auditor = [security, ...auditors].some((g) => groups.has(g));
  const owned = config.directory.users.filter((u) => u.kind === 'service' && u.owner === identity.id).map((u) => u.id);
  return {
    id: identity.id,
    identity,
    auditor,
    seesAll: auditor || admins.some((g) => groups.has(g)),
    own: [identity.id, ...owned],
  };
}

/** `config` is read per request: the directory in it follows the latest sync. */
export function authenticate(auth: Authenticator, config: () => Config): RequestHandler {
  return async (req, res, next) => {
    const { userId } = await auth.authenticate(req.headers.authorization);
    res.locals.caller = resolveCaller(config(), userId);
    next();
  };
}

export function canSee(caller: Caller, subject: RequestSubject): boolean {
  return (
    caller.seesAll ||
    subject.requester === caller.id ||
    caller.own.includes(subject.beneficiary) ||
    subject.involved.includes(caller.id)
  );
}

/** The people a view involves, as the projection's `involved` column holds them. */
export function subjectOfView(view: RequestView): RequestSubject {
  const stages = [...view.stages, ...(view.extension?.stages ?? []), ...(view.review ? [view.review] : [])];
  const involved = new Set([
    ...stages.flatMap((s) => [...s.approvers, ...s.decisions.map((d) => d.approver)]),
    ...(view.fulfilment?.fulfillers ?? []),
  ]);
  return { requester: view.requester, beneficiary: view.beneficiary, involved: [...involved] };
}
