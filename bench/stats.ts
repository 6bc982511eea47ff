/**
 * Pure helpers of the benchmark: latency samples, percentiles and the formatting of figures.
 * No I/O here, so they are unit-tested (test/bench-stats.test.ts).
 */

/**
 * The p-th percentile (0–100) of ascending `sorted` values, nearest-rank: the smallest value with
 * at least p% of the samples at or below it. NaN for no samples. Nearest-rank never invents a
 * latency that was not observed, which matters for the tail (p99 of 100 samples is the 99th).
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 100) return sorted[n - 1]!;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!;
}

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    count: n,
    mean: n ? sum / n : NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1]! : NaN,
  };
}

/** An append-only list of samples (milliseconds) in a growing typed array: no per-sample allocation. */
export class Samples {
  private data: Float64Array;
  private n = 0;

  constructor(initialCapacity = 1024) {
    this.data = new Float64Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.n;
  }

  add(value: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = value;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.n);
  }

  summary(): Summary {
    return summarize(this.values());
  }
}

/** Events per second over a window; NaN when the window is empty. */
export function rate(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : NaN;
}

/**
 * CPU µs per attempt: the CPU seconds of the named processes over a phase (gateways and workers,
 * not the load generator or the datastores) over its attempts. NaN without attempts or without
 * one of the named processes among `cpu` (a running system, whose processes are not watched).
 */
export function costPerAttemptUs(
  cpu: readonly { name: string; cpuSeconds: number }[],
  processes: readonly string[],
  attempts: number,
): number {
  const ours = cpu.filter((c) => processes.includes(c.name));
  if (attempts <= 0 || ours.length === 0) return NaN;
  return (ours.reduce((sum, c) => sum + c.cpuSeconds, 0) * 1e6) / attempts;
}

/**
 * CPU µs per attempt by number of buyers (the last run of each count wins), and each as a share of
 * the first count's: the cost per attempt at 1,000,000 buyers against 50,000.
 */
export function costByScale(runs: readonly { users: number; costPerAttemptUs: number }[]): {
  costPerAttemptUs: Record<string, number | null>;
  vsFirst: Record<string, number | null>;
} {
  const last = new Map<number, number>();
  for (const r of runs) last.set(r.users, r.costPerAttemptUs);
  const first = last.values().next().value ?? NaN;
  const costPerAttemptUs: Record<string, number | null> = {};
  const vsFirst: Record<string, number | null> = {};
  for (const [users, cost] of last) {
    costPerAttemptUs[users] = round(cost, 1);
    vsFirst[users] = round(ratio(cost, first), 3);
  }
  return { costPerAttemptUs, vsFirst };
}

/** `a / b`, NaN when either is not a positive finite number. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN;
}

/** Rounds for the JSON report: integers stay, others keep `digits` decimals; NaN becomes null. */
export function round(value: number, digits = 1): number | null {
  if (!Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** `12 345/s`, `1.2 ms`, `3.4 s`: compact human units for the table ("–" when unknown). */
export function fmtRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '–';
  return `${group(Math.round(perSecond))}/s`;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : '–';
}

export function fmtPct(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(1)}%` : '–';
}

export function group(n: number): string {
  const s = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return n < 0 ? `-${s}` : s;
}

/** A plain-text table: the first row is the header; columns are padded, numbers right-aligned. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i > 0 && /^[-\d.–]/.test(cell) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const [head, ...body] = rows;
  if (!head) return '';
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/**
 * Parses Prometheus text format into samples: `name{a="x",b="y"} 12` → { name, labels, value }.
 * Only what the benchmark reads (counters and histogram buckets); comments are skipped.
 */
export function parsePrometheus(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
