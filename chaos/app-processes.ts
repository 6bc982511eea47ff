import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnNode, waitReady, type Child } from '../bench/processes.js';

/**
 * The app as separate processes (`node dist/src/main.js`): gateways and workers pointed at the
 * chaos proxies, with short holds and sweeps so a sale settles within a scenario. A process that a
 * fault killed is started again on its own port, as an orchestrator would restart it.
 */
export const HOLD_SECONDS = 20;
export const SWEEP_INTERVAL_MS = 1000;

export interface AppTargets {
  databaseUrl: string;
  redisUrl: string;
  natsUrl: string;
  namespace: string;
  jwtSecret: string;
}

export interface AppProcess {
  name: string;
  role: 'gateway' | 'worker';
  port: number;
  url: string;
  child: Child;
  /** This process runs with its wall clock ten minutes ahead (chaos/skewed-clock.ts). */
  skewed: boolean;
}

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const SKEWED_CLOCK = new URL('./skewed-clock.js', import.meta.url).href;

export class AppFleet {
  readonly processes: AppProcess[] = [];
  private stopped = false;

  constructor(private readonly targets: AppTargets) {}

  private env(role: string, migrate: boolean): Record<string, string> {
    const t = this.targets;
    return {
      NODE_ENV: 'test',
      ROLE: role,
      DATABASE_URL: t.databaseUrl,
      REDIS_URL: t.redisUrl,
      NATS_URL: t.natsUrl,
      NAMESPACE: t.namespace,
      JWT_SECRET: t.jwtSecret,
      LOG_LEVEL: 'error',
      MIGRATE_ON_START: String(migrate),
      HOLD_SECONDS: String(HOLD_SECONDS),
      SWEEP_INTERVAL_MS: String(SWEEP_INTERVAL_MS),
      BOOKING_WAIT_MS: '1000',
      BOOKING_DECISION_DEADLINE_MS: '5000',
      // Buyers retry fast on purpose; the per-user rate limit is not what these scenarios test.
      BOOKING_RATE_PER_SECOND: '1000',
      WS_MAX_SOCKETS_PER_ADDRESS: '100000',
    };
  }

  /** Starts workers first (the first applies the migrations), then gateways; waits until all are ready. */
  async start(gateways: number, workers: number, skewedWorker: boolean): Promise<void> {
    const first = await this.spawn('worker-1', 'worker', true, false);
    await waitReady(first.child);
    const rest: AppProcess[] = [];
    for (let i = 2; i <= workers; i++) rest.push(await this.spawn(`worker-${i}`, 'worker', false, skewedWorker));
    for (let i = 1; i <= gateways; i++) rest.push(await this.spawn(`gateway-${i}`, 'gateway', false, false));
    await Promise.all(rest.map((p) => waitReady(p.child)));
  }

  get gateways(): AppProcess[] {
    return this.processes.filter((p) => p.role === 'gateway');
  }

  get workers(): AppProcess[] {
    return this.processes.filter((p) => p.role === 'worker');
  }

  kill9(p: AppProcess): void {
    process.kill(p.child.pid, 'SIGKILL');
  }

  freeze(p: AppProcess): void {
    process.kill(p.child.pid, 'SIGSTOP');
  }

  thaw(p: AppProcess): void {
    process.kill(p.child.pid, 'SIGCONT');
  }

  /**
   * Starts a killed process again under its name and port; its readiness waits for its
   * dependencies. Resolves with how long it took from spawn to ready (ms).
   */
  async restart(p: AppProcess): Promise<number> {
    await p.child.exited;
    // Ctrl-C may stop the fleet while a fault waits to restart a process: start nothing after.
    if (this.stopped) return 0;
    const index = this.processes.indexOf(p);
    const spawned = Date.now();
    const fresh = this.makeChild(p.name, p.role, p.port, false, p.skewed);
    this.processes[index] = { ...p, child: fresh };
    await waitReady(fresh, '/readyz', 120_000);
    return Date.now() - spawned;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.processes) {
      try {
        process.kill(p.child.pid, 'SIGCONT'); // a frozen process cannot handle SIGTERM
      } catch {
        // already gone
      }
    }
    await Promise.all(this.processes.map((p) => p.child.stop()));
  }

  private async spawn(name: string, role: 'gateway' | 'worker', migrate: boolean, skewed: boolean) {
    const port = await freePort();
    const p: AppProcess = {
      name,
      role,
      port,
      url: `http://127.0.0.1:${port}`,
      child: this.makeChild(name, role, port, migrate, skewed),
      skewed,
    };
    this.processes.push(p);
    return p;
  }

  private makeChild(name: string, role: string, port: number, migrate: boolean, skewed: boolean): Child {
    const env = this.env(role, migrate);
    // CHAOS_APP_LOGS=<dir> keeps each process's log (at CHAOS_APP_LOG_LEVEL, default warn) for a failure's story.
    const dir = process.env['CHAOS_APP_LOGS'];
    let fd: number | 'ignore' = 'ignore';
    if (dir) {
      mkdirSync(dir, { recursive: true });
      fd = openSync(join(dir, `${this.targets.namespace}-${name}.log`), 'a');
      env['LOG_LEVEL'] = process.env['CHAOS_APP_LOG_LEVEL'] ?? 'warn';
    }
    const child = spawnNode(name, MAIN, port, env, skewed ? ['--import', SKEWED_CLOCK] : [], fd);
    if (typeof fd === 'number') closeSync(fd);
    return child;
  }
}
