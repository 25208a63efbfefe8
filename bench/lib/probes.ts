/**
 * Measures where a worker's time goes, from inside the worker process: each activity's wall time, each PostgreSQL
 * statement's round trip (the pool's and the postgres-role connector's clients alike), the wait for a pooled
 * connection and the set-up of new ones. Cumulative counters; the bench subtracts snapshots.
 */
import pg from 'pg';

export interface Counter {
  count: number;
  totalMs: number;
}
export type Counters = Record<string, Counter>;

export interface ProbeSnapshot {
  activities: Counters;
  statements: Counters;
  /** `pool checkout` (waiting for a pooled client) and `connect` (a new server connection). */
  connections: Counters;
  activitiesInFlight: number;
  cpuMs: number;
}

const activities: Counters = {};
const statements: Counters = {};
const connections: Counters = {};
let inFlight = 0;
let listener: ((text: string, values: unknown[] | undefined, ms: number) => void) | undefined;

/** Hears every statement with its parameters and time (the bench captures the inbox query this way). */
export function listenToStatements(fn: typeof listener): void {
  listener = fn;
}

function add(counters: Counters, key: string, ms: number): void {
  const c = (counters[key] ??= { count: 0, totalMs: 0 });
  c.count += 1;
  c.totalMs += ms;
}

/** Statements by their first words, with literals and parameters left as written (they are parameterised). */
export function statementKey(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 90 ? `${flat.slice(0, 90)}…` : flat;
}

/** Wraps every activity function to time it; names and signatures stay as they are. */
export function timeActivities<T extends object>(impl: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl)) {
    if (typeof fn !== 'function') continue;
    wrapped[name] = async (...args: unknown[]) => {
      const t0 = performance.now();
      inFlight += 1;
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } finally {
        inFlight -= 1;
        add(activities, name, performance.now() - t0);
      }
    };
  }
  return wrapped as T;
}

type Callback = (...args: unknown[]) => void;

/** Patches pg's Client and Pool prototypes once, so every connection in this process is measured. */
export function probePostgres(): void {
  const client = pg.Client.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const query = client.query as (...args: unknown[]) => unknown;
  client.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === 'string' ? first : (first as { text?: string } | undefined)?.text;
    if (!text) return query.apply(this, args);
    const t0 = performance.now();
    const values = Array.isArray(args[1]) ? (args[1] as unknown[]) : undefined;
    const done = () => {
      const ms = performance.now() - t0;
      add(statements, statementKey(text), ms);
      listener?.(text, values, ms);
    };
    // pg-pool's own `pool.query` passes a callback; grantflow's code awaits promises. Both are timed.
    const last = args.length - 1;
    const cb = args[last];
    if (last > 0 && typeof cb === 'function') {
      args[last] = (...r: unknown[]) => {
        done();
        (cb as Callback)(...r);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args);
    if (result instanceof Promise) result.then(done, done);
    return result;
  };
  const connect = client.connect as (...args: unknown[]) => unknown;
  client.connect = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    const cb = args[0];
    if (typeof cb === 'function') {
      return connect.call(this, (...r: unknown[]) => {
        add(connections, 'connect', performance.now() - t0);
        (cb as Callback)(...r);
      });
    }
    const result = connect.apply(this, args);
    if (result instanceof Promise) {
      const done = () => add(connections, 'connect', performance.now() - t0);
      result.then(done, done);
    }
    return result;
  };
  const pool = pg.Pool.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const checkout = pool.connect as (...args: unknown[]) => unknown;
  pool.connect = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    const cb = args[0];
    if (typeof cb === 'function') {
      return checkout.call(this, (...r: unknown[]) => {
        add(connections, 'pool checkout', performance.now() - t0);
        (cb as Callback)(...r);
      });
    }
    const result = checkout.apply(this, args);
    if (result instanceof Promise) {
      const done = () => add(connections, 'pool checkout', performance.now() - t0);
      result.then(done, done);
    }
    return result;
  };
}

export function snapshot(): ProbeSnapshot {
  const copy = (c: Counters) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, { ...v }]));
  const cpu = process.cpuUsage();
  return {
    activities: copy(activities),
    statements: copy(statements),
    connections: copy(connections),
    activitiesInFlight: inFlight,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}
