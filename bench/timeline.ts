import type { Ctx } from './context.js';
import { ProcSampler, type CpuWindow } from './processes.js';
import { group, round, table } from './stats.js';

/** What a phase cost over time: a per-second timeline, and the CPU of every process over the phase. */

export interface TimelineRow {
  /** Seconds since the phase started (end of the interval). */
  t: number;
  /** Length of the interval, seconds. */
  dt: number;
  /** Per counter: how many in this interval; per gauge: its value at the end. */
  counts: Record<string, number>;
  /** Cores used per process in this interval. */
  cpu: Record<string, number | null>;
  machineCores: number | null;
}

/** Once a second: what the clients counted and how busy each process was, to see where a phase stalls. */
export class Timeline {
  readonly rows: TimelineRow[] = [];
  private readonly t0 = performance.now();
  private prevMark: ReturnType<ProcSampler['mark']>;
  private prevCounts: Record<string, number>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sampler: ProcSampler,
    private readonly counts: () => Record<string, number>,
    private readonly gauges: () => Record<string, number> = () => ({}),
  ) {
    this.prevMark = sampler.mark();
    this.prevCounts = counts();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  private tick(): void {
    const mark = this.sampler.mark();
    const dt = (mark.at - this.prevMark.at) / 1000;
    if (dt < 0.2 && this.rows.length > 0) return; // a sliver at the end says nothing per second
    const counts = this.counts();
    this.rows.push({
      t: Math.round((mark.at - this.t0) / 100) / 10,
      dt: Math.round(dt * 1000) / 1000,
      counts: {
        ...Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v - (this.prevCounts[k] ?? 0)])),
        ...this.gauges(),
      },
      cpu: Object.fromEntries(ProcSampler.cpuBetween(this.prevMark, mark).map((c) => [c.name, round(c.cores, 2)])),
      machineCores: round(ProcSampler.machineBetween(this.prevMark, mark), 2),
    });
    this.prevMark = mark;
    this.prevCounts = counts;
  }

  stop(): TimelineRow[] {
    clearInterval(this.timer);
    this.tick();
    return this.rows;
  }
}

/**
 * The timeline as a small table (stderr): counters per second (gauges, listed in `gauges`, as
 * they are), then the cores of every process that used at least 5% of one.
 */
export function renderTimeline(rows: readonly TimelineRow[], gauges: readonly string[] = []): string {
  if (rows.length === 0) return '';
  const counters = Object.keys(rows[0]!.counts);
  const procs = Object.keys(rows[0]!.cpu).filter((name) => rows.some((r) => (r.cpu[name] ?? 0) >= 0.05));
  const head = counters.map((c) => (gauges.includes(c) ? c : `${c}/s`));
  const out: string[][] = [['t (s)', ...head, ...procs, 'machine']];
  for (const r of rows) {
    const dt = Math.max(0.001, r.dt);
    out.push([
      r.t.toFixed(1),
      ...counters.map((c) => group(Math.round((r.counts[c] ?? 0) / (gauges.includes(c) ? 1 : dt)))),
      ...procs.map((name) => (r.cpu[name] ?? 0).toFixed(2)),
      (r.machineCores ?? 0).toFixed(2),
    ]);
  }
  return table(out);
}

export interface PhaseCpu {
  phase: string;
  seconds: number;
  cpu: CpuWindow[];
  /** Cores the whole machine was busy (/proc/stat): above the sum of `cpu`, someone else was using it. */
  machineCores: number;
}

/** Measures CPU of every watched process over `fn`. */
export async function withCpu<T>(ctx: Ctx, phase: string, cpu: PhaseCpu[], fn: () => Promise<T>): Promise<T> {
  const a = ctx.sampler.mark();
  try {
    return await fn();
  } finally {
    const b = ctx.sampler.mark();
    cpu.push({
      phase,
      seconds: (b.at - a.at) / 1000,
      cpu: ProcSampler.cpuBetween(a, b),
      machineCores: ProcSampler.machineBetween(a, b),
    });
  }
}
