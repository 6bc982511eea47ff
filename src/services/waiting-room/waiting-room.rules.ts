import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** The pure rules of the waiting room: no I/O, so they are tested on their own. */

export const QueueState = { WAITING: 'WAITING', ADMITTED: 'ADMITTED', EXPIRED: 'EXPIRED', CLOSED: 'CLOSED' } as const;
export type QueueState = (typeof QueueState)[keyof typeof QueueState];

export const WaitingRoomInput = z.object({
  opensMinutesBefore: z
    .number()
    .int()
    .min(0, { error: 'must not be negative' })
    .max(7 * 24 * 60),
  admitPerSecond: z.number().int().min(1, { error: 'must be positive' }).max(1_000_000).nullish(),
  admissionSeconds: z
    .number()
    .int()
    .min(10, { error: 'must be at least 10' })
    .max(24 * 3600),
});
export type WaitingRoomInput = z.output<typeof WaitingRoomInput>;

/** A pass as Postgres records it. */
export interface PassRecord {
  eventId: string;
  userId: string;
  position: number | null;
  admitted: boolean;
  admittedUntil: Date | null;
}

/** What a room's admission runner last said about it: the serving counter and the room's state. */
export interface RoomCounter {
  eventId: string;
  shuffled: boolean;
  closed: boolean;
  /** Every pass at or below this position has been admitted. */
  admittedThrough: number;
  lastPosition: number;
  /** Admissions per second now (the configured rate, or the one derived from the pipeline). */
  rate: number;
  waiting: number;
  admitted: number;
  /** ISO time of the runner's round. */
  at: string;
}

/** A pass as buyers see it. */
export interface PassView {
  eventId: string;
  state: QueueState;
  position: number | null;
  ahead: number | null;
  estimatedWaitSeconds: number | null;
  admittedUntil: Date | null;
}

/**
 * The pass's state from its record and the room's counter. EXPIRED and CLOSED are derived: a
 * closed room shows CLOSED on every open pass at once, and reopening shows them again as they were.
 * `ahead` counts the places between the counter and the pass (a buyer who left and joined again
 * leaves an empty place behind, counted until the counter passes it).
 */
export function passView(pass: PassRecord, room: RoomCounter | null, nowMs: number): PassView {
  const base = { eventId: pass.eventId, position: pass.position, ahead: null, estimatedWaitSeconds: null };
  const admittedUntil = pass.admittedUntil;
  if (pass.admitted && admittedUntil && admittedUntil.getTime() <= nowMs) {
    return { ...base, state: QueueState.EXPIRED, admittedUntil };
  }
  if (room?.closed) return { ...base, state: QueueState.CLOSED, admittedUntil: null };
  if (pass.admitted) return { ...base, state: QueueState.ADMITTED, admittedUntil };
  if (pass.position === null || !room) return { ...base, state: QueueState.WAITING, admittedUntil: null };
  const ahead = Math.max(0, pass.position - room.admittedThrough - 1);
  return {
    ...base,
    state: QueueState.WAITING,
    ahead,
    estimatedWaitSeconds: room.rate > 0 ? Math.ceil((ahead + 1) / room.rate) : null,
    admittedUntil: null,
  };
}

/** Whether a pass lets its buyer book now. */
export function isAdmitted(pass: PassRecord | null, nowMs: number): boolean {
  return !!pass?.admitted && !!pass.admittedUntil && pass.admittedUntil.getTime() > nowMs;
}

/** When joining opens: `opensMinutesBefore` before the sale. */
export function opensAt(saleStartsAt: Date, opensMinutesBefore: number): Date {
  return new Date(saleStartsAt.getTime() - opensMinutesBefore * 60_000);
}

/** A random number in [0, 1). */
export type Random = () => number;

/** mulberry32: a small seeded generator, so a test can fix the shuffle; production uses crypto's. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Uniform in [0, 1) from crypto randomness, 48 bits a draw (bias of floor(r * n) below n / 2^48),
 * read from a buffer refilled every 4,096 draws: shuffling a million passes is a million draws.
 */
export function cryptoRandom(): Random {
  let buffer = randomBytes(6 * 4096);
  let offset = 0;
  return () => {
    if (offset === buffer.length) {
      buffer = randomBytes(buffer.length);
      offset = 0;
    }
    const value = buffer.readUIntBE(offset, 6) / 2 ** 48;
    offset += 6;
    return value;
  };
}

/** Fisher–Yates: every order equally likely (given a uniform `random`). Returns a new array. */
export function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** How the admission rate follows the pipeline when the room has no admitPerSecond. */
export interface RateLimits {
  start: number;
  min: number;
  max: number;
  /** Admitted buyers' decisions should come within this (the p99 the rate aims for). */
  targetDecisionMs: number;
}

/**
 * The derived rate for the next round, from the current one and the pipeline's last decisions of
 * the event: it grows by a quarter while the slowest decisions (p99) stay under the target, and
 * falls to what the pipeline actually decided per second when they do not. No decisions measured
 * yet (nobody admitted has booked): unchanged.
 */
export function nextRate(
  current: number | null,
  measured: { decisionsPerSecond: number; p99Ms: number | null },
  limits: RateLimits,
): number {
  const rate = current ?? limits.start;
  const clamp = (r: number) => Math.min(limits.max, Math.max(limits.min, r));
  if (measured.p99Ms === null) return clamp(rate);
  if (measured.p99Ms <= limits.targetDecisionMs) return clamp(rate * 1.25);
  return clamp(Math.min(rate * 0.8, measured.decisionsPerSecond));
}
