import { resolvePrincipals } from './approvers';
import type { Config } from './config';
import type { Evaluation, RequestInput, Sensitivity } from './model';

/*
 * The tags every request carries for routing, reporting and the Temporal UI's filters. Pure: the workflow computes
 * them from its input and its evaluation, and the projection and search attributes take them from the view.
 */

export type RequestType = 'new' | 'extension' | 'break-glass' | 'exception' | 'birthright';
export type Urgency = 'emergency' | 'normal';

export interface RequestTags {
  type: RequestType;
  /** The resource (application) the entitlement belongs to. */
  application: string;
  sensitivity?: Sensitivity;
  urgency: Urgency;
  /** The resource's owners, resolved to people. */
  owners: string[];
}

/**
 * Tags a request. `origin` says what started it: a person asking, an extension of a live grant, or a birthright
 * rule for a joiner. Break-glass outranks everything (it is the emergency); an accepted exception outranks the
 * origin, since it is what reporting must find.
 */
export function requestTags(
  input: RequestInput,
  evaluation: Evaluation | undefined,
  config: Config,
  origin: 'request' | 'extension' | 'birthright' = 'request',
): RequestTags {
  const entitlement = config.entitlements.get(input.entitlement);
  const exception = evaluation?.valid === true && evaluation.plan.kind === 'stages' && !!evaluation.plan.exception;
  const type: RequestType = input.breakGlass
    ? 'break-glass'
    : exception
      ? 'exception'
      : origin === 'request'
        ? 'new'
        : origin;
  return {
    type,
    application: entitlement?.resource.id ?? input.entitlement.split(':')[0] ?? '',
    ...(entitlement && { sensitivity: entitlement.sensitivity }),
    urgency: input.breakGlass ? 'emergency' : 'normal',
    owners: entitlement ? resolvePrincipals(config, entitlement.resource.owners) : [],
  };
}
