import type { Attempt, Call } from './history.js';

/**
 * The longest time buyers waited with no decision anywhere: for each attempt, the longest gap
 * between the moments it was waiting across (first sent, every decision of any attempt, its own
 * decision or the end). A frozen lock that stops an event's sales shows as the freeze's length.
 */
export function longestStall(attempts: readonly Attempt[], decisionTimes: readonly number[], end: number): number {
  const times = [...decisionTimes].sort((a, b) => a - b);
  let longest = 0;
  for (const a of attempts) {
    const until = a.decidedAt ?? end;
    let last = a.firstInvokedAt;
    for (const t of times) {
      if (t <= last) continue;
      if (t >= until) break;
      longest = Math.max(longest, t - last);
      last = t;
    }
    longest = Math.max(longest, until - last);
  }
  return longest;
}

/** When clients saw decisions: every RESERVED or REJECTED answer. */
export function decisionAnswers(calls: readonly Call[]): number[] {
  return calls
    .filter((c) => c.booking?.status === 'RESERVED' || c.booking?.status === 'REJECTED')
    .map((c) => c.answeredAt);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'n/a';
}
