// PostgreSQL keeps no NUL in text or jsonb, and no unpaired surrogate in jsonb (UTF-8 cannot spell one). The API
// refuses both at its edge; a message that reaches a workflow another way (an operator's signal) must still not jam
// bookkeeping, which retries until it succeeds: such characters are written as U+FFFD instead.
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const UNSTORABLE = /[\u0000\p{Cs}]/gu;

/** The text as PostgreSQL can keep it. */
export function storable(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/** JSON for a jsonb parameter, every string in it storable. */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? storable(v) : v));
}
