/** The bench's settings: defaults for a full run (~15 min) or `--quick` (~2 min), then command-line overrides. */
export interface BenchSettings {
  mode: 'full' | 'quick';
  /** Closed-loop concurrency levels of the throughput comparison. */
  levels: number[];
  /** Seconds of each measured throughput window, after `warmupS` of unmeasured load. */
  windowS: number;
  warmupS: number;
  /** Order of the throughput runs per level: `AB` (ours, skeleton) or `ABBA` (cancels a drifting machine). */
  order: 'AB' | 'ABBA';
  /** How often a waiting client asks the workflow whether the grant is active, per concurrency level. */
  pollMs: (inFlight: number) => number;
  /** Synthetic users set aside for the throughput runs: a run stops early when they are used up. */
  throughputUsers: number;
  latencySamples: number;
  /** Inbox reads per checkpoint of the open-request phase. */
  inboxSamples: number;
  /** Requests to hold open at once, and the time allowed to submit them. */
  open: number;
  openBudgetS: number;
  /** Extensions of one grant in the history-cost phase. */
  extensions: number;
  maxCachedWorkflows: number;
  /** The expiry storm: grants that end in the same minute, the time to submit them, to revoke them all after. */
  storm: { grants: number; submitBudgetS: number; drainBudgetS: number; connectorConcurrency: number };
  /** Keep the temporary stack folder (logs, databases) after the run. */
  keep: boolean;
  /** The whole run is stopped after this many seconds, whatever it is doing. */
  deadlineS: number;
  outDir: string;
  /** The phases to run (default all), e.g. to re-measure one after a change. */
  phases: Phase[];
}

export const PHASES = ['history', 'latency', 'throughput', 'capacity', 'storm'] as const;
export type Phase = (typeof PHASES)[number];

const FULL: Omit<BenchSettings, 'outDir'> = {
  phases: [...PHASES],
  mode: 'full',
  levels: [1, 8, 32],
  windowS: 10,
  warmupS: 2,
  order: 'ABBA',
  pollMs: defaultPollMs,
  throughputUsers: 4000,
  latencySamples: 60,
  inboxSamples: 50,
  open: 10_000,
  openBudgetS: 360,
  extensions: 500,
  maxCachedWorkflows: 1000,
  storm: { grants: 1000, submitBudgetS: 210, drainBudgetS: 300, connectorConcurrency: 16 },
  keep: false,
  deadlineS: 25 * 60,
};

const QUICK: Omit<BenchSettings, 'outDir'> = {
  ...FULL,
  mode: 'quick',
  windowS: 4,
  warmupS: 1,
  order: 'AB',
  throughputUsers: 2000,
  latencySamples: 10,
  inboxSamples: 20,
  open: 300,
  openBudgetS: 25,
  // Enough to pass 2000 events once, so one continue-as-new is seen.
  extensions: 170,
  storm: { grants: 200, submitBudgetS: 60, drainBudgetS: 120, connectorConcurrency: 16 },
  deadlineS: 8 * 60,
};

/**
 * Polling is the only way to see "active" from outside; both systems are polled alike. One in flight can afford a
 * tight poll; at 32 the polls themselves would load the server, so they space out.
 */
function defaultPollMs(inFlight: number): number {
  return inFlight <= 1 ? 5 : inFlight <= 8 ? 20 : 50;
}

export const USAGE = `usage: npm run bench -- [--quick] [--open N] [--open-budget S] [--window S] [--warmup S]
       [--levels 1,8,32] [--samples N] [--extensions N] [--max-cached N] [--storm N] [--connector-concurrency N]
       [--only|--phases history,latency,throughput,capacity,storm]
       [--keep] [--out DIR]`;

export function parseArgs(argv: readonly string[], outDir: string): BenchSettings {
  const settings: BenchSettings = { ...(argv.includes('--quick') ? QUICK : FULL), outDir };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value.\n${USAGE}`);
      return v;
    };
    const count = (min: number) => {
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min) throw new Error(`${arg} must be a whole number ≥ ${min}, not "${raw}".`);
      return n;
    };
    switch (arg) {
      case '--quick':
        break;
      case '--open':
        // Above 100: the inbox is compared at 100 open and at N.
        settings.open = count(101);
        break;
      case '--open-budget':
        settings.openBudgetS = count(5);
        break;
      case '--window':
        settings.windowS = count(1);
        break;
      case '--warmup':
        settings.warmupS = count(0);
        break;
      case '--levels': {
        const raw = value();
        const levels = raw.split(',').map(Number);
        if (levels.length === 0 || levels.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) {
          throw new Error(`--levels takes whole numbers from 1 to 256 separated by commas, not "${raw}".`);
        }
        settings.levels = levels;
        break;
      }
      case '--samples':
        settings.latencySamples = count(3);
        break;
      case '--extensions':
        // 0 skips the many-extensions run (the per-path counts alone).
        settings.extensions = count(0);
        break;
      case '--storm':
        settings.storm = { ...settings.storm, grants: count(1) };
        break;
      case '--connector-concurrency':
        settings.storm = { ...settings.storm, connectorConcurrency: count(1) };
        break;
      case '--max-cached':
        settings.maxCachedWorkflows = count(0);
        break;
      case '--only':
      case '--phases': {
        const raw = value();
        const phases = raw.split(',');
        const unknown = phases.filter((p) => !(PHASES as readonly string[]).includes(p));
        if (unknown.length) throw new Error(`${arg} takes ${PHASES.join(', ')} separated by commas, not "${raw}".`);
        settings.phases = phases as Phase[];
        break;
      }
      case '--keep':
        settings.keep = true;
        break;
      case '--out':
        settings.outDir = value();
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`Unknown argument "${arg}".\n${USAGE}`);
    }
  }
  // A larger open-request budget must not be cut short by the watchdog.
  settings.deadlineS = Math.max(settings.deadlineS, settings.openBudgetS + 15 * 60);
  return settings;
}

/** `--name N` from the command line of a single-purpose bench (bench:campaign, bench:identity): a positive integer. */
export function intOption(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const i = argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : Number(argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer.`);
  return value;
}

/** The median of a non-empty list. */
export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
