import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Child processes of the benchmark (gateways, workers, the bare baseline server) and CPU/RSS
 * sampling from /proc, pidusage-style: utime+stime deltas of /proc/<pid>/stat, VmRSS of status.
 */

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux the project runs on. */
const CLK_TCK = 100;

export interface Child {
  name: string;
  pid: number;
  port: number;
  url: string;
  /** Output the child wrote to stderr (last lines), for error reports. */
  stderrTail(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago (the child binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts `node [nodeArgs] <script>` with `env` added to this process's environment, listening on
 * `port`; with `wrapper` (e.g. `['valgrind', '--tool=callgrind']`) node runs under that command,
 * which must exec it in the same process (as valgrind does), so `pid` is still node's.
 */
export function spawnNode(
  name: string,
  script: string,
  port: number,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  /** Where the child's stdout (its JSON log) goes: an open file descriptor, or nowhere. */
  stdout: 'ignore' | number = 'ignore',
  /** A command the node process runs under (e.g. valgrind), empty for none. */
  wrapper: readonly string[] = [],
): Child {
  const argv = [process.execPath, ...nodeArgs, script];
  const [command, ...args] = [...wrapper, ...argv] as [string, ...string[]];
  const child: ChildProcess = spawn(command, args, {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', stdout, 'pipe'],
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    pid: child.pid ?? -1,
    port,
    url: `http://127.0.0.1:${port}`,
    stderrTail: () => tail,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      // Unref'd: the child's handle keeps the process alive meanwhile, and a pending 15 s timer must not.
      const done = await Promise.race([exited.then(() => true), sleep(15_000, false, { ref: false })]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Waits until `GET <url><path>` answers 200, or fails with the child's stderr when it exits or times out. */
export async function waitReady(child: Child, path = '/readyz', timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${child.name} exited (code ${exitCode}) while starting:\n${child.stderrTail()}`);
    }
    try {
      const res = await fetch(`${child.url}${path}`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${child.name} not ready within ${timeoutMs} ms:\n${child.stderrTail()}`);
    }
    await sleep(100);
  }
}

interface ProcStat {
  /** CPU seconds (user + system) since the process started. */
  cpuSeconds: number;
  rssMb: number;
}

/** utime+stime and VmRSS of one process; null when it is gone. */
export function readProc(pid: number): ProcStat | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: ticks / CLK_TCK, rssMb: rssKb / 1024 };
  } catch {
    return null;
  }
}

/** Pids of processes whose command name (/proc/<pid>/comm) starts with one of `prefixes`. */
export function pidsByName(prefixes: readonly string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (prefixes.some((p) => comm.startsWith(p))) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Busy CPU seconds of the whole machine since boot (/proc/stat), to see load we did not start. */
export function machineCpu(): { busy: number } {
  try {
    // split() always yields at least one element.
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // A field missing from the line makes the figure unknown (NaN). Idle and iowait are not busy.
    const [user = NaN, nice = NaN, system = NaN, , , irq = NaN, softirq = NaN, steal = NaN] = line
      .trim()
      .split(/\s+/)
      .slice(1, 9)
      .map(Number);
    return { busy: (user + nice + system + irq + softirq + steal) / CLK_TCK };
  } catch {
    return { busy: NaN };
  }
}

/** A group of processes measured together: one app process, or every Postgres backend. */
export interface Watched {
  name: string;
  pids(): number[];
}

export interface CpuWindow {
  name: string;
  /** Average use over the window, in cores (1.0 = one core fully busy). */
  cores: number;
  cpuSeconds: number;
}

/**
 * Samples every watched group: RSS peaks continuously (every `intervalMs`), CPU as deltas between
 * `mark()` calls. For groups (Postgres) CPU of processes that exit between marks is lost; the
 * app's pooled connections live for the whole run, so the undercount is small.
 */
export class ProcSampler {
  private readonly peaks = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly watched: readonly Watched[],
    intervalMs = 250,
  ) {
    this.timer = setInterval(() => this.sampleRss(), intervalMs);
    this.timer.unref();
  }

  private sampleRss(): void {
    for (const w of this.watched) {
      const rss = this.rssOf(w);
      if (rss > (this.peaks.get(w.name) ?? 0)) this.peaks.set(w.name, rss);
    }
  }

  private rssOf(w: Watched): number {
    let rss = 0;
    for (const pid of w.pids())
      rss += pid === process.pid ? process.memoryUsage.rss() / 2 ** 20 : (readProc(pid)?.rssMb ?? 0);
    return rss;
  }

  /** RSS now per group, MB. */
  rssNow(): Record<string, number> {
    return Object.fromEntries(this.watched.map((w) => [w.name, this.rssOf(w)]));
  }

  /** Peak RSS per group since the last reset, MB. */
  rssPeaks(): Record<string, number> {
    this.sampleRss();
    return Object.fromEntries(this.watched.map((w) => [w.name, this.peaks.get(w.name) ?? 0]));
  }

  resetPeaks(): void {
    this.peaks.clear();
  }

  /** CPU seconds per group now; subtract two marks with `cpuBetween`. */
  mark(): { at: number; cpu: Map<string, Map<number, number>>; machine: { busy: number } } {
    const cpu = new Map<string, Map<number, number>>();
    for (const w of this.watched) {
      const perPid = new Map<number, number>();
      for (const pid of w.pids()) {
        if (pid === process.pid) {
          const u = process.cpuUsage();
          perPid.set(pid, (u.user + u.system) / 1e6);
        } else {
          const s = readProc(pid);
          if (s) perPid.set(pid, s.cpuSeconds);
        }
      }
      cpu.set(w.name, perPid);
    }
    return { at: performance.now(), cpu, machine: machineCpu() };
  }

  static cpuBetween(a: ReturnType<ProcSampler['mark']>, b: ReturnType<ProcSampler['mark']>): CpuWindow[] {
    const seconds = (b.at - a.at) / 1000;
    const out: CpuWindow[] = [];
    for (const [name, after] of b.cpu) {
      const before = a.cpu.get(name) ?? new Map<number, number>();
      let used = 0;
      // A process that started after `a` counts from zero.
      for (const [pid, cpu] of after) used += cpu - (before.get(pid) ?? 0);
      out.push({ name, cpuSeconds: used, cores: seconds > 0 ? used / seconds : NaN });
    }
    return out;
  }

  /** Cores the whole machine was busy between two marks (everything, ours or not). */
  static machineBetween(a: ReturnType<ProcSampler['mark']>, b: ReturnType<ProcSampler['mark']>): number {
    const seconds = (b.at - a.at) / 1000;
    return seconds > 0 ? (b.machine.busy - a.machine.busy) / seconds : NaN;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
