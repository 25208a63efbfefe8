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

/**
 * Temporal refuses a search attribute whose value is over 2 KiB (`limit.searchAttributeValueSize`, 2048 bytes by
 * default), and a refused upsert fails every workflow task of the request until the value shrinks: a resource owned by
 * a large group stalled its requests so. The keywords are kept under this budget, leaving room for the encoding.
 */
export const TAG_KEYWORDS_BUDGET = 2000;

/**
 * The tags as `GrantflowTags` keywords: `name:value` per tag, one `owner:` per owner while they fit the budget; when
 * some do not, the last keyword is `owner:+N` (N owners left out), so a filter on an owner is known to be incomplete
 * for that request, and the projection (the whole list) answers instead.
 */
export function tagKeywords(tags: RequestTags, budget = TAG_KEYWORDS_BUDGET): string[] {
  const keywords = [
    `type:${tags.type}`,
    `application:${tags.application}`,
    ...(tags.sensitivity ? [`sensitivity:${tags.sensitivity}`] : []),
    `urgency:${tags.urgency}`,
  ];
  // The JSON of a list of strings: its brackets, each item with its quotes, and a comma between two.
  let size = 1 + keywords.reduce((n, k) => n + utf8Length(JSON.stringify(k)) + 1, 0);
  const owners = tags.owners;
  const reserve = utf8Length(JSON.stringify(`owner:+${owners.length}`)) + 1;
  for (const [i, owner] of owners.entries()) {
    const keyword = `owner:${owner}`;
    const cost = utf8Length(JSON.stringify(keyword)) + 1;
    const last = i === owners.length - 1;
    if (size + cost + (last ? 0 : reserve) > budget) {
      keywords.push(`owner:+${owners.length - i}`);
      return keywords;
    }
    keywords.push(keyword);
    size += cost;
  }
  return keywords;
}

/** Bytes of a string in UTF-8 (workflow code has no Buffer). */
function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    n += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return n;
}
