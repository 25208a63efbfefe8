import { z } from 'zod';

// ISO-8601 durations limited to days, hours, minutes and seconds (no months or years, whose length varies).
const ISO_DURATION = /^P(?:(\d{1,4})D)?(?:T(?:(\d{1,5})H)?(?:(\d{1,6})M)?(?:(\d{1,7})S)?)?$/;

/** Parses an ISO-8601 duration such as `P30D`, `PT4H` or `P1DT12H` to milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = ISO_DURATION.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [, d, h, min, s] = m;
  const ms = (Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0)) * 1000;
  return ms > 0 ? ms : undefined;
}

/** Formats milliseconds back to the shortest ISO-8601 duration with days, hours, minutes and seconds. */
export function formatDuration(ms: number): string {
  let rest = Math.round(ms / 1000);
  const d = Math.floor(rest / 86400);
  rest -= d * 86400;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  if (!d && !time) return 'PT0S';
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}

/** A zod schema for a strictly parsed ISO-8601 duration string. */
export const durationSchema = z
  .string()
  .max(32)
  .refine((v) => parseDuration(v) !== undefined, {
    message: 'must be an ISO-8601 duration of days, hours, minutes or seconds, e.g. P30D or PT4H',
  });

/** Milliseconds of a duration that a schema has already validated; throws on a malformed one. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`invalid ISO-8601 duration "${text}"`);
  return ms;
}
