import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Infra } from '../src/infra/infra.js';
import type { BookingRecord } from '../src/infra/booking-registry.js';
import { BookingDecider } from '../src/services/booking/booking-decider.js';
import { queueBooking } from '../src/services/booking/booking-queue.js';
import { bookingIdFor } from '../src/services/booking/booking.service.js';
import { startBookingSweeper } from '../src/workers/booking.sweeper.js';
import { startBookingWorker } from '../src/workers/booking.worker.js';
import type { PeriodicWorker } from '../src/workers/periodic.js';
import { BookTicketLeanDocument, BookingDocument } from './generated/graphql.js';
import { bookingGroup } from '../src/infra/redis.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp } from './support/fixtures.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';
import { expectConsistentStock } from './support/stock-checks.js';

type Lean = { id: string; status: string; reason: string | null };

async function decided(sys: TestSystem, id: string, token: string): Promise<Lean> {
  return eventually(async () => {
    const { booking } = await gqlOk(sys.url, BookingDocument, { id }, token);
    return booking && booking.status !== 'QUEUED' ? booking : undefined;
  }, 20_000);
}

/** Every booking message was delivered and settled: none waits in the stream or for an ack. */
async function expectQueueDrained(infra: Infra) {
  const { bookings } = infra.nats.names.streams;
  await eventually(
    async () => {
      const info = await infra.nats.jsm.consumers.info(bookings, 'booking-worker');
      const stream = await infra.nats.jsm.streams.info(bookings);
      return info.num_pending + info.num_ack_pending === 0 && stream.state.messages === 0 ? true : undefined;
    },
    10_000,
    'booking queue drained',
  );
}

/** A logger whose lines the test can read, to check what a worker says (and does not say). */
function capturedLog() {
  const lines: string[] = [];
  const log = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    }),
  );
  return { log, lines };
}

describe('a booking attempt Postgres refuses, in the middle of a burst', () => {
  let sys: TestSystem;
  let admin: string;
  beforeAll(async () => {
    // Gateway only: the test queues the burst first, then runs the worker and the sweep itself.
    sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '0', BOOKING_DECISION_DEADLINE_MS: '300' });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('is rejected alone: the honest attempts are decided, its tickets go back on sale, and the sweep leaves it decided', async () => {
    const { infra, services } = sys.app;
    const event = await createEvent(sys, admin, { ticketsTotal: 40, maxPerUser: 2 });
    const [poisoner, lateA, lateB, ...honest] = await createBuyers(sys, 39);
    const book = (buyer: { token: string }, key: string, quantity = 1) =>
      gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, quantity, idempotencyKey: key }, buyer.token);

    const first = await Promise.all(honest.slice(0, 18).map((b) => book(b, 'burst')));
    // Below the gateway, as the gateway records and queues an attempt: a NUL byte in its key,
    // which Postgres refuses in a text column. It asks for 2 tickets, which the Redis gate grants.
    const poison: BookingRecord = {
      bookingId: bookingIdFor(poisoner!.id, 'evil\u0000key'),
      userId: poisoner!.id,
      eventId: event.id,
      quantity: 2,
      idempotencyKey: 'evil\u0000key',
      requestedAt: new Date().toISOString(),
      status: 'QUEUED',
      reason: null,
      orderId: null,
    };
    const admitted = await services.registry.admit(
      poison,
      { limit: 10, windowMs: 1000 },
      sys.config.booking.decisionDeadlineMs,
    );
    expect(admitted.outcome).toBe('new');
    await queueBooking(infra.nats, poison, poison.bookingId);
    const second = await Promise.all(honest.slice(18).map((b) => book(b, 'burst')));
    const queued = [...first, ...second].map((r) => r.bookTicket);
    expect(queued.every((b) => b.status === 'QUEUED')).toBe(true);

    const { log, lines } = capturedLog();
    const worker = await startBookingWorker({ ...infra, log }, services.decider, services.registry, {
      maxBatch: 500,
    });
    // Started once everything is decided: earlier, it would rightly queue again what waits past its deadline.
    let sweeper: PeriodicWorker | undefined;
    try {
      // 36 honest tickets + 2 for the poison fit in 40: every honest attempt is reserved.
      const results = await Promise.all(queued.map((b, i) => decided(sys, b.id, honest[i]!.token)));
      expect(results.map((r) => r.status)).toEqual(queued.map(() => 'RESERVED'));
      const rejected = await decided(sys, poison.bookingId, poisoner!.token);
      expect(rejected).toMatchObject({ status: 'REJECTED', reason: null });
      await expectQueueDrained(infra);

      // Exact afterwards, and the poison's 2 tickets are back on sale in Redis too.
      const state = await expectConsistentStock(sys, event.id);
      expect(state.held).toBe(36);
      expect(state.pgAvailable).toBe(4);
      expect(state.heldByUser[poisoner!.id]).toBeUndefined();
      // Nothing left pending for the sweep.
      expect(await services.registry.overdue(1000, 3_600_000)).toEqual([]);
      // One warning names the refused attempt, without its key.
      const refusals = lines.filter((l) => l.includes('refused by Postgres'));
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toContain(poison.bookingId);
      expect(lines.some((l) => l.includes('evil'))).toBe(false);

      // Past its decision deadline, sweeps do not queue it (or anything) again.
      const { bookings } = infra.nats.names.streams;
      const lastSeq = (await infra.nats.jsm.streams.info(bookings)).state.last_seq;
      await eventually(() => (Date.now() > Date.parse(poison.requestedAt) + 1000 ? true : undefined));
      sweeper = startBookingSweeper(infra, services.registry);
      await sweeper.runNow();
      await sweeper.runNow();
      expect((await infra.nats.jsm.streams.info(bookings)).state.last_seq).toBe(lastSeq);
      expect(await services.registry.get(poison.userId, poison.bookingId)).toMatchObject({
        status: 'REJECTED',
        reason: null,
      });
      expect((await services.registry.get(poison.userId, poison.bookingId))?.republished).toBeUndefined();
      // Even a sweep that read it as QUEUED just before the worker's decision cannot undo it.
      expect(
        await services.registry.postpone({ group: bookingGroup(poison.userId), bookingId: poison.bookingId }, 0),
      ).toBe(0);
      expect(await services.registry.get(poison.userId, poison.bookingId)).toMatchObject({
        status: 'REJECTED',
        reason: null,
      });

      // A copy delivered later (a retry, a re-publish) gets the same answer and takes nothing.
      await queueBooking(infra.nats, poison, `${poison.bookingId}:copy`);
      await eventually(async () => {
        const info = await infra.nats.jsm.consumers.info(bookings, 'booking-worker');
        return info.delivered.stream_seq > lastSeq && info.num_ack_pending === 0 ? true : undefined;
      });
      expect(await services.registry.get(poison.userId, poison.bookingId)).toMatchObject({
        status: 'REJECTED',
        reason: null,
      });
      await expectConsistentStock(sys, event.id);

      // The last 4 tickets sell to the next buyers: none is stuck in flight.
      const late = await Promise.all([book(lateA!, 'late', 2), book(lateB!, 'late', 2)]);
      const lateResults = await Promise.all(
        late.map((r, i) => decided(sys, r.bookTicket.id, [lateA!, lateB!][i]!.token)),
      );
      expect(lateResults.map((r) => r.status)).toEqual(['RESERVED', 'RESERVED']);
      const after = await expectConsistentStock(sys, event.id);
      expect(after.pgAvailable).toBe(0);
    } finally {
      await sweeper?.stop();
      await worker.stop();
    }
  });
});

describe('a booking message that fails every delivery', () => {
  let sys: TestSystem;
  let admin: string;
  beforeAll(async () => {
    sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '0', QUEUE_MAX_DELIVER: '3' });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('is dead-lettered after QUEUE_MAX_DELIVER deliveries, counted and logged once, and closed as REJECTED while the others go on', async () => {
    const { infra, services } = sys.app;
    const event = await createEvent(sys, admin, { ticketsTotal: 5, maxPerUser: 2 });
    const [doomedBuyer, ...buyers] = await createBuyers(sys, 5);
    const book = (buyer: { token: string }, key: string, quantity = 1) =>
      gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, quantity, idempotencyKey: key }, buyer.token).then(
        (r) => r.bookTicket,
      );

    const doomed = await book(doomedBuyer!, 'doomed-secret-key', 2);
    const others = await Promise.all(buyers.slice(0, 3).map((b) => book(b, 'other')));
    // Its batch fails after the Redis gate reserved its 2 tickets, on every delivery, for a
    // reason that is not its data (so no row-by-row fallback can help).
    let failures = 0;
    const decider = new BookingDecider(infra.orm, services.gate, services.catalog, 300, {
      afterGate: async (requests) => {
        if (!requests.some((r) => r.bookingId === doomed.id)) return;
        failures++;
        throw new Error('simulated fault deciding this attempt');
      },
    });
    const { log, lines } = capturedLog();
    // One message per batch, so the others do not share the doomed one's failures.
    const worker = await startBookingWorker({ ...infra, log }, decider, services.registry, { maxBatch: 1 });
    try {
      const decidedOthers = await Promise.all(others.map((b, i) => decided(sys, b.id, buyers[i]!.token)));
      expect(decidedOthers.map((b) => b.status)).toEqual(['RESERVED', 'RESERVED', 'RESERVED']);

      const { deadLetters } = infra.nats.names.streams;
      await eventually(
        async () => ((await infra.nats.jsm.streams.info(deadLetters)).state.messages === 1 ? true : undefined),
        20_000,
        'dead letter',
      );
      const letter = await infra.nats.jsm.streams.getMessage(deadLetters, {
        last_by_subj: infra.nats.names.jobs.deadLetter('booking-worker'),
      });
      expect(letter?.json<{ bookingId: string }>().bookingId).toBe(doomed.id);
      expect(letter?.header.get('Dead-Letter-Subject')).toBe(infra.nats.names.jobs.bookingRequested(event.id));
      expect(letter?.header.get('Dead-Letter-Deliveries')).toBe('3');
      expect(letter?.header.get('Dead-Letter-Reason')).toContain('simulated fault');
      expect(letter?.header.get('Dead-Letter-Original-Nats-Msg-Id')).toBe(doomed.id);
      expect(failures).toBe(3);
      // Counted and logged once it is terminated, just after the copy is stored.
      const exhausted = async () =>
        (await infra.metrics.queueDeadLetters.get()).values.find(
          (v) => v.labels.consumer === 'booking-worker' && v.labels.cause === 'exhausted',
        )?.value;
      expect(await eventually(exhausted)).toBe(1);

      // Closed as a decision: REJECTED in Postgres and Redis, its 2 tickets given back.
      expect(await decided(sys, doomed.id, doomedBuyer!.token)).toMatchObject({ status: 'REJECTED', reason: null });
      const [row] = await infra.orm.em
        .fork()
        .execute<{ status: string }[]>('select status from bookings where id = ?', [doomed.id]);
      expect(row?.status).toBe('REJECTED');
      await expectQueueDrained(infra);
      const state = await expectConsistentStock(sys, event.id);
      expect(state.pgAvailable).toBe(2);

      // One error line for the dead letter, and no line carries the message's payload.
      expect(lines.filter((l) => l.includes('dead-lettered'))).toHaveLength(1);
      expect(lines.some((l) => l.includes('doomed-secret-key'))).toBe(false);

      // The consumer goes on: the tickets it gave back sell to the next buyer.
      const next = await book(buyers[3]!, 'next', 2);
      expect((await decided(sys, next.id, buyers[3]!.token)).status).toBe('RESERVED');
      expect((await expectConsistentStock(sys, event.id)).pgAvailable).toBe(0);
      expect(failures).toBe(3);
    } finally {
      await worker.stop();
    }
  });

  it('dead-letters a malformed message at once, counted, without its body in the log', async () => {
    const { infra, services } = sys.app;
    const { log, lines } = capturedLog();
    const worker = await startBookingWorker({ ...infra, log }, services.decider, services.registry, { maxBatch: 10 });
    try {
      const subject = infra.nats.names.jobs.bookingRequested('00000000-0000-4000-8000-000000000000');
      await infra.nats.js.publish(subject, '{"bookingId": "not-a-uuid", "secret": "malformed-secret"}');
      const { deadLetters } = infra.nats.names.streams;
      const letter = await eventually(
        () =>
          infra.nats.jsm.streams
            .getMessage(deadLetters, { last_by_subj: infra.nats.names.jobs.deadLetter('booking-worker') })
            .then((m) => (m?.header.get('Dead-Letter-Reason') === 'malformed message' ? m : undefined)),
        10_000,
        'malformed dead letter',
      );
      expect(letter.header.get('Dead-Letter-Subject')).toBe(subject);
      expect(letter.header.get('Dead-Letter-Deliveries')).toBe('1');
      expect(letter.string()).toContain('malformed-secret');
      // Counted and logged once it is terminated, just after the copy is stored.
      const malformed = async () =>
        (await infra.metrics.queueDeadLetters.get()).values.find(
          (v) => v.labels.consumer === 'booking-worker' && v.labels.cause === 'malformed',
        )?.value;
      expect(await eventually(malformed)).toBe(1);
      expect(lines.filter((l) => l.includes('dead-lettered'))).toHaveLength(1);
      expect(lines.some((l) => l.includes('malformed-secret'))).toBe(false);
      await expectQueueDrained(infra);
    } finally {
      await worker.stop();
    }
  });
});
