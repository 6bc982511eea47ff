import { setTimeout as sleep } from 'node:timers/promises';
import { PENDING, type Attempts } from './attempts.js';
import type { HttpClient, RawHeaders } from './load.js';
import { bookingPayload, parseHttpBooking } from './operations.js';

/** Concurrent booking(id) polls for attempts answered QUEUED over HTTP (each on its own connection). */
export const POLLERS = 64;

/**
 * Follows attempts answered QUEUED over HTTP: `booking(id)` with the buyer's token, each pending
 * attempt at most once per `intervalMs`, oldest first, `concurrency` polls in flight. The decision
 * time it records is when the client learned it (up to one interval late).
 */
export class QueuedPoller {
  private queue: { i: number; id: string; dueAt: number }[] = [];
  private head = 0;
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly attempts: Attempts,
    private readonly clients: HttpClient[],
    private readonly headersFor: (i: number) => RawHeaders,
    private readonly intervalMs: number,
    concurrency: number,
  ) {
    this.loops = Array.from({ length: concurrency }, (_, k) => this.loop(k));
  }

  add(i: number, bookingId: string): void {
    this.queue.push({ i, id: bookingId, dueAt: performance.now() + this.intervalMs });
  }

  private async loop(k: number): Promise<void> {
    const client = this.clients[k % this.clients.length]!;
    while (!this.stopped) {
      if (this.head >= this.queue.length) {
        await sleep(10);
        continue;
      }
      const item = this.queue[this.head++]!;
      if (this.head > 50_000) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (this.attempts.outcome[item.i] !== PENDING) continue;
      const wait = item.dueAt - performance.now();
      if (wait > 0) await sleep(wait);
      try {
        const parsed = parseHttpBooking(
          'booking',
          await client.graphql(bookingPayload(item.id), this.headersFor(item.i)),
        );
        if ('booking' in parsed && parsed.booking.status !== 'QUEUED') {
          this.attempts.decide(item.i, parsed.booking, performance.now());
          continue;
        }
        if ('error' in parsed) this.attempts.error(`booking(id): ${parsed.error}`);
      } catch (err) {
        this.attempts.error(`booking(id): ${String(err)}`);
      }
      this.queue.push({ ...item, dueAt: performance.now() + this.intervalMs });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}
