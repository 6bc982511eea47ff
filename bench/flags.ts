import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchParams } from './context.js';

/** The benchmark's command line (documented at the top of flash-sale.ts), checked before anything starts. */

const USAGE =
  'usage: npm run bench -- [--quick] [--tickets T] [--users U] [--gateways G] [--workers W] [--json out.json] … (see bench/flash-sale.ts)';

/** Default ramp connections: rate × BOOKING_WAIT_MS, between 64 and 8,000 (file descriptors). */
function rampConnectionsFor(rate: number, waitMs: number): number {
  return Math.min(8000, Math.max(64, Math.ceil((rate * waitMs) / 1000)));
}

/** A flag the benchmark cannot honour: say so and stop (status 2) before anything starts. */
function usageError(message: string): never {
  console.error(`flash-sale: ${message}\n${USAGE}`);
  process.exit(2);
}

const OPTIONS = {
  tickets: { type: 'string' },
  users: { type: 'string' },
  gateways: { type: 'string' },
  workers: { type: 'string' },
  arrival: { type: 'string' },
  'ramp-rate': { type: 'string' },
  duration: { type: 'string' },
  concurrency: { type: 'string' },
  readers: { type: 'string' },
  'reader-reads': { type: 'string' },
  'ws-sockets': { type: 'string' },
  'burst-connections': { type: 'string' },
  'ramp-connections': { type: 'string' },
  'ws-share': { type: 'string' },
  'wait-ms': { type: 'string' },
  'open-delay': { type: 'string' },
  'poll-ms': { type: 'string' },
  warmup: { type: 'string' },
  'decide-timeout': { type: 'string' },
  'naive-clients': { type: 'string' },
  runs: { type: 'string' },
  json: { type: 'string' },
  url: { type: 'string' },
  'jwt-secret': { type: 'string' },
  namespace: { type: 'string' },
  env: { type: 'string', multiple: true },
  'skip-baselines': { type: 'boolean' },
  'skip-throughput': { type: 'boolean' },
  'skip-edge': { type: 'boolean' },
  'cpu-prof': { type: 'string' },
  'heap-profile': { type: 'string' },
  quick: { type: 'boolean' },
  'waiting-room': { type: 'boolean' },
  cluster: { type: 'boolean' },
  scale: { type: 'string' },
  subscribers: { type: 'string' },
  'admit-per-second': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseFlags(args: string[] = process.argv.slice(2)) {
  let values;
  try {
    ({ values } = parseArgs({ args, options: OPTIONS, strict: true }));
  } catch (err) {
    usageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const num = (name: keyof typeof values, fallback: number, quickValue = fallback): number => {
    const raw = values[name];
    if (raw === undefined) return quick ? quickValue : fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) usageError(`--${name}: not a number: ${String(raw)}`);
    return n;
  };
  // --users takes one count or a list (50000,200000,1000000): one run per count, in the order given.
  const scales = (values.users ?? String(quick ? 1000 : 50_000)).split(',').map((raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < 1) usageError(`--users: not a whole number of buyers: ${raw}`);
    return n;
  });
  if (scales.length > 1 && values['waiting-room']) usageError('--users: one count with --waiting-room');
  const readerReads = values['reader-reads'] ?? 'get';
  if (readerReads !== 'get' && readerReads !== 'post' && readerReads !== 'edge') {
    usageError('--reader-reads: get, post or edge');
  }
  const arrival = values.arrival ?? 'both';
  if (!['both', 'burst', 'ramp'].includes(arrival)) usageError('--arrival: burst or ramp');
  // A running system (--url) has its own processes: the flags that shape the ones started here
  // would do nothing; the system's secret and namespace, on the other hand, only mean something there.
  if (values.url !== undefined) {
    const ignored = (['gateways', 'workers', 'env', 'cpu-prof', 'heap-profile'] as const).filter(
      (f) => values[f] !== undefined,
    );
    if (ignored.length) {
      usageError(`${ignored.map((f) => `--${f}`).join(', ')}: not with --url (the system runs already)`);
    }
  } else {
    const attachOnly = (['jwt-secret', 'namespace'] as const).filter((f) => values[f] !== undefined);
    if (attachOnly.length) usageError(`${attachOnly.map((f) => `--${f}`).join(', ')}: only with --url`);
  }
  // --cluster: its own engines and processes, so not with --url; --scale: the sizes it runs.
  const cluster = values.cluster ?? false;
  if (cluster && values.url !== undefined) usageError('--cluster: not with --url (it starts its own cluster)');
  if (cluster && values['waiting-room']) usageError('--cluster: not with --waiting-room');
  let scale: number[] | undefined;
  if (values.scale !== undefined) {
    if (!cluster) usageError('--scale: only with --cluster');
    if (values.gateways !== undefined || values.workers !== undefined) {
      usageError('--scale: not with --gateways or --workers (each size runs n gateways and n workers)');
    }
    scale = values.scale.split(',').map((part) => {
      const n = Number(part.trim());
      if (!Number.isInteger(n) || n < 1)
        usageError(`--scale: expected a list of process counts like 1,2,4, got ${values.scale}`);
      return n;
    });
  }
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 1) usageError(`--env: expected KEY=VALUE, got ${kv}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  // BOOKING_WAIT_MS has two spellings, --wait-ms and --env BOOKING_WAIT_MS=…: one value from here on.
  let waitMs = num('wait-ms', 2000);
  const envWait = env['BOOKING_WAIT_MS'];
  if (envWait !== undefined) {
    const n = Number(envWait);
    if (envWait.trim() === '' || !Number.isFinite(n) || n < 0) {
      usageError(`--env BOOKING_WAIT_MS: not a number: ${envWait}`);
    }
    if (values['wait-ms'] !== undefined && n !== waitMs) {
      usageError(`--wait-ms ${values['wait-ms']} and --env BOOKING_WAIT_MS=${envWait} disagree: give one`);
    }
    waitMs = n;
  }
  waitMs = Math.round(waitMs);
  const rampRate = Math.max(1, num('ramp-rate', 2000, 300));
  const params: BenchParams = {
    tickets: Math.max(1, Math.round(num('tickets', 10_000, 200))),
    users: scales[0]!,
    gateways: Math.max(1, Math.round(num('gateways', 1))),
    workers: Math.max(1, Math.round(num('workers', 1))),
    arrival: arrival as BenchParams['arrival'],
    rampRate,
    durationS: Math.max(1, num('duration', 10, 3)),
    concurrency: Math.max(1, Math.round(num('concurrency', 64, 32))),
    readers: Math.round(num('readers', 200, 20)),
    readerReads,
    wsSockets: Math.round(num('ws-sockets', 10_000)),
    burstConnections: Math.max(1, Math.round(num('burst-connections', 2000, 200))),
    // Enough that the open loop never waits for a connection: rate × the longest a bookTicket may take.
    rampConnections: Math.max(1, Math.round(num('ramp-connections', rampConnectionsFor(rampRate, waitMs)))),
    wsShare: Math.min(1, num('ws-share', 0.2)),
    throughput: !values['skip-throughput'],
    edge: !values['skip-edge'],
    openDelayS: num('open-delay', 3, 2),
    pollMs: Math.max(10, num('poll-ms', 250)),
    // At least 1 s per 1,000 buyers of the largest scale: a million take minutes to decide on this machine.
    decideTimeoutS: num('decide-timeout', Math.max(300, Math.max(...scales) / 1000), 60),
    warmupS: num('warmup', 1, 0.5),
    heapProfileDir: values['heap-profile'] === undefined ? undefined : resolve(values['heap-profile']),
  };
  return {
    params,
    quick,
    runs: Math.max(1, Math.round(num('runs', 1))),
    /** Buyers per run, one entry per scale (`--users` as a list); params.users is the run's own. */
    scales,
    waitMs,
    naiveClients: Math.max(1, Math.round(num('naive-clients', 50, 20))),
    json: values.json,
    url: values.url,
    jwtSecret: values['jwt-secret'],
    namespace: values.namespace,
    env,
    skipBaselines: values['skip-baselines'] ?? false,
    // --waiting-room: bench/waiting-room.ts instead of the runs (its own defaults: 200,000 buyers).
    waitingRoom: values['waiting-room']
      ? {
          users: values.users === undefined ? (quick ? 2000 : 200_000) : scales[0]!,
          tickets: params.tickets,
          subscribers: Math.round(num('subscribers', 2000, 200)),
          admitPerSecond: values['admit-per-second'] === undefined ? null : Math.round(num('admit-per-second', 0)),
          openAfterS: values['open-delay'] === undefined ? null : params.openDelayS,
        }
      : undefined,
    cpuProfDir: values['cpu-prof'],
    cluster,
    /** Sizes (n gateways + n workers) for --cluster; without --scale, the one of --gateways/--workers. */
    sizes: scale
      ? scale.map((n) => ({ gateways: n, workers: n }))
      : [{ gateways: params.gateways, workers: params.workers }],
  };
}

export type Flags = ReturnType<typeof parseFlags>;
