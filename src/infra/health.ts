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

export class HealthMonitor {
  private report: HealthReport;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly probes: Record<Dependency, Probe>,
    private readonly intervalMs = 1000,
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
          await withTimeout(this.probes[dep](), PROBE_TIMEOUT_MS);
          return [dep, { up: true }] as const;
        } catch (err) {
          return [dep, { up: false, error: errorMessage(err) }] as const;
        }
      }),
    );
    this.report = Object.fromEntries(entries) as HealthReport;
    return this.report;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
