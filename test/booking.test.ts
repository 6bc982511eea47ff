import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BookTicketDocument,
  BookTicketLeanDocument,
  BookingDocument,
  BookingUpdatedDocument,
  EventDocument,
  MyOrdersDocument,
  StockChangedDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, HOUR, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import {
  errorCode,
  eventually,
  gql,
  gqlOk,
  startTestSystem,
  subscribe,
  wsClient,
  wsRequest,
  type TestSystem,
} from './support/system.js';

let sys: TestSystem;
let admin: string;

beforeAll(async () => {
  sys = await startTestSystem({ BOOKING_WAIT_MS: '5000', BOOKING_RATE_PER_SECOND: '50' });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterAll(async () => {
  await sys.stop();
});

type Lean = { id: string; status: string; reason: string | null; order: { id: string } | null };

/** The booking's final decision: the answer itself, or (if QUEUED) what booking(id) says once decided. */
async function decided(booking: Lean, token: string): Promise<Lean> {
  if (booking.status !== 'QUEUED') return booking;
  return eventually(async () => {
    const { booking: b } = await gqlOk(sys.url, BookingDocument, { id: booking.id }, token);
    return b && b.status !== 'QUEUED' ? b : undefined;
  });
}

describe('a flash sale', () => {
  it('sells exactly 100 tickets to 520 buyers racing over HTTP and graphql-ws, never more than 2 each', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 100, maxPerUser: 2 });
    const watcher = wsClient(sys.wsUrl);
    const stock = subscribe(watcher, StockChangedDocument, { eventId: event.id });
    await stock.next((m) => m.data?.stockChanged.ticketsAvailable === 100);

    const buyers = await createBuyers(sys, 520);
    const raceStart = Date.now();
    const sockets = buyers.slice(0, 260).map((b) => wsClient(sys.wsUrl, b.token));
    // Every buyer tries twice (1 then 2 tickets), half of them over websockets, all at once.
    const attempts = buyers.flatMap((buyer, i) =>
      [1, 2].map(async (quantity) => {
        const vars = { eventId: event.id, quantity, idempotencyKey: `try-${quantity}` };
        const res =
          i < 260
            ? await wsRequest(sockets[i]!, BookTicketLeanDocument, vars)
            : await gql(sys.url, BookTicketLeanDocument, vars, buyer.token);
        expect(res.errors).toBeUndefined();
        return decided(res.data!.bookTicket, buyer.token);
      }),
    );
    const results = await Promise.all(attempts);

    const reserved = results.filter((r) => r.status === 'RESERVED');
    const rejected = results.filter((r) => r.status === 'REJECTED');
    expect(reserved.length + rejected.length).toBe(1040);
    expect(new Set(rejected.map((r) => r.reason))).toEqual(new Set(['SOLD_OUT', 'LIMIT_EXCEEDED']));

    const state = await stockState(sys, event.id);
    expect(state.held).toBe(100);
    expect(state.pgAvailable).toBe(0);
    expect(state.redis.stock).toBe(0);
    expect(state.redis.inflightQty).toBe(0);
    expect(Math.max(...Object.values(state.heldByUser))).toBeLessThanOrEqual(2);
    expect(state.redis.held).toEqual(state.heldByUser);

    const last = await stock.next((m) => m.data?.stockChanged.ticketsAvailable === 0);
    expect(last.data?.stockChanged.status).toBe('SOLD_OUT');
    // 100 sales, but the subscriber got at most one update per 250 ms (plus the first and the last).
    const updates = stock.messages.length - 1;
    expect(updates).toBeLessThanOrEqual(Math.ceil((Date.now() - raceStart) / 250) + 2);
    expect(updates).toBeLessThan(100);
    const { event: page } = await gqlOk(sys.url, EventDocument, { id: event.id });
    expect(page).toMatchObject({ ticketsAvailable: 0, status: 'SOLD_OUT' });

    await Promise.all([watcher.dispose(), ...sockets.map((s) => s.dispose())]);
  });

  it('rejects at the gateway once it knows the event is sold out, but gives a winner its booking back', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 1, maxPerUser: 1 });
    const [winner, loser] = await createBuyers(sys, 2);
    const won = await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'w' }, winner!.token);
    expect(won.bookTicket.status).toBe('RESERVED');
    // The gateway learns it from the worker's stock message, then loads who holds tickets.
    const { stock } = sys.app.services;
    await eventually(() => (stock.isSoldOut(event.id) && !stock.mayHold(event.id, loser!.id) ? true : undefined));

    const attempts = sys.app.infra.metrics.bookingAttempts;
    const gatewaySoldOut = async () =>
      (await attempts.get()).values.find((v) => v.labels.stage === 'gateway' && v.labels.outcome === 'SOLD_OUT')
        ?.value ?? 0;
    const before = await gatewaySoldOut();
    const lost = await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'l' }, loser!.token);
    expect(lost.bookTicket).toMatchObject({ status: 'REJECTED', reason: 'SOLD_OUT' });
    expect(await gatewaySoldOut()).toBe(before + 1);

    // The winner's retry is not fast-rejected: it gets its reservation back.
    const retry = await gqlOk(
      sys.url,
      BookTicketLeanDocument,
      { eventId: event.id, idempotencyKey: 'w' },
      winner!.token,
    );
    expect(retry.bookTicket).toEqual(won.bookTicket);
  });
});

describe('idempotency', () => {
  it('books once for the same key sent 20 times at once, and returns one booking id', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10, maxPerUser: 4 });
    const [buyer] = await createBuyers(sys, 1);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        gqlOk(
          sys.url,
          BookTicketLeanDocument,
          { eventId: event.id, quantity: 3, idempotencyKey: 'same' },
          buyer!.token,
        ),
      ),
    );
    const final = await Promise.all(results.map((r) => decided(r.bookTicket, buyer!.token)));
    expect(new Set(final.map((b) => b.id)).size).toBe(1);
    expect(new Set(final.map((b) => b.order?.id)).size).toBe(1);
    expect(final[0]!.status).toBe('RESERVED');
    const state = await stockState(sys, event.id);
    expect(state.held).toBe(3);
    expect(state.pgAvailable).toBe(7);
    const { myOrders } = await gqlOk(sys.url, MyOrdersDocument, {}, buyer!.token);
    expect(myOrders.totalCount).toBe(1);
  });

  it('answers CONFLICT when a key is reused with other arguments, and books nothing more', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10 });
    const other = await createEvent(sys, admin, { ticketsTotal: 10 });
    const [buyer] = await createBuyers(sys, 1);
    await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, quantity: 1, idempotencyKey: 'k' }, buyer!.token);
    const moreTickets = await gql(
      sys.url,
      BookTicketLeanDocument,
      { eventId: event.id, quantity: 2, idempotencyKey: 'k' },
      buyer!.token,
    );
    expect(errorCode(moreTickets)).toBe('CONFLICT');
    const otherEvent = await gql(
      sys.url,
      BookTicketLeanDocument,
      { eventId: other.id, quantity: 1, idempotencyKey: 'k' },
      buyer!.token,
    );
    expect(errorCode(otherEvent)).toBe('CONFLICT');
    expect((await stockState(sys, event.id)).held).toBe(1);
    expect((await stockState(sys, other.id)).held).toBe(0);
  });
});

describe('rules', () => {
  it('answers NOT_ON_SALE before the sale opens and after the event started', async () => {
    const early = await createEvent(sys, admin, { saleStartsAt: new Date(Date.now() + HOUR).toISOString() });
    const { token } = await signUp(sys);
    const res = await gqlOk(sys.url, BookTicketLeanDocument, { eventId: early.id, idempotencyKey: 'a' }, token);
    expect(res.bookTicket).toMatchObject({ status: 'REJECTED', reason: 'NOT_ON_SALE', order: null });
    const over = await createEvent(sys, admin, {
      saleStartsAt: new Date(Date.now() - 3 * HOUR).toISOString(),
      startsAt: new Date(Date.now() - HOUR).toISOString(),
    });
    const late = await gqlOk(sys.url, BookTicketLeanDocument, { eventId: over.id, idempotencyKey: 'b' }, token);
    expect(late.bookTicket).toMatchObject({ status: 'REJECTED', reason: 'NOT_ON_SALE' });
  });

  it('answers INVALID_QUANTITY for zero, negative or more than maxPerUser tickets', async () => {
    const event = await createEvent(sys, admin, { maxPerUser: 3 });
    const { token } = await signUp(sys);
    for (const quantity of [0, -1, 4]) {
      const res = await gqlOk(
        sys.url,
        BookTicketLeanDocument,
        { eventId: event.id, quantity, idempotencyKey: `q${quantity}` },
        token,
      );
      expect(res.bookTicket).toMatchObject({ status: 'REJECTED', reason: 'INVALID_QUANTITY' });
    }
    expect((await stockState(sys, event.id)).held).toBe(0);
  });

  it('answers LIMIT_EXCEEDED when a buyer would hold more than maxPerUser across orders', async () => {
    const event = await createEvent(sys, admin, { maxPerUser: 3 });
    const { token } = await signUp(sys);
    const first = await gqlOk(
      sys.url,
      BookTicketLeanDocument,
      { eventId: event.id, quantity: 2, idempotencyKey: '1' },
      token,
    );
    expect(first.bookTicket.status).toBe('RESERVED');
    const second = await gqlOk(
      sys.url,
      BookTicketLeanDocument,
      { eventId: event.id, quantity: 2, idempotencyKey: '2' },
      token,
    );
    expect(second.bookTicket).toMatchObject({ status: 'REJECTED', reason: 'LIMIT_EXCEEDED' });
    const third = await gqlOk(
      sys.url,
      BookTicketLeanDocument,
      { eventId: event.id, quantity: 1, idempotencyKey: '3' },
      token,
    );
    expect(third.bookTicket.status).toBe('RESERVED');
  });

  it('answers UNAUTHENTICATED to an anonymous caller and NOT_FOUND for an unknown event', async () => {
    const event = await createEvent(sys, admin);
    expect(errorCode(await gql(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'x' }))).toBe(
      'UNAUTHENTICATED',
    );
    const { token } = await signUp(sys);
    const unknown = await gql(
      sys.url,
      BookTicketLeanDocument,
      { eventId: '00000000-0000-4000-8000-000000000000', idempotencyKey: 'x' },
      token,
    );
    expect(errorCode(unknown)).toBe('NOT_FOUND');
    const badKey = await gql(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: '' }, token);
    expect(errorCode(badKey)).toBe('BAD_USER_INPUT');
  });

  it('refuses a signed token of a user Postgres does not know, without holding up the rest of its batch', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5, maxPerUser: 1 });
    const buyers = await createBuyers(sys, 5);
    const ghosts = await Promise.all(
      Array.from({ length: 5 }, () =>
        sys.app.services.tokens.issue({
          id: randomUUID(),
          email: `ghost-${randomUUID()}@example.test`,
          role: 'USER',
          tokenVersion: 0,
        }),
      ),
    );
    const tokens = [...ghosts, ...buyers.map((b) => b.token)];
    const answers = await Promise.all(
      tokens.map((token) => gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'g' }, token)),
    );
    const outcomes = await Promise.all(answers.map((a, i) => decided(a.bookTicket, tokens[i]!)));
    expect(outcomes.slice(0, 5).map((o) => [o.status, o.reason])).toEqual(Array(5).fill(['REJECTED', null]));
    expect(outcomes.slice(5).map((o) => o.status)).toEqual(Array(5).fill('RESERVED'));
    const state = await stockState(sys, event.id);
    expect(state.pgAvailable).toBe(0);
    expect(state.redis.stock).toBe(0);
  });

  it('shows a booking and its order only to the buyer', async () => {
    const event = await createEvent(sys, admin);
    const a = await signUp(sys);
    const b = await signUp(sys);
    const { bookTicket } = await gqlOk(
      sys.url,
      BookTicketDocument,
      { eventId: event.id, idempotencyKey: 'mine' },
      a.token,
    );
    expect((await gqlOk(sys.url, BookingDocument, { id: bookTicket.id }, a.token)).booking?.order?.id).toBe(
      bookTicket.order?.id,
    );
    expect((await gqlOk(sys.url, BookingDocument, { id: bookTicket.id }, b.token)).booking).toBeNull();
    expect(errorCode(await gql(sys.url, BookingDocument, { id: bookTicket.id }))).toBe('UNAUTHENTICATED');
  });
});

describe('fairness', () => {
  it('answers RATE_LIMITED to a buyer who tries faster than BOOKING_RATE_PER_SECOND', async () => {
    const limited = await startTestSystem({ BOOKING_RATE_PER_SECOND: '3' });
    try {
      const adminToken = (await signUp(limited, ADMIN_EMAIL)).token;
      const event = await createEvent(limited, adminToken, { ticketsTotal: 100, maxPerUser: 100 });
      const { token } = await signUp(limited);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          gqlOk(limited.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: `r${i}` }, token),
        ),
      );
      const reasons = results.map((r) => r.bookTicket.reason);
      expect(reasons.filter((r) => r === 'RATE_LIMITED').length).toBe(5);
      expect(results.filter((r) => r.bookTicket.status === 'RESERVED').length).toBe(3);
    } finally {
      await limited.stop();
    }
  });
});

describe('decisions that take longer than the wait', () => {
  it('answers QUEUED, then delivers the decision on bookingUpdated and booking(id)', async () => {
    const slow = await startTestSystem({ BOOKING_WAIT_MS: '0' });
    try {
      const adminToken = (await signUp(slow, ADMIN_EMAIL)).token;
      const event = await createEvent(slow, adminToken);
      const { token } = await signUp(slow);
      const { bookTicket } = await gqlOk(
        slow.url,
        BookTicketLeanDocument,
        { eventId: event.id, idempotencyKey: 'q' },
        token,
      );
      expect(bookTicket.status).toBe('QUEUED');
      const client = wsClient(slow.wsUrl, token);
      const updates = subscribe(client, BookingUpdatedDocument, { id: bookTicket.id });
      const final = await updates.next((m) => m.data?.bookingUpdated.status === 'RESERVED');
      expect(final.data?.bookingUpdated.order?.status).toBe('UNPAID');
      await eventually(() => (updates.completed ? true : undefined));
      const { booking } = await gqlOk(slow.url, BookingDocument, { id: bookTicket.id }, token);
      expect(booking?.status).toBe('RESERVED');
      await client.dispose();
    } finally {
      await slow.stop();
    }
  });
});

describe('metrics', () => {
  it('exposes booking attempts by outcome, decision latency and the queue backlog at /metrics', async () => {
    const event = await createEvent(sys, admin);
    const { token } = await signUp(sys);
    await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'm' }, token);
    await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, quantity: 0, idempotencyKey: 'm0' }, token);
    const text = await (await fetch(`${sys.app.url}/metrics`)).text();
    expect(text).toMatch(/booking_attempts_total\{stage="worker",outcome="RESERVED"\} [1-9]/);
    expect(text).toMatch(/booking_attempts_total\{stage="gateway",outcome="INVALID_QUANTITY"\} [1-9]/);
    expect(text).toMatch(/booking_decision_seconds_count [1-9]/);
    expect(text).toMatch(/booking_batch_size_count [1-9]/);
    await eventually(async () =>
      (await (await fetch(`${sys.app.url}/metrics`)).text()).includes('booking_queue_pending 0') ? true : undefined,
    );
  });
});
