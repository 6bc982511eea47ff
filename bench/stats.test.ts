import { describe, expect, it } from 'vitest';
import {
  Samples,
  costByScale,
  costPerAttemptUs,
  parsePrometheus,
  percentile,
  ratio,
  round,
  summarize,
  table,
} from './stats.js';

describe('benchmark statistics', () => {
  it('takes nearest-rank percentiles: never a latency that was not observed', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 95)).toBe(95);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile([1, 2, 3], 50)).toBe(2);
    expect(percentile([10, 20], 99)).toBe(20);
    expect(percentile([7], 1)).toBe(7);
  });

  it('answers NaN for the percentile of no samples', () => {
    expect(percentile([], 50)).toBeNaN();
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.p99).toBeNaN();
  });

  it('summarizes unsorted samples: count, mean, p50, p95, p99 and max', () => {
    const values = [5, 1, 4, 2, 3];
    expect(summarize(values)).toEqual({ count: 5, mean: 3, p50: 3, p95: 5, p99: 5, max: 5 });
  });

  it('collects samples past its initial capacity without losing any', () => {
    const s = new Samples(16);
    for (let i = 1000; i >= 1; i--) s.add(i);
    expect(s.length).toBe(1000);
    expect(s.summary()).toMatchObject({ count: 1000, p50: 500, p99: 990, max: 1000 });
  });

  it('divides only positive finite figures and rounds NaN to null for JSON', () => {
    expect(ratio(10, 40)).toBe(0.25);
    expect(ratio(10, 0)).toBeNaN();
    expect(ratio(NaN, 4)).toBeNaN();
    expect(round(1.23456, 2)).toBe(1.23);
    expect(round(NaN)).toBeNull();
  });

  it('reads Prometheus counters with their labels', () => {
    const text = [
      '# HELP booking_attempts_total Booking attempts',
      '# TYPE booking_attempts_total counter',
      'booking_attempts_total{stage="gateway",outcome="SOLD_OUT"} 42',
      'booking_attempts_total{outcome="RESERVED",stage="worker"} 7',
      'process_cpu_seconds_total 1.5',
    ].join('\n');
    expect(parsePrometheus(text)).toEqual([
      { name: 'booking_attempts_total', labels: { stage: 'gateway', outcome: 'SOLD_OUT' }, value: 42 },
      { name: 'booking_attempts_total', labels: { outcome: 'RESERVED', stage: 'worker' }, value: 7 },
      { name: 'process_cpu_seconds_total', labels: {}, value: 1.5 },
    ]);
  });

  it('pads table columns and right-aligns figures', () => {
    expect(
      table([
        ['measure', 'value'],
        ['a', '1'],
        ['longer name', '100'],
      ]),
    ).toBe(['measure      value', '-----------  -----', 'a                1', 'longer name    100'].join('\n'));
  });

  it('charges only the app processes CPU to the attempts, in µs', () => {
    const cpu = [
      { name: 'gateway-1', cpuSeconds: 1.5 },
      { name: 'worker-1', cpuSeconds: 0.5 },
      { name: 'bench (load gen)', cpuSeconds: 9 },
      { name: 'postgres (all)', cpuSeconds: 3 },
    ];
    expect(costPerAttemptUs(cpu, ['gateway-1', 'worker-1'], 50_000)).toBe(40);
    expect(costPerAttemptUs(cpu, ['gateway-1', 'worker-1'], 0)).toBeNaN();
    expect(costPerAttemptUs(cpu, [], 50_000)).toBeNaN();
  });

  it('keeps the last run of each scale and compares every scale with the first', () => {
    const byScale = costByScale([
      { users: 50_000, costPerAttemptUs: 50 },
      { users: 50_000, costPerAttemptUs: 40 },
      { users: 200_000, costPerAttemptUs: 42 },
      { users: 1_000_000, costPerAttemptUs: 46 },
    ]);
    expect(byScale.costPerAttemptUs).toEqual({ '50000': 40, '200000': 42, '1000000': 46 });
    expect(byScale.vsFirst).toEqual({ '50000': 1, '200000': 1.05, '1000000': 1.15 });
    expect(costByScale([{ users: 10, costPerAttemptUs: NaN }])).toEqual({
      costPerAttemptUs: { '10': null },
      vsFirst: { '10': null },
    });
  });
});
