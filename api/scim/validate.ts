import { ScimError } from './errors';
import type { AttributeDef } from './schema';

const MAX_STRING = 2048;

/**
 * Checks a resource body against the attribute definitions and returns it with the canonical attribute names.
 * Unknown attributes are refused (a typo must not be dropped silently); read-only ones are ignored, as RFC 7643
 * §7 says, and write-only ones dropped; `null` means absent. Accepts what real providers send: booleans as "True"/"False" strings (Entra ID)
 * and a complex attribute with a `value` sub-attribute given as its bare value (Entra ID's manager).
 */
export function normalizeAttributes(
  defs: readonly AttributeDef[],
  body: Record<string, unknown>,
  path = '',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const def = defs.find((d) => d.name.toLowerCase() === key.toLowerCase());
    const at = path ? `${path}.${key}` : key;
    if (!def) throw new ScimError(400, `Unknown attribute "${at}".`, 'invalidSyntax');
    // Write-only values (a password) are never kept: grantflow holds no credentials.
    if (def.mutability === 'readOnly' || def.mutability === 'writeOnly' || value === null || value === undefined) {
      continue;
    }
    out[def.name] = normalizeValue(def, value, at);
  }
  return out;
}

function normalizeValue(def: AttributeDef, value: unknown, at: string): unknown {
  if (def.multiValued) {
    const items = Array.isArray(value) ? value : [value];
    return items.filter((v) => v !== null).map((v, i) => normalizeSingle(def, v, `${at}[${i}]`));
  }
  if (Array.isArray(value)) throw new ScimError(400, `"${at}" takes a single value, not a list.`, 'invalidValue');
  return normalizeSingle(def, value, at);
}

function normalizeSingle(def: AttributeDef, value: unknown, at: string): unknown {
  switch (def.type) {
    case 'complex': {
      const subs = def.subAttributes ?? [];
      if (typeof value === 'string' && subs.some((s) => s.name === 'value')) return { value };
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ScimError(400, `"${at}" must be an object.`, 'invalidValue');
      }
      return normalizeAttributes(subs, value as Record<string, unknown>, at);
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      throw new ScimError(400, `"${at}" must be true or false.`, 'invalidValue');
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      throw new ScimError(400, `"${at}" must be an integer.`, 'invalidValue');
    case 'dateTime':
      if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return value;
      throw new ScimError(400, `"${at}" must be a date and time (xsd:dateTime).`, 'invalidValue');
    case 'string':
    case 'reference':
      if (typeof value !== 'string') throw new ScimError(400, `"${at}" must be a string.`, 'invalidValue');
      if (value.length > MAX_STRING) {
        throw new ScimError(400, `"${at}" is longer than ${MAX_STRING} characters.`, 'invalidValue');
      }
      return value;
  }
}
