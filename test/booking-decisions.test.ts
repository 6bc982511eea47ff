import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../src/infra/redis.js';
import type { BookingRequest } from '../src/services/messages/queue-messages.js';
import { BookingDecider } from '../src/services/booking/booking-decider.js';
import { bookingIdFor } from '../src/services/booking/booking.service.js';
import { startBookingWorker } from '../src/workers/booking.worker.js';
import { startStockSweeper } from '../src/workers/stock.sweeper.js';
import { BookTicketLeanDocument, BookingDocument, CancelOrderDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

type Answer = { id: string; status: string; reason: string | null; order: { id: string } | null };

/** Every answer a client saw for one key that is a decision (QUEUED is not one yet). */
function decisionsOf(answers: readonly Answer[]): string[] {
  return [
    ...new Set(
      answers.filter((a) => a.status !== 'QUEUED').map((a) => `${a.status}:${a.reason ?? ''}:${a.order?.id ?? ''}`),
    ),
  ];
}

async function bookingOf(sys: TestSystem, id: string, token: string): Promise<Answer> {
  const { booking } = await gqlOk(sys.url, BookingDocument, { id }, token);
  expect(booking).not.toBeNull();
  return booking!;
}

function request(eventId: string, userId: string, key: string, quantity = 1): BookingRequest {
  return {
    bookingId: bookingIdFor(userId, key),
    userId,
    eventId,
    quantity,
    idempotencyKey: key,
    requestedAt: new Date().toISOString(),
  };
}

describe('a committed reservation delivered again', () => {
  let sys: TestSystem;
  let admin: string;
  beforeAll(async () => {
    // Gateway only: the test drives the decider and the workers itself; the app's sweep stays out of the way.
    sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '5000', SWEEP_INTERVAL_MS: '3600000' });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('in one batch with a fresh attempt of the same buyer counts its tickets once, so the buyer can book the rest of their allowance', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10, maxPerUser: 3 });
    const [buyer] = await createBuyers(sys, 1);
    const { decider } = sys.app.services;
    const first = request(event.id, buyer!.id, 'first');

    expect((await decider.decide([first])).decisions[0]).toMatchObject({ status: 'RESERVED' });
    // Its acknowledgement was lost: it comes again, next to the buyer's second attempt.
    const again = await decider.decide([first, request(event.id, buyer!.id, 'second')]);
    expect(again.decisions.map((d) => d.status)).toEqual(['RESERVED', 'RESERVED']);

    const state = await stockState(sys, event.id);
    expect(state.heldByUser).toEqual({ [buyer!.id]: 2 });
    expect(state.redis.held).toEqual(state.heldByUser);
    expect(state.redis.stock).toBe(state.pgAvailable);

    // The third ticket of their allowance is theirs to book.
    const worker = await startBookingWorker(sys.app.infra, decider, sys.app.services.registry, { maxBatch: 500 });
    try {
      const { bookTicket } = await gqlOk(
        sys.url,
        BookTicketLeanDocument,
        { eventId: event.id, idempotencyKey: 'third' },
        buyer!.token,
      );
      expect(bookTicket).toMatchObject({ status: 'RESERVED', reason: null });
      const after = await stockState(sys, event.id);
      expect(after.heldByUser).toEqual({ [buyer!.id]: 3 });
      expect(after.redis.held).toEqual(after.heldByUser);
      expect(after.redis.inflightQty).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it('reserved before Redis lost its data and committed after the reload still counts once for its buyer', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10, maxPerUser: 3 });
    const [buyer] = await createBuyers(sys, 1);
    const { infra, services } = sys.app;
    const decider = new BookingDecider(infra.orm, services.gate, services.catalog, 300, {
      // Between the Redis step and the commit, Redis restarts empty and another batch reloads it.
      afterGate: async () => {
        const keys = await infra.redis.keys(`${redisKeys(sys.config.namespace).eventTag(event.id)}:*`);
        await infra.redis.del(...keys);
        await services.gate.load(event.id, await services.decider.snapshot(event.id));
      },
    });
    expect((await decider.decide([request(event.id, buyer!.id, 'lost')])).decisions[0]).toMatchObject({
      status: 'RESERVED',
    });
    const state = await stockState(sys, event.id);
    expect(state.heldByUser).toEqual({ [buyer!.id]: 1 });
    expect(state.redis.held).toEqual(state.heldByUser);
    expect(state.redis.stock).toBe(state.pgAvailable);

    // And delivered again, it is not counted a second time.
    await services.decider.decide([request(event.id, buyer!.id, 'lost'), request(event.id, buyer!.id, 'next')]);
    const after = await stockState(sys, event.id);
    expect(after.redis.held).toEqual({ [buyer!.id]: 2 });
    expect(after.redis.held).toEqual(after.heldByUser);
  });

  it('the stock sweep repairs buyers counted wrong in Redis, even when stock, version and number of buyers agree', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10, maxPerUser: 3 });
    const buyers = await createBuyers(sys, 3);
    const { decider, gate } = sys.app.services;
    await decider.decide(buyers.map((b) => request(event.id, b.id, 'k')));
    const before = await stockState(sys, event.id);
    expect(before.redis.held).toEqual(before.heldByUser);

    // One buyer counted twice, one forgotten, and a buyer Postgres does not know of in its place.
    const held = `${redisKeys(sys.config.namespace).eventTag(event.id)}:held`;
    const stranger = randomUUID();
    await sys.app.infra.redis
      .multi()
      .hset(held, buyers[0]!.id, 2)
      .hdel(held, buyers[1]!.id)
      .hset(held, stranger, 1)
      .exec();
    expect(await gate.summary(event.id)).toMatchObject({ stock: 7, version: before.redis.version, holders: 3 });

    const sweeper = startStockSweeper(sys.app.infra, gate, decider);
    try {
      await sweeper.runNow();
    } finally {
      await sweeper.stop();
    }
    const after = await stockState(sys, event.id);
    expect(after.redis.held).toEqual(after.heldByUser);
    expect(after.redis.stock).toBe(7);
  });
});

describe('one decision per key, whatever answered first', () => {
  const HOLD_SECONDS = 2;
  let sys: TestSystem;
  let admin: string;
  beforeAll(async () => {
    sys = await startTestSystem({
      BOOKING_WAIT_MS: '5000',
      HOLD_SECONDS: String(HOLD_SECONDS),
      SWEEP_INTERVAL_MS: '500',
    });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('a key answered SOLD_OUT from the gateway flag stays SOLD_OUT when tickets come back, and booking(id) says so', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 1, maxPerUser: 1 });
    const [winner, late] = await createBuyers(sys, 2);
    const { stock } = sys.app.services;
    const book = (token: string, key: string) =>
      gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: key }, token).then(
        (r) => r.bookTicket,
      );

    expect(await book(winner!.token, 'w')).toMatchObject({ status: 'RESERVED' });
    await eventually(() => (stock.isSoldOut(event.id) && !stock.mayHold(event.id, late!.id) ? true : undefined));
    const answers: Answer[] = [await book(late!.token, 'late')];
    expect(answers[0]).toMatchObject({ status: 'REJECTED', reason: 'SOLD_OUT' });
    answers.push(await bookingOf(sys, answers[0]!.id, late!.token));

    // The winner's hold runs out: the ticket is on sale again.
    await eventually(() => (stock.isSoldOut(event.id) ? undefined : true), (HOLD_SECONDS + 10) * 1000);
    answers.push(await book(late!.token, 'late'));
    answers.push(await bookingOf(sys, answers[0]!.id, late!.token));
    expect(decisionsOf(answers)).toEqual(['REJECTED:SOLD_OUT:']);
    expect(answers.every((a) => a.id === answers[0]!.id)).toBe(true);

    // It really is on sale: a new key gets it.
    expect(await book(late!.token, 'late-2')).toMatchObject({ status: 'RESERVED' });
  });
});

describe('the retry of an attempt still in flight', () => {
  let sys: TestSystem;
  let admin: string;
  beforeAll(async () => {
    // Gateway only, answering QUEUED at once: the attempt stays in flight until the test starts a worker.
    sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '0', SWEEP_INTERVAL_MS: '3600000' });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('is never answered SOLD_OUT from the gateway flag when the attempt is then reserved', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 1, maxPerUser: 1 });
    const [winner, waiting] = await createBuyers(sys, 2);
    const { infra, services } = sys.app;
    const book = () =>
      gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'wait' }, waiting!.token).then(
        (r) => r.bookTicket,
      );
    const answers: Answer[] = [await book()];
    expect(answers[0]!.status).toBe('QUEUED');

    // Another buyer takes the last ticket first (decided and announced as a worker does).
    const outcome = await services.decider.decide([request(event.id, winner!.id, 'w')]);
    const orderId = outcome.decisions[0]!.orderId!;
    for (const s of outcome.stock) {
      infra.live.publish('stock', s.eventId, {
        eventId: s.eventId,
        available: s.redis ?? s.pg.available,
        version: s.pg.version,
        at: new Date().toISOString(),
      });
    }
    await eventually(() =>
      services.stock.isSoldOut(event.id) && !services.stock.mayHold(event.id, waiting!.id) ? true : undefined,
    );
    answers.push(await book()); // the retry, while the first attempt is still queued

    // The winner gives the ticket up; the queued attempt is then decided.
    await gqlOk(sys.url, CancelOrderDocument, { orderId }, winner!.token);
    const worker = await startBookingWorker(infra, services.decider, services.registry, { maxBatch: 500 });
    try {
      const final = await eventually(async () => {
        const b = await bookingOf(sys, answers[0]!.id, waiting!.token);
        return b.status === 'QUEUED' ? undefined : b;
      }, 20_000);
      answers.push(final, await book());
    } finally {
      await worker.stop();
    }
    expect(answers.every((a) => a.id === answers[0]!.id)).toBe(true);
    expect(decisionsOf(answers)).toHaveLength(1);
  });

  it('answered SOLD_OUT after Redis lost its record stays SOLD_OUT when the queued attempt is then decided', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 1, maxPerUser: 1 });
    const [winner, waiting] = await createBuyers(sys, 2);
    const { infra, services } = sys.app;
    const book = () =>
      gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'lost' }, waiting!.token).then(
        (r) => r.bookTicket,
      );
    const answers: Answer[] = [await book()];
    expect(answers[0]!.status).toBe('QUEUED');
    const outcome = await services.decider.decide([request(event.id, winner!.id, 'w')]);
    for (const s of outcome.stock) {
      infra.live.publish('stock', s.eventId, {
        eventId: s.eventId,
        available: s.redis ?? s.pg.available,
        version: s.pg.version,
        at: new Date().toISOString(),
      });
    }
    await eventually(() =>
      services.stock.isSoldOut(event.id) && !services.stock.mayHold(event.id, waiting!.id) ? true : undefined,
    );

    // Redis restarts empty while the attempt is queued: its record is gone, so the flag answers.
    const keys = await infra.redis.keys(`${sys.config.namespace}:*`);
    await infra.redis.del(...keys);
    answers.push(await book());
    expect(answers[1]).toMatchObject({ status: 'REJECTED', reason: 'SOLD_OUT' });

    // The ticket comes back before a worker takes the queued attempt: it still may not have it.
    await gqlOk(sys.url, CancelOrderDocument, { orderId: outcome.decisions[0]!.orderId! }, winner!.token);
    const worker = await startBookingWorker(infra, services.decider, services.registry, { maxBatch: 500 });
    try {
      await eventually(async () => {
        const [row] = await infra.orm.em
          .fork()
          .execute<{ status: string; reason: string | null }[]>('select status, reason from bookings where id = ?', [
            answers[0]!.id,
          ]);
        return row;
      }, 20_000).then((row) => expect(row).toEqual({ status: 'REJECTED', reason: 'SOLD_OUT' }));
      answers.push(await bookingOf(sys, answers[0]!.id, waiting!.token), await book());
    } finally {
      await worker.stop();
    }
    expect(answers.every((a) => a.id === answers[0]!.id)).toBe(true);
    expect(decisionsOf(answers)).toEqual(['REJECTED:SOLD_OUT:']);
  });
});
