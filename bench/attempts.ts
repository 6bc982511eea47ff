import type { BookingAnswer, Parsed } from './operations.js';
import { Samples, type Summary } from './stats.js';

// Outcome codes per attempt. Only PENDING, RESERVED and SOLD_OUT are told apart later; OTHER (another
// rejection, or given up after MAX_RETRIES errors) marks the attempt decided all the same.
export const PENDING = 0;
export const RESERVED = 1;
export const SOLD_OUT = 2;
const OTHER = 3;
const MAX_RETRIES = 20;

/** What the burst and the ramp both report of their attempts. */
export interface AttemptFigures {
  bookTicket: Summary;
  decision: Summary;
  /** Attempt sent → Postgres decision (see serverDecisionTimes). */
  committedDecision: Summary;
  /** Gateway began the call → Postgres decision. */
  admittedDecision: Summary;
  queuedAnswers: number;
  errors: number;
  firstError: string | undefined;
  undecided: number;
  reasons: Record<string, number>;
}

/** Every attempt of a phase: when it was sent, answered and decided (performance.now() ms), and how. */
export class Attempts {
  readonly sentAt: Float64Array;
  readonly answeredAt: Float64Array;
  readonly decidedAt: Float64Array;
  readonly outcome: Uint8Array;
  private readonly retries: Uint8Array;
  readonly reasons = new Map<string, number>();
  sent = 0;
  answered = 0;
  decided = 0;
  reserved = 0;
  queued = 0;
  errors = 0;
  firstError: string | undefined;
  private resolveAll: () => void = () => undefined;
  readonly allDecided: Promise<void>;

  constructor(readonly total: number) {
    this.sentAt = new Float64Array(total);
    this.answeredAt = new Float64Array(total);
    this.decidedAt = new Float64Array(total);
    this.outcome = new Uint8Array(total);
    this.retries = new Uint8Array(total);
    this.allDecided = new Promise((resolve) => (this.resolveAll = resolve));
    if (total === 0) this.resolveAll();
  }

  /** The first send of attempt `i` (retries keep it), at `at` (performance.now() ms). */
  markSent(i: number, at: number): void {
    if (this.sentAt[i] !== 0) return;
    this.sentAt[i] = at;
    this.sent += 1;
  }

  /** bookTicket answered (a decision or QUEUED). */
  markAnswered(i: number, at: number): void {
    if (this.answeredAt[i] === 0) this.answered += 1;
    this.answeredAt[i] = at;
  }

  decide(i: number, booking: BookingAnswer | null, at: number): void {
    if (this.outcome[i] !== PENDING) return;
    if (!booking) this.outcome[i] = OTHER;
    else if (booking.status === 'RESERVED') {
      this.outcome[i] = RESERVED;
      this.reserved += 1;
    } else {
      this.outcome[i] = booking.reason === 'SOLD_OUT' ? SOLD_OUT : OTHER;
      const reason = booking.reason ?? 'REJECTED';
      this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    }
    this.decidedAt[i] = at;
    this.decided += 1;
    if (this.decided === this.total) this.resolveAll();
  }

  /**
   * Records a bookTicket answer: a decision, or QUEUED (then `followQueued` learns the booking
   * id). Returns false when the attempt must be sent again (an error answer).
   */
  answer(i: number, parsed: Parsed, followQueued: (bookingId: string) => void): boolean {
    const now = performance.now();
    if ('error' in parsed) {
      this.error(parsed.error);
      return false;
    }
    this.markAnswered(i, now);
    if (parsed.booking.status === 'QUEUED') {
      this.queued += 1;
      followQueued(parsed.booking.id);
    } else this.decide(i, parsed.booking, now);
    return true;
  }

  error(message: string): void {
    this.errors += 1;
    this.firstError ??= message;
  }

  /** After an error answer: whether to send attempt `i` again (a client retries, with the same key, a few times). */
  retry(i: number): boolean {
    if (this.retries[i]! < MAX_RETRIES) {
      this.retries[i]! += 1;
      return true;
    }
    this.decide(i, null, performance.now());
    return false;
  }

  /** Latencies from send to `to`, for attempts that got there. */
  latencies(to: Float64Array): Summary {
    const s = new Samples(this.total);
    for (let i = 0; i < this.total; i++) if (to[i]! > 0) s.add(to[i]! - this.sentAt[i]!);
    return s.summary();
  }

  firstSent(): number {
    let min = Infinity;
    for (let i = 0; i < this.total; i++) if (this.sentAt[i]! > 0 && this.sentAt[i]! < min) min = this.sentAt[i]!;
    return min;
  }

  lastOf(arr: Float64Array, code?: number): number {
    let max = 0;
    for (let i = 0; i < this.total; i++)
      if ((code === undefined || this.outcome[i] === code) && arr[i]! > max) max = arr[i]!;
    return max;
  }
}
