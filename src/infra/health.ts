/**
 * Knows whether Postgres, Redis and NATS answer. A background probe keeps a cached verdict that the
 * hot path can read with no I/O (so bookTicket refuses to sell while a dependency is down), and
 * `/readyz` asks for a fresh check.
 */
export const DEPENDENCIES = ['postgres', 'redis', 'nats'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];
export type Probe = () => Promise<unknown>;
export type HealthReport = Record<Dependency, { up: boolean; error?: string }>;

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
  private readonly timeoutsInARow: Record<Dependency, number> = { postgres: 0, redis: 0, nats: 0 };

  constructor(
    private readonly probes: Record<Dependency, Probe>,
    private readonly intervalMs = 1000,
    private readonly probeTimeoutMs = PROBE_TIMEOUT_MS,
  ) {
    this.report = { postgres: { up: true }, redis: { up: true }, nats: { up: true } };
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

  down(): Dependency[] {
    return DEPENDENCIES.filter((d) => !this.report[d].up);
  }

  /** Marks a dependency down at once when a caller saw it fail; the next probe may clear it. */
  reportFailure(dep: Dependency, error: unknown): void {
    this.report = { ...this.report, [dep]: { up: false, error: errorMessage(error) } };
  }

  async check(): Promise<HealthReport> {
    const entries = await Promise.all(
      DEPENDENCIES.map(async (dep) => {
        try {
          await withTimeout(this.probes[dep](), this.probeTimeoutMs);
          this.timeoutsInARow[dep] = 0;
          return [dep, { up: true }] as const;
        } catch (err) {
          const slowOnly = err instanceof ProbeTimeout && ++this.timeoutsInARow[dep] < TIMEOUTS_BEFORE_DOWN;
          return [dep, slowOnly ? this.report[dep] : { up: false, error: errorMessage(err) }] as const;
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

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
