import { useEffect, useState } from 'react';
import { ApiProblem } from '../api/client';

/** The API's own sentence for a refusal or error, announced to screen readers. */
export function ProblemText({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  const kind = error instanceof ApiProblem ? error.problem.type?.replace('urn:grantflow:problem:', '') : undefined;
  return (
    <p role="alert" className="problem" data-problem={kind}>
      {text}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return <p role="status">Loading {what}…</p>;
}

export function Badge({ value, kind }: { value: string; kind: 'status' | 'risk' | 'sensitivity' | 'decision' }) {
  return (
    <span className={`badge ${kind}-${value}`} data-testid={kind}>
      {value.replace(/_/g, ' ')}
    </span>
  );
}

/** "in 1 h 59 min": updates every second, so an expiry counts down without a reload. */
export function Countdown({ to }: { to: string }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const ms = Date.parse(to) - now;
  return (
    <time dateTime={to} title={new Date(to).toLocaleString()}>
      {ms > 0 ? `in ${span(ms)}` : `${span(-ms)} ago`}
    </time>
  );
}

export function span(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** ISO-8601 durations as people say them: P7D "7 days", PT2M "2 minutes". */
export function readableDuration(iso: string): string {
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso);
  if (!m) return iso;
  const names = ['week', 'day', 'hour', 'minute', 'second'];
  const parts = m
    .slice(1)
    .map((v, i) => (v ? `${v} ${names[i]}${v === '1' ? '' : 's'}` : ''))
    .filter(Boolean);
  return parts.join(' ') || iso;
}

export function When({ at }: { at: string }) {
  return <time dateTime={at}>{new Date(at).toLocaleString()}</time>;
}
