import { describe, expect, it } from 'vitest';
import {
  cryptoRandom,
  nextRate,
  passView,
  seededRandom,
  shuffle,
  type PassRecord,
  type RoomCounter,
} from './waiting-room.rules.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const room = (over: Partial<RoomCounter> = {}): RoomCounter => ({
  eventId: 'e',
  shuffled: true,
  closed: false,
  admittedThrough: 10,
  lastPosition: 100,
  rate: 5,
  waiting: 90,
  admitted: 10,
  at: new Date(NOW).toISOString(),
  ...over,
});
const pass = (over: Partial<PassRecord> = {}): PassRecord => ({
  eventId: 'e',
  userId: 'u',
  position: 21,
  admitted: false,
  admittedUntil: null,
  ...over,
});

describe('a pass as buyers see it', () => {
  it('waits with the places between it and the counter ahead, and an estimate at the room’s rate', () => {
    expect(passView(pass(), room(), NOW)).toMatchObject({
      state: 'WAITING',
      position: 21,
      ahead: 10,
      estimatedWaitSeconds: 3,
    });
  });

  it('has no place and no ahead before the shuffle', () => {
    expect(passView(pass({ position: null }), room({ shuffled: false }), NOW)).toMatchObject({
      state: 'WAITING',
      position: null,
      ahead: null,
    });
  });

  it('is ADMITTED until admittedUntil, then EXPIRED', () => {
    const until = new Date(NOW + 1000);
    expect(passView(pass({ admitted: true, admittedUntil: until }), room(), NOW).state).toBe('ADMITTED');
    expect(passView(pass({ admitted: true, admittedUntil: until }), room(), NOW + 1000).state).toBe('EXPIRED');
  });

  it('is CLOSED while the room is, whether waiting or admitted, and as before once it reopens', () => {
    const admitted = pass({ admitted: true, admittedUntil: new Date(NOW + 60_000) });
    expect(passView(pass(), room({ closed: true }), NOW).state).toBe('CLOSED');
    expect(passView(admitted, room({ closed: true }), NOW).state).toBe('CLOSED');
    expect(passView(admitted, room(), NOW).state).toBe('ADMITTED');
  });
});

describe('the shuffle', () => {
  it('is a permutation, the same for the same seed, different for another', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const a = shuffle(items, seededRandom(7));
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(shuffle(items, seededRandom(7))).toEqual(a);
    expect(shuffle(items, seededRandom(8))).not.toEqual(a);
  });

  it('draws from crypto randomness in [0, 1) across buffer refills, averaging one half', () => {
    const random = cryptoRandom();
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const r = random();
      expect(r >= 0 && r < 1).toBe(true);
      sum += r;
    }
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
    expect([...shuffle([1, 2, 3, 4, 5], cryptoRandom())].sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('puts every item in every place about equally often', () => {
    const counts = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    const random = seededRandom(1);
    for (let n = 0; n < 40_000; n++) shuffle([0, 1, 2, 3], random).forEach((item, place) => counts[item]![place]!++);
    for (const row of counts) for (const c of row) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });
});

describe('the derived admission rate', () => {
  const limits = { start: 100, min: 10, max: 1000, targetDecisionMs: 250 };
  it('starts at the start rate and stays while nothing is measured', () => {
    expect(nextRate(null, { decisionsPerSecond: 0, p99Ms: null }, limits)).toBe(100);
  });
  it('grows by a quarter while decisions are fast, up to the maximum', () => {
    expect(nextRate(100, { decisionsPerSecond: 90, p99Ms: 40 }, limits)).toBe(125);
    expect(nextRate(900, { decisionsPerSecond: 900, p99Ms: 40 }, limits)).toBe(1000);
  });
  it('falls to what the pipeline decided when decisions are slow, not below the minimum', () => {
    expect(nextRate(500, { decisionsPerSecond: 300, p99Ms: 900 }, limits)).toBe(300);
    expect(nextRate(500, { decisionsPerSecond: 2, p99Ms: 900 }, limits)).toBe(10);
  });
});
