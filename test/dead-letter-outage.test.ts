import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlsFromEnv } from '../scripts/local-services.js';
import type { StockGate } from '../src/infra/stock-gate.js';
import { BookingDecider } from '../src/services/booking/booking-decider.js';
import { startBookingSweeper } from '../src/workers/booking.sweeper.js';
import { startBookingWorker } from '../src/workers/booking.worker.js';
import type { PeriodicWorker } from '../src/workers/periodic.js';
import { BookTicketLeanDocument, BookingDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import { expectConsistentStock } from './support/stock-checks.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';
import { TcpProxy } from './support/tcp-proxy.js';

/**
 * The queue gives up on an attempt (every delivery failed) while Postgres is unreachable, and the
 * first delivery had already committed it: Postgres says RESERVED. The dead-letter path cannot ask
 * Postgres, so it must not decide (it used to record REJECTED in Redis: one key, two decisions);
 * the attempt stays QUEUED until Postgres answers, and then gets Postgres' decision.
 */
describe('a booking dead-lettered while Postgres is unreachable, after its commit', () => {
  const configured = urlsFromEnv().databaseUrl;
  let proxy: TcpProxy;
  let sys: TestSystem;
  beforeAll(async () => {
    proxy = await TcpProxy.forUrl(configured).start();
    sys = await startTestSystem({
      DATABASE_URL: proxy.rewrite(configured),
      // Gateway only: the test runs the worker and the sweep itself.
      ROLE: 'gateway',
      BOOKING_WAIT_MS: '0',
      BOOKING_DECISION_DEADLINE_MS: '300',
      QUEUE_MAX_DELIVER: '3',
    });
  });
  afterAll(async () => {
    proxy.up();
    await sys.stop();
    await proxy.stop();
  });

  it('is left undecided, then answered with the decision Postgres has once it is back', async () => {
    const { infra, services } = sys.app;
    const admin = (await signUp(sys, ADMIN_EMAIL)).token;
    const event = await createEvent(sys, admin, { ticketsTotal: 5, maxPerUser: 2 });
    const buyer = await signUp(sys);
    const { bookTicket } = await gqlOk(
      sys.url,
      BookTicketLeanDocument,
      { eventId: event.id, quantity: 2, idempotencyKey: 'committed-then-cut' },
      buyer.token,
    );
    expect(bookTicket.status).toBe('QUEUED');

    // The first batch commits, then the worker loses Postgres before it tells Redis.
    let cut = false;
    const gate = Object.create(services.gate) as StockGate;
    gate.settle = async (...args) => {
      if (!cut) {
        cut = true;
        proxy.down();
        throw new Error('connection to Postgres lost right after the commit');
      }
      return services.gate.settle(...args);
    };
    const decider = new BookingDecider(infra.orm, gate, services.catalog, 300);
    const worker = await startBookingWorker(infra, decider, services.registry, { maxBatch: 10 });
    // Started once Postgres is back: earlier, it would rightly queue again what waits past its deadline.
    let sweeper: PeriodicWorker | undefined;
    try {
      const { deadLetters, bookings } = infra.nats.names.streams;
      await eventually(
        async () => ((await infra.nats.jsm.streams.info(deadLetters)).state.messages === 1 ? true : undefined),
        30_000,
        'dead letter',
      );
      // Postgres cannot be asked, so nothing is decided: no REJECTED for an attempt Postgres reserved.
      const record = await services.registry.get(buyer.user.id, bookingId());
      expect(record?.status).toBe('QUEUED');
      expect((await services.registry.overdue(10)).map((ref) => ref.bookingId)).toContain(bookingId());
      // The message itself is gone from the work queue: dead-lettered, not left undelivered.
      await eventually(async () =>
        (await infra.nats.jsm.streams.info(bookings)).state.messages === 0 ? true : undefined,
      );

      proxy.up();
      await eventually(() => (infra.health.allUp() ? true : undefined), 15_000);
      const [row] = await infra.orm.em
        .fork()
        .execute<{ status: string; order_id: string }[]>('select status, order_id from bookings where id = ?', [
          bookingId(),
        ]);
      expect(row?.status).toBe('RESERVED');
      sweeper = startBookingSweeper(infra, services.registry);

      // The sweep takes it from Postgres: one decision, and Redis counts its 2 tickets once.
      const decided = await eventually(async () => {
        await sweeper!.runNow();
        const { booking } = await gqlOk(sys.url, BookingDocument, { id: bookingId() }, buyer.token);
        return booking && booking.status !== 'QUEUED' ? booking : undefined;
      }, 20_000);
      expect(decided).toMatchObject({ status: 'RESERVED', order: { id: row!.order_id } });
      const state = await eventually(async () => {
        const s = await services.gate.inspect(event.id);
        return s.inflightQty === 0 ? s : undefined;
      }, 20_000);
      expect(state.held[buyer.user.id]).toBe(2);
      expect((await expectConsistentStock(sys, event.id)).pgAvailable).toBe(3);
    } finally {
      await sweeper?.stop();
      await worker.stop();
    }

    function bookingId(): string {
      return bookTicket.id;
    }
  });
});
