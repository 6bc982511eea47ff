/**
 * Knows whether Postgres, Redis and NATS answer. A background probe keeps a cached verdict that the
 * hot path can read with no I/O (so bookTicket refuses to sell while a dependency is down), and
 * `/readyz` asks for a fresh check.
 *
 * The read replica (when configured) is watched the same way but is optional: while it is down the
 * process stays ready and sells, and its reads go to the primary (see DatabaseReads).
 */
export const DEPENDENCIES = ['postgres', 'redis', 'nats'] as const;
export const OPTIONAL_DEPENDENCIES = ['postgres-replica'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];
export type OptionalDependency = (typeof OPTIONAL_DEPENDENCIES)[number];
type Watched = Dependency | OptionalDependency;
export type Probe = () => Promise<unknown>;
export type Probes = Record<Dependency, Probe> & Partial<Record<OptionalDependency, Probe>>;
type Status = { up: boolean; error?: string };
export type HealthReport = Record<Dependency, Status> & Partial<Record<OptionalDependency, Status>>;

const PROBE_TIMEOUT_MS = 1000;
/**
 * A probe that errors marks its dependency down at once; one that is merely slow must stay slow this
 * many checks in a row. Under a flash-sale load the event loop itself lags by a second at times, and
 * one late answer must not turn every booking away as UNAVAILABLE.
 */
const TIMEOUTS_BEFORE_DOWN = 3;

class ProbeTimeout extends Error {}

export class HealthMonitor {
  private report: HealthReport;
  private timer: NodeJS.Timeout | undefined;
  /** The dependencies with a probe: every required one, and the optional ones configured. */
  private readonly watched: Watched[];
  private readonly timeoutsInARow = new Map<Watched, number>();

  constructor(
    private readonly probes: Probes,
    private readonly intervalMs = 1000,
    private readonly probeTimeoutMs = PROBE_TIMEOUT_MS,
  ) {
    this.watched = [...DEPENDENCIES, ...OPTIONAL_DEPENDENCIES.filter((d) => probes[d] !== undefined)];
    // Required ones count as up until a probe says otherwise (start-up checked them); an optional
    // one is unused until its first probe passes.
    const initial = (d: Watched): Status =>
      (DEPENDENCIES as readonly string[]).includes(d) ? { up: true } : { up: false, error: 'not checked yet' };
    this.report = Object.fromEntries(this.watched.map((d) => [d, initial(d)])) as HealthReport;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The last verdict, without I/O. */
  allUp(): boolean {
    return this.report.postgres.up && this.report.redis.up && this.report.nats.up;
  }

  /** The required dependencies that are down. */
  down(): Dependency[] {
    return DEPENDENCIES.filter((d) => !this.report[d].up);
  }

  /** The optional dependencies that are configured and down: the process works without them. */
  degraded(): OptionalDependency[] {
    return OPTIONAL_DEPENDENCIES.filter((d) => this.report[d]?.up === false);
  }

  /** The last verdict on one dependency, without I/O; false for an optional one not configured. */
  isUp(dep: Watched): boolean {
    return this.report[dep]?.up === true;
  }

  /** Marks a dependency down at once when a caller saw it fail; the next probe may clear it. */
  reportFailure(dep: Watched, error: unknown): void {
    this.report = { ...this.report, [dep]: { up: false, error: errorMessage(error) } };
  }

  async check(): Promise<HealthReport> {
    const entries = await Promise.all(
      this.watched.map(async (dep) => {
        try {
          await withTimeout(this.probes[dep]!(), this.probeTimeoutMs);
          this.timeoutsInARow.set(dep, 0);
          return [dep, { up: true }] as const;
        } catch (err) {
          const timeouts = (this.timeoutsInARow.get(dep) ?? 0) + 1;
          this.timeoutsInARow.set(dep, timeouts);
          const slowOnly = err instanceof ProbeTimeout && timeouts < TIMEOUTS_BEFORE_DOWN;
          return [dep, slowOnly ? this.report[dep]! : { up: false, error: errorMessage(err) }] as const;
        }
      }),
    );
    this.report = Object.fromEntries(entries) as HealthReport;
    return this.report;
  }
}

/** Long enough for any driver's reason; a message is never a place for a dump. */
const MAX_ERROR_LENGTH = 300;

/** The reason shown on the operator port: credentials in a URL (`scheme://user:password@`) are cut out. */
function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@').slice(0, MAX_ERROR_LENGTH);
}

/**
 * Timers run before I/O in each turn of the event loop: under load the loop comes back late, and a
 * probe's timer would fire before the answer already waiting on its socket was read. The verdict
 * waits for setImmediate, which runs after that turn's I/O, so only an answer not there is late.
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      immediate = setImmediate(() => reject(new ProbeTimeout(`no answer within ${ms} ms`)));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
    clearImmediate(immediate);
  });
}
