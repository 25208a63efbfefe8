/** Turns the phases' results into latest.json (one key per target), latest.md and the console table. */
import type { CapacityResult } from '../phases/capacity';
import type { HistoryResult } from '../phases/history';
import type { LatencyResult } from '../phases/latency';
import type { StormResult } from '../phases/storm';
import type { RunResult, ThroughputResult } from '../phases/throughput';
import type { Machine, Versions } from './machine';
import type { Counters } from './probes';
import { round } from './stats';

export interface Target<T> {
  /** The measured ratio or count the target is about. */
  value: number;
  unit: string;
  target: string;
  met: boolean;
  details: T;
}

export interface Results {
  generatedAt: string;
  mode: 'full' | 'quick';
  durationS: number;
  /** Phases that failed or did not run, with why. */
  problems: string[];
  machine: Machine;
  /** Load average when the run ended (the start is in machine). */
  loadAverageAtEnd: number[];
  versions: Versions;
  settings: Record<string, unknown>;
  lifecycleThroughput?: Target<ThroughputResult & { profile: Profile[] }>;
  decisionLatency?: Target<LatencyResult>;
  openRequestCapacity?: Target<CapacityResult & { maxCachedWorkflows: number }>;
  historyCost?: Target<HistoryResult>;
  expiryStorm?: Target<StormResult>;
  /** What each path of a request costs in Temporal, counted in its history (the same on any machine). */
  requestPaths?: Record<string, PathCounts>;
  skeletonShape?: HistoryResult['shapeCheck'];
  autoApprovedActivities?: Target<PathCounts>;
  autoApprovedEvents?: Target<PathCounts>;
  approvedActivities?: Target<PathCounts>;
  approvedEvents?: Target<PathCounts>;
}

export interface PathCounts {
  how: string;
  status: string;
  activities: number;
  localActivities: number;
  workflowTasks: number;
  events: number;
  timers: number;
  updates: number;
  activityTypes: Record<string, number>;
}

const COUNT_TARGETS = [
  { key: 'autoApprovedActivities', path: 'auto-approved', what: 'activities', most: 5 },
  { key: 'autoApprovedEvents', path: 'auto-approved', what: 'events', most: 40 },
  { key: 'approvedActivities', path: 'approved', what: 'activities', most: 8 },
  { key: 'approvedEvents', path: 'approved', what: 'events', most: 60 },
] as const;

/** The per-path counts, and one key per count target (issue 14): auto-approved ≤ 5 / 40, approved ≤ 8 / 60. */
export function pathTargets(
  h: HistoryResult,
): Pick<Results, 'requestPaths' | 'skeletonShape' | (typeof COUNT_TARGETS)[number]['key']> {
  const requestPaths: Record<string, PathCounts> = Object.fromEntries(
    h.paths.map((p) => [
      p.path,
      {
        how: p.how,
        status: p.status,
        activities: p.activities,
        localActivities: p.localActivities,
        workflowTasks: p.workflowTasks,
        events: p.events,
        timers: p.timers,
        updates: p.updates,
        activityTypes: p.activityTypes,
      },
    ]),
  );
  const out: Pick<Results, 'requestPaths' | 'skeletonShape' | (typeof COUNT_TARGETS)[number]['key']> = {
    requestPaths,
    skeletonShape: h.shapeCheck,
  };
  for (const t of COUNT_TARGETS) {
    const counts = requestPaths[t.path];
    if (!counts) continue;
    out[t.key] = {
      value: counts[t.what],
      unit: `${t.what} in the history of an ${t.path} request, submission to the live grant (local activities count)`,
      target: `≤ ${t.most}`,
      met: counts[t.what] <= t.most,
      details: counts,
    };
  }
  return out;
}

/** Where one run's time went, per completed request. */
export interface Profile {
  system: string;
  inFlight: number;
  perSecond: number;
  activitiesPerRequest: number;
  activityMsPerRequest: number;
  meanActivityMs: number;
  sqlStatementsPerRequest: number;
  sqlMsPerRequest: number;
  poolCheckoutMsPerRequest: number;
  newConnectionsPerRequest: number;
  cpuMsPerRequest: Record<string, number>;
  machineBusyPercent: number;
  /** Server timestamps: start → live p50, and mean queue waits and worker time per request. */
  serverToActiveP50: number;
  activityQueueMs: number;
  activityRunMs: number;
  taskQueueMs: number;
  taskRunMs: number;
  activities: { name: string; perRequest: number; meanMs: number }[];
  topStatements: { statement: string; perRequest: number; meanMs: number; msPerRequest: number }[];
}

const total = (c: Counters, field: 'count' | 'totalMs') => Object.values(c).reduce((s, x) => s + x[field], 0);

export function profileOf(run: RunResult): Profile {
  const n = run.completions || Number.NaN;
  const { activities, statements, connections } = run.worker;
  const activityCount = total(activities, 'count');
  const activityMs = total(activities, 'totalMs');
  return {
    system: run.system,
    inFlight: run.inFlight,
    perSecond: round(run.perSecond),
    activitiesPerRequest: round(activityCount / n),
    activityMsPerRequest: round(activityMs / n),
    meanActivityMs: round(activityMs / activityCount),
    sqlStatementsPerRequest: round(total(statements, 'count') / n),
    sqlMsPerRequest: round(total(statements, 'totalMs') / n),
    poolCheckoutMsPerRequest: round((connections['pool checkout']?.totalMs ?? 0) / n),
    newConnectionsPerRequest: round((connections.connect?.count ?? 0) / n),
    cpuMsPerRequest: Object.fromEntries(Object.entries(run.cpuMsPerCompletion).map(([k, v]) => [k, round(v)])),
    machineBusyPercent: round(run.machineBusyPercent),
    serverToActiveP50: round(run.server.toActiveMs.p50),
    activityQueueMs: round(run.server.activityQueueMs),
    activityRunMs: round(run.server.activityRunMs),
    taskQueueMs: round(run.server.taskQueueMs),
    taskRunMs: round(run.server.taskRunMs),
    activities: Object.entries(activities)
      .map(([name, c]) => ({ name, perRequest: round(c.count / n), meanMs: round(c.totalMs / c.count) }))
      .sort((a, b) => b.perRequest * b.meanMs - a.perRequest * a.meanMs),
    topStatements: Object.entries(statements)
      .map(([statement, c]) => ({
        statement,
        perRequest: round(c.count / n),
        meanMs: round(c.totalMs / c.count),
        msPerRequest: round(c.totalMs / n),
      }))
      .sort((a, b) => b.msPerRequest - a.msPerRequest)
      .slice(0, 8),
  };
}

const f = (x: number | undefined, digits = 3) =>
  x === undefined || !Number.isFinite(x) ? 'n/a' : String(round(x, digits));
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${round(x, 3)} ms`);
const yes = (met: boolean | undefined) => (met === undefined ? 'not run' : met ? 'yes' : '**no**');

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function summaryRows(r: Results): string[][] {
  const rows: string[][] = [];
  const t = r.lifecycleThroughput;
  if (t) {
    for (const l of t.details.levels) {
      rows.push([
        `throughput, ${l.inFlight} in flight`,
        `${f(l.grantflow.perSecond)}/s vs ${f(l.skeleton.perSecond)}/s = ${f(l.ratio)} (CPU ratio ${f(l.cpuRatio)})`,
        '≥ 0.7',
        yes(l.ratio >= 0.7),
      ]);
    }
  }
  const d = r.decisionLatency;
  if (d) {
    const { grantflow: g, skeleton: s } = d.details;
    rows.push([
      'decision → active, p50',
      `${ms(g.toActive.p50)} vs ${ms(s.toActive.p50)} = ${f(d.details.p50Ratio)}`,
      '≤ 1.5',
      yes(d.details.p50Ratio <= 1.5),
    ]);
    rows.push([
      'decision → active, p99',
      `${ms(g.toActive.p99)} vs ${ms(s.toActive.p99)} = ${f(d.details.p99Ratio)}`,
      '≤ 1.5',
      yes(d.details.p99Ratio <= 1.5),
    ]);
  }
  const c = r.openRequestCapacity;
  if (c) {
    const cp = c.details.checkpoints;
    const first = cp[0];
    const last = cp[cp.length - 1];
    rows.push([
      'open requests reached',
      `${c.details.reached} of ${c.details.target}`,
      `${c.details.target}`,
      yes(c.details.reached >= c.details.target),
    ]);
    rows.push([
      `inbox p50 at ${last?.open ?? '?'} vs at ${first?.open ?? '?'} open`,
      `${ms(last?.inboxMs.p50)} vs ${ms(first?.inboxMs.p50)} = ${f(c.details.inboxP50Ratio)} (p99 ${f(c.details.inboxP99Ratio)})`,
      '≤ 2',
      yes(c.details.inboxP50Ratio <= 2),
    ]);
    rows.push([
      'worker RSS',
      `${f(first?.workerRssMb)} MB at ${first?.open ?? '?'}, ${f(last?.workerRssMb)} MB at ${last?.open ?? '?'}, max ${f(c.details.workerMaxRssMb)} MB`,
      `bounded (maxCachedWorkflows ${c.details.maxCachedWorkflows})`,
      '—',
    ]);
  }
  const st = r.expiryStorm;
  if (st) {
    const d = st.details;
    rows.push([
      `expiry storm: ${d.grants} grants ending together`,
      `${ms(d.stormMs)} first expiry → last revoke vs ${ms(d.single.p50)} a lone one = ${f(d.ratio)}× ` +
        `(${d.revokedAtTarget} revoked, ≤ ${d.maxInFlightAtTarget} at the target at once)`,
      `≤ ${f(d.allowedRatio)}×, all, ≤ ${d.connectorConcurrency} at once`,
      yes(st.met),
    ]);
  }
  for (const t of COUNT_TARGETS) {
    const c = r[t.key];
    if (c) rows.push([`${t.path}: ${t.what}`, String(c.value), c.target, yes(c.met)]);
  }
  if (r.requestPaths) {
    rows.push([
      'per path: activities (local) / workflow tasks / events',
      Object.entries(r.requestPaths)
        .map(([path, p]) => `${path} ${p.activities} (${p.localActivities}) / ${p.workflowTasks} / ${p.events}`)
        .join(', '),
      '—',
      '—',
    ]);
  }
  const e = r.historyCost?.details.extended;
  if (r.historyCost && e) {
    rows.push([
      `history, grant extended ${e.requested}×`,
      `${e.runs} runs, max ${e.maxEventsPerRun} events per run (${e.totalEvents} in all), ${e.applied} applied`,
      '≤ 2100 per run, all applied',
      yes(r.historyCost.met),
    ]);
  }
  return rows;
}

export function consoleTable(r: Results): string {
  const rows = [['figure', 'measured', 'target', 'met'], ...summaryRows(r)].map((row) =>
    row.map((c) => c.replace(/\*\*/g, '')),
  );
  const widths = rows[0]?.map((_, i) => Math.min(90, Math.max(...rows.map((row) => (row[i] ?? '').length)))) ?? [];
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [fmt(rows[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)].join('\n');
}

export function markdown(r: Results): string {
  const out: string[] = [];
  out.push(`# grantflow bench: ${r.mode} run of ${r.generatedAt}`);
  out.push('');
  out.push(
    `Written by \`npm run bench${r.mode === 'quick' ? ' -- --quick' : ''}\` in ${Math.round(r.durationS)} s. ` +
      'Every target is a ratio of two measurements taken in this run on this machine (or a count); absolute times ' +
      'are for context only. See [README.md](../README.md) for what each figure means.',
  );
  out.push('');
  out.push(
    `Machine: ${r.machine.os}, ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB; load average ` +
      `${r.machine.loadAverage.join(' / ')} at the start, ${r.loadAverageAtEnd.join(' / ')} at the end (the machine is shared). ` +
      `Node ${r.versions.node}; ${r.versions.temporalCli.split('\n')[0]}; ${r.versions.postgres}; ` +
      `@temporalio/* ${r.versions.packages['@temporalio/worker']}; commit ${r.versions.commit}` +
      (r.versions.uncommitted ? ` plus ${r.versions.uncommitted} uncommitted files` : '') +
      '.',
  );
  if (r.problems.length) {
    out.push('');
    out.push('**Problems in this run:**');
    for (const p of r.problems) out.push(`- ${p}`);
  }
  out.push('');
  out.push('## Results');
  out.push('');
  out.push(table(['figure', 'measured', 'target', 'met'], summaryRows(r)));

  const t = r.lifecycleThroughput;
  if (t) {
    out.push('');
    out.push('## Lifecycle throughput');
    out.push('');
    out.push(
      'Closed loop over HTTP: submit an auto-approved `github:member`, wait until the workflow says `active`, repeat. ' +
        `Each run: a warm-up until every client has finished a request (at least ${r.settings.warmupS} s), then ` +
        `${r.settings.windowS} s measured; order ${r.settings.order} per level. The CPU ratio is the skeleton's CPU per ` +
        "request over grantflow's, all processes of the stack together: the throughput ratio a CPU-bound machine of " +
        "one's own would give, much less sensitive to other people's load than completions per second.",
    );
    out.push('');
    out.push(
      table(
        [
          'in flight',
          'poll',
          'grantflow /s',
          'skeleton /s',
          'ratio',
          'CPU ms per request, grantflow / skeleton',
          'CPU ratio',
          'grantflow p50 / p99',
          'skeleton p50 / p99',
        ],
        t.details.levels.map((l) => [
          l.inFlight,
          `${l.pollMs} ms`,
          f(l.grantflow.perSecond),
          f(l.skeleton.perSecond),
          f(l.ratio),
          `${f(l.cpuMsPerRequest.grantflow)} / ${f(l.cpuMsPerRequest.skeleton)}`,
          f(l.cpuRatio),
          `${ms(l.grantflow.latencyP50)} / ${ms(l.grantflow.latencyP99)}`,
          `${ms(l.skeleton.latencyP50)} / ${ms(l.skeleton.latencyP99)}`,
        ]),
      ),
    );
    const errors = t.details.runs.filter((x) => x.errors > 0);
    if (errors.length) {
      out.push('');
      for (const e of errors) out.push(`- ${e.system} at ${e.inFlight}: ${e.errors} errors, first: ${e.firstError}`);
    }
    out.push('');
    out.push('### Where the time goes, per completed request');
    out.push('');
    out.push(
      'CPU milliseconds per request by process (from /proc), worker-side activity and SQL time (measured inside ' +
        'the worker process), one row per run.',
    );
    out.push('');
    const groups = [...new Set(t.details.profile.flatMap((p) => Object.keys(p.cpuMsPerRequest)))];
    out.push(
      table(
        [
          'run',
          '/s',
          ...groups.map((g) => `CPU ${g}`),
          'machine busy',
          'activities',
          'activity ms',
          'SQL stmts',
          'SQL ms',
          'pool wait ms',
          'new conns',
        ],
        t.details.profile.map((p) => [
          `${p.system} @${p.inFlight}`,
          f(p.perSecond),
          ...groups.map((g) => f(p.cpuMsPerRequest[g])),
          `${f(p.machineBusyPercent)} %`,
          f(p.activitiesPerRequest),
          f(p.activityMsPerRequest),
          f(p.sqlStatementsPerRequest),
          f(p.sqlMsPerRequest),
          f(p.poolCheckoutMsPerRequest),
          f(p.newConnectionsPerRequest),
        ]),
      ),
    );
    out.push('');
    out.push(
      "The same runs from the server's timestamps (sampled histories, up to 12 per run): workflow start → grant " +
        'live, and within it the summed waits in the task queues and time in the worker, per request, in ms.',
    );
    out.push('');
    out.push(
      table(
        ['run', 'start → live p50', 'activity queue', 'activity run', 'workflow task queue', 'workflow task run'],
        t.details.profile.map((p) => [
          `${p.system} @${p.inFlight}`,
          f(p.serverToActiveP50),
          f(p.activityQueueMs),
          f(p.activityRunMs),
          f(p.taskQueueMs),
          f(p.taskRunMs),
        ]),
      ),
    );
    const busiest = [...t.details.profile]
      .filter((p) => p.system === 'grantflow')
      .sort((a, b) => b.inFlight - a.inFlight)[0];
    if (busiest) {
      out.push('');
      out.push(`grantflow's activities at ${busiest.inFlight} in flight (mean wall time inside the worker):`);
      out.push('');
      out.push(
        table(
          ['activity', 'per request', 'mean ms'],
          busiest.activities.map((a) => [a.name, a.perRequest, a.meanMs]),
        ),
      );
      out.push('');
      out.push(`Its SQL statements by time per request (wall time, lock waits included):`);
      out.push('');
      out.push(
        table(
          ['statement', 'per request', 'mean ms', 'ms per request'],
          busiest.topStatements.map((s) => [`\`${s.statement}\``, s.perRequest, s.meanMs, s.msPerRequest]),
        ),
      );
    }
  }

  const d = r.decisionLatency;
  if (d) {
    const { grantflow: g, skeleton: s } = d.details;
    out.push('');
    out.push('## Decision latency');
    out.push('');
    out.push(
      `${d.details.samples} decisions each, one at a time, alternating; the workflow is asked every ${d.details.pollMs} ms ` +
        'from the moment the decide call returns until it says `active`.',
    );
    out.push('');
    out.push(
      table(
        ['', 'decide → active p50', 'p90', 'p99', 'decide call p50', 'decide call p99'],
        [
          [
            'grantflow',
            ms(g.toActive.p50),
            ms(g.toActive.p90),
            ms(g.toActive.p99),
            ms(g.decideCall.p50),
            ms(g.decideCall.p99),
          ],
          [
            'skeleton',
            ms(s.toActive.p50),
            ms(s.toActive.p90),
            ms(s.toActive.p99),
            ms(s.decideCall.p50),
            ms(s.decideCall.p99),
          ],
          [
            'ratio',
            f(d.details.p50Ratio),
            f(g.toActive.p90 / s.toActive.p90),
            f(d.details.p99Ratio),
            f(g.decideCall.p50 / s.decideCall.p50),
            f(g.decideCall.p99 / s.decideCall.p99),
          ],
        ],
      ),
    );
    out.push('');
    out.push(
      'The activities of those requests over their whole lives, from their histories: runs per request, mean wait in ' +
        "the task queue and mean run time (the server's timestamps). After the decision grantflow runs `project` " +
        'and `provision` (the postgres-role connector) where the skeleton runs two no-ops.',
    );
    out.push('');
    const activityRows = (name: string, side: typeof g) =>
      Object.entries(side.activities).map(([activity, a]) => [
        name,
        activity,
        f(a.perRequest),
        ms(a.queueMs),
        ms(a.runMs),
      ]);
    out.push(
      table(
        ['', 'activity', 'per request', 'queue wait', 'run time'],
        [...activityRows('grantflow', g), ...activityRows('skeleton', s)],
      ),
    );
  }

  const c = r.openRequestCapacity;
  if (c) {
    out.push('');
    out.push('## Open-request capacity');
    out.push('');
    out.push(
      `Target ${c.details.target} pending at once within ${c.details.budgetS} s of submitting (stopped by: ${c.details.stoppedBy}); ` +
        `${f(c.details.submittedPerSecond)} submissions/s while filling; ${c.details.errors} errors. ` +
        `Worker maxCachedWorkflows = ${c.details.maxCachedWorkflows}; its RSS was ${f(c.details.workerRssAtStartMb)} MB ` +
        `before this phase and at most ${f(c.details.workerMaxRssMb)} MB during it.`,
    );
    out.push('');
    out.push(
      table(
        [
          'open',
          'Temporal says',
          'inbox p50',
          'inbox p99',
          'inbox SQL p50',
          'items',
          'worker RSS',
          'worker heap',
          'skeleton worker RSS',
        ],
        c.details.checkpoints.map((p) => [
          p.open,
          p.temporalPending ?? 'n/a',
          ms(p.inboxMs.p50),
          ms(p.inboxMs.p99),
          ms(p.inboxSqlMs.p50),
          p.inboxItems,
          `${f(p.workerRssMb)} MB`,
          `${f(p.workerHeapMb)} MB`,
          `${f(p.skeletonRssMb)} MB`,
        ]),
      ),
    );
    const last = c.details.checkpoints[c.details.checkpoints.length - 1];
    if (last?.plan.length) {
      out.push('');
      out.push(`The inbox query's plan at ${last.open} open:`);
      out.push('');
      out.push('```');
      out.push(...last.plan);
      out.push('```');
    }
  }

  if (r.requestPaths) {
    out.push('');
    out.push('## History cost per path');
    out.push('');
    out.push(
      table(
        [
          'path',
          'how',
          'status',
          'activities',
          'of them local',
          'workflow tasks',
          'events',
          'timers',
          'updates',
          'by type',
        ],
        Object.entries(r.requestPaths).map(([path, p]) => [
          path,
          p.how,
          p.status,
          p.activities,
          p.localActivities,
          p.workflowTasks,
          p.events,
          p.timers,
          p.updates,
          Object.entries(p.activityTypes)
            .map(([name, n]) => `${name} ${n}`)
            .join(', '),
        ]),
      ),
    );
    if (r.skeletonShape) {
      out.push('');
      out.push(
        `Skeleton shape check (activities up to the live grant): ${r.skeletonShape
          .map(
            (s) =>
              `${s.path} grantflow ${s.grantflow} / skeleton ${s.skeleton} activities ` +
              `(${s.grantflowEvents} / ${s.skeletonEvents} events)`,
          )
          .join('; ')}.`,
      );
    }
  }
  const e = r.historyCost?.details.extended;
  if (e) {
    out.push('');
    out.push(
      `A github:member grant extended ${e.requested} times (extend update, 1 s each): ${e.applied} extensions applied, ` +
        `${e.retries} retried calls, ${e.failures} failures; ${e.runs} runs of ${e.eventsPerRun.join(', ')} events ` +
        `(max ${e.maxEventsPerRun}); an extension took ${ms(e.msPerExtension.p50)} p50, ${ms(e.msPerExtension.p99)} p99.`,
    );
  }

  out.push('');
  out.push('## Settings');
  out.push('');
  out.push('```json');
  out.push(JSON.stringify(r.settings, null, 2));
  out.push('```');
  out.push('');
  return out.join('\n');
}
