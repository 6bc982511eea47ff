import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startHaproxy } from '../scripts/haproxy.js';
import { createScratchDatabase, dropDatabase } from '../src/infra/database.js';
import { deleteNamespace, scratchNamespace } from '../src/infra/namespace.js';
import { freePort, pidsByName, spawnNode, waitReady, type Child, type Watched } from './processes.js';
import { parsePrometheus } from './stats.js';

/**
 * The system under test: G gateway and W worker child processes (`node dist/src/main.js`) on a
 * fresh database and namespace, or an already running system (`--url`). `stop()` leaves the
 * shared servers as they were: processes stopped, streams and keys of the namespace deleted,
 * the database dropped (only what the benchmark created itself).
 */
/**
 * Lifetime of the tokens the bench mints, long enough for every run. The systems it starts accept
 * it (JWT_TTL_SECONDS below); a system given with --url needs JWT_TTL_SECONDS at least this.
 */
export const BENCH_TOKEN_TTL_SECONDS = 6 * 3600;

export interface SystemUnderTest {
  /** Gateways' HTTP origins (http://127.0.0.1:port): the load generator balances over them. */
  gatewayOrigins: string[];
  /** Processes whose /metrics the benchmark reads (booking counters), with their role. */
  metricsTargets: { role: 'gateway' | 'worker'; url: string }[];
  namespace: string;
  databaseUrl: string;
  redisUrl: string;
  jwtSecret: string;
  /** Processes measured for CPU and RSS: the app's, the local servers', the benchmark's own. */
  watched: Watched[];
  /** App processes only (their RSS is `rssMb`). */
  appProcessNames: string[];
  /** The gateways' inspector origins (http://127.0.0.1:port), when started with `inspectGateways`. */
  gatewayInspectors: string[];
  /** Human description of what runs where, for the report. */
  description: string;
  stop(): Promise<void>;
}

interface StartOptions {
  gateways: number;
  workers: number;
  waitMs: number;
  /** Extra environment for the children (`--env K=V`), after the benchmark's own. */
  env: Record<string, string>;
  databaseUrl: string;
  redisUrl: string;
  natsUrl: string;
  /** Write a V8 CPU profile of every app process into this directory (node --cpu-prof), on exit. */
  cpuProfDir?: string;
  /** The app's built entry point (default: this checkout's dist/src/main.js); another checkout's to compare builds. */
  main?: string;
  /** A command the gateways run under (see spawnNode), e.g. valgrind; they get 10 minutes to start. */
  gatewayWrapper?: string[];
  /**
   * On the clustered engines (`--cluster`): reads from the streaming replica (`replicaUrl`, a
   * server URL: the scratch database replicates to it), every stream in `jetstreamReplicas`
   * copies, and the gateways behind HAProxy (config and log in `haproxyDir`), as `npm run cluster`.
   */
  cluster?: { replicaUrl: string; jetstreamReplicas: number; haproxyDir: string };
  /** Extra node flags of the gateways (e.g. `--inspect=127.0.0.1:port` to read their heap). */
  gatewayNodeArgs?: string[];
  /** Start each gateway with its inspector on a free port (`gatewayInspectors`), to read its heap. */
  inspectGateways?: boolean;
  log: (msg: string) => void;
}

/** Scanning /proc is cheap but not free: the pid list of a group is refreshed at most once a second. */
function cachedPids(prefixes: string[]): () => number[] {
  let at = 0;
  let pids: number[] = [];
  return () => {
    if (Date.now() - at > 1000) {
      pids = pidsByName(prefixes);
      at = Date.now();
    }
    return pids;
  };
}

function infraWatched(): Watched[] {
  return [
    { name: 'postgres (all)', pids: cachedPids(['postgres']) },
    { name: 'redis', pids: cachedPids(['redis-server']) },
    { name: 'nats', pids: cachedPids(['nats-server']) },
    { name: 'bench (load gen)', pids: () => [process.pid] },
  ];
}

export async function startSystem(opts: StartOptions): Promise<SystemUnderTest> {
  // Made here, not by the first worker, so that cleanup may drop them (see dropDatabase).
  const namespace = scratchNamespace('bench');
  const databaseUrl = await createScratchDatabase(opts.databaseUrl, namespace);
  const clusterEnv: Record<string, string> = {};
  if (opts.cluster) {
    const readUrl = new URL(opts.cluster.replicaUrl);
    readUrl.pathname = new URL(databaseUrl).pathname;
    Object.assign(clusterEnv, {
      DATABASE_READ_URL: readUrl.toString(),
      JETSTREAM_REPLICAS: String(opts.cluster.jetstreamReplicas),
      // Behind HAProxy on this machine: client addresses come from X-Forwarded-For.
      TRUSTED_PROXIES: '127.0.0.1',
    });
  }
  const jwtSecret = randomBytes(32).toString('hex');
  const main = opts.main ?? fileURLToPath(new URL('../src/main.js', import.meta.url));
  const env = (role: string, migrate: boolean): Record<string, string> => ({
    NODE_ENV: 'production',
    // The benchmark pays nothing; production refuses the simulated provider without this opt-in.
    ALLOW_SIMULATED_PAYMENTS: 'true',
    ROLE: role,
    DATABASE_URL: databaseUrl,
    REDIS_URL: opts.redisUrl,
    NATS_URL: opts.natsUrl,
    NAMESPACE: namespace,
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'warn',
    BOOKING_WAIT_MS: String(opts.waitMs),
    MIGRATE_ON_START: String(migrate),
    JWT_TTL_SECONDS: String(BENCH_TOKEN_TTL_SECONDS),
    // Every simulated buyer's socket comes from this one machine's address.
    WS_MAX_SOCKETS_PER_ADDRESS: '1000000',
    ...clusterEnv,
    ...opts.env,
  });
  const nodeArgs = (name: string) =>
    opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const gatewayInspectors: string[] = [];
  const inspectArgs = async (): Promise<string[]> => {
    if (!opts.inspectGateways) return [];
    const port = await freePort();
    gatewayInspectors.push(`http://127.0.0.1:${port}`);
    return [`--inspect=127.0.0.1:${port}`];
  };
  const spawnApp = async (name: string, role: string, migrate: boolean) =>
    spawnNode(
      name,
      main,
      await freePort(),
      env(role, migrate),
      role === 'gateway'
        ? [...nodeArgs(name), ...(opts.gatewayNodeArgs ?? []), ...(await inspectArgs())]
        : nodeArgs(name),
      'ignore',
      role === 'gateway' ? opts.gatewayWrapper : [],
    );
  const children: Child[] = [];
  let stopBalancer: (() => Promise<void>) | undefined;
  const cleanup = async () => {
    await stopBalancer?.();
    await Promise.all(children.map((c) => c.stop()));
    await deleteNamespace(namespace, opts);
    await dropDatabase(databaseUrl).catch(() => undefined);
  };
  try {
    // The first process applies the migrations; the others start after it.
    const first = await spawnApp('worker-1', 'worker', true);
    children.push(first);
    await waitReady(first);
    const rest: Child[] = [];
    for (let i = 2; i <= opts.workers; i++) rest.push(await spawnApp(`worker-${i}`, 'worker', false));
    for (let i = 1; i <= opts.gateways; i++) rest.push(await spawnApp(`gateway-${i}`, 'gateway', false));
    children.push(...rest);
    const startMs = opts.gatewayWrapper ? 600_000 : 60_000;
    await Promise.all(rest.map((c) => waitReady(c, '/readyz', startMs)));
  } catch (err) {
    await cleanup();
    throw err;
  }
  const gateways = children.filter((c) => c.name.startsWith('gateway'));
  const workers = children.filter((c) => c.name.startsWith('worker'));
  let origins = gateways.map((g) => g.url);
  if (opts.cluster) {
    try {
      const port = await freePort();
      stopBalancer = startHaproxy(opts.cluster.haproxyDir, port, gateways);
      origins = [`http://127.0.0.1:${port}`];
      await waitServing(`${origins[0]}/readyz`);
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
  opts.log(
    `system: ${gateways.length} gateway(s) ${gateways.map((g) => `:${g.port}`).join(' ')}${opts.cluster ? ` behind HAProxy ${origins[0]}` : ''}, ${workers.length} worker(s), namespace ${namespace}`,
  );
  return {
    gatewayOrigins: origins,
    metricsTargets: [
      ...gateways.map((g) => ({ role: 'gateway' as const, url: `${g.url}/metrics` })),
      ...workers.map((w) => ({ role: 'worker' as const, url: `${w.url}/metrics` })),
    ],
    namespace,
    databaseUrl,
    redisUrl: opts.redisUrl,
    jwtSecret,
    watched: [
      ...children.map((c) => ({ name: c.name, pids: () => [c.pid] })),
      ...infraWatched(),
      ...(opts.cluster ? [{ name: 'haproxy', pids: cachedPids(['haproxy']) }] : []),
    ],
    appProcessNames: children.map((c) => c.name),
    gatewayInspectors,
    description: `${gateways.length} gateway + ${workers.length} worker child processes (node ${process.version}, NODE_ENV=production, BOOKING_WAIT_MS=${opts.waitMs})${opts.cluster ? ', behind HAProxy, on a Redis Cluster (6 nodes), a NATS cluster (3 nodes, R=3) and Postgres with a streaming replica for reads' : ''}`,
    stop: cleanup,
  };
}

/** Waits until `url` answers 200 (the load balancer has found a healthy gateway). */
async function waitServing(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not serving within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** A system someone else runs: the benchmark only adds users and events to its database. */
export function attachSystem(opts: {
  url: string;
  namespace: string;
  databaseUrl: string;
  redisUrl: string;
  jwtSecret: string;
}): SystemUnderTest {
  const origin = new URL(opts.url).origin;
  return {
    gatewayOrigins: [origin],
    // A role=all process counts its gateway and worker stages on one /metrics.
    metricsTargets: [{ role: 'gateway', url: `${origin}/metrics` }],
    namespace: opts.namespace,
    databaseUrl: opts.databaseUrl,
    redisUrl: opts.redisUrl,
    jwtSecret: opts.jwtSecret,
    watched: infraWatched(),
    appProcessNames: [],
    gatewayInspectors: [],
    description: `running system at ${origin} (namespace ${opts.namespace}; app processes not measured)`,
    stop: async () => undefined,
  };
}

/** booking_attempts_total by stage and outcome, summed over the targets (gateways or workers). */
export async function bookingCounters(targets: SystemUnderTest['metricsTargets']): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    targets.map(async (t) => {
      try {
        const res = await fetch(t.url, { signal: AbortSignal.timeout(5000) });
        for (const s of parsePrometheus(await res.text())) {
          if (s.name !== 'booking_attempts_total') continue;
          const key = `${s.labels['stage']}:${s.labels['outcome']}`;
          out.set(key, (out.get(key) ?? 0) + s.value);
        }
      } catch {
        // a process without metrics counts as zero
      }
    }),
  );
  return out;
}
