import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BookingDocument,
  BookTicketDocument,
  PayOrderDocument,
  SaleStatsDocument,
  SimulatePaymentDocument,
  type SaleStatsQuery,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import { errorCode, eventually, gql, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * The operator's saleStats query. The system starts as a gateway alone, so booking attempts wait
 * in the stream (the queue the operator sees) until a worker instance is started.
 */
let sys: TestSystem;
let admin: string;

beforeAll(async () => {
  sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '0', BOOKING_RATE_PER_SECOND: '100' });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterAll(async () => {
  await sys.stop();
});

const count = (stats: SaleStatsQuery['saleStats'], status: string) =>
  stats.ordersByStatus.find((s) => s.status === status)?.count;

describe('saleStats', () => {
  it('is for admins only: anonymous callers are UNAUTHENTICATED and buyers FORBIDDEN', async () => {
    const event = await createEvent(sys, admin);
    const buyer = await signUp(sys);
    expect(errorCode(await gql(sys.url, SaleStatsDocument, { eventId: event.id }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(sys.url, SaleStatsDocument, { eventId: event.id }, buyer.token))).toBe('FORBIDDEN');
  });

  it('answers NOT_FOUND for an unknown or malformed event id', async () => {
    for (const eventId of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      expect(errorCode(await gql(sys.url, SaleStatsDocument, { eventId }, admin))).toBe('NOT_FOUND');
    }
  });

  it('counts the queued attempts of its event, then the reservations, payments and tickets left once decided', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 20, maxPerUser: 2 });
    const other = await createEvent(sys, admin, { ticketsTotal: 20 });
    const buyers = await Promise.all([signUp(sys), signUp(sys), signUp(sys)]);
    const booked = await Promise.all(
      buyers.map(async (b, i) => {
        const { bookTicket } = await gqlOk(
          sys.url,
          BookTicketDocument,
          { eventId: event.id, quantity: 2, idempotencyKey: `stats-${i}` },
          b.token,
        );
        return { buyer: b, bookingId: bookTicket.id, status: bookTicket.status };
      }),
    );
    await gqlOk(
      sys.url,
      BookTicketDocument,
      { eventId: other.id, quantity: 1, idempotencyKey: 'other' },
      buyers[0].token,
    );
    expect(booked.map((b) => b.status)).toEqual(['QUEUED', 'QUEUED', 'QUEUED']);

    const waiting = (await gqlOk(sys.url, SaleStatsDocument, { eventId: event.id }, admin)).saleStats;
    // Only this event's attempts: the one for the other event waits in the same stream.
    expect(waiting.queueLength).toBe(3);
    expect(waiting.ticketsTotal).toBe(20);
    expect(count(waiting, 'UNPAID')).toBe(0);
    expect(waiting.ordersByStatus).toHaveLength(6);
    expect(waiting.timeline).toHaveLength(60);

    await sys.startInstance({ ROLE: 'worker' });
    const decided = await eventually(
      async () => {
        const { saleStats } = await gqlOk(sys.url, SaleStatsDocument, { eventId: event.id }, admin);
        return saleStats.queueLength === 0 && count(saleStats, 'UNPAID') === 3 ? saleStats : undefined;
      },
      15_000,
      'the queue drained into three reservations',
    );
    expect(decided.ticketsLeft).toBe(14);
    expect(decided.timeline.reduce((sum, p) => sum + p.reservations, 0)).toBe(3);
    expect(decided.reservationsPerSecond).toBeGreaterThan(0);

    const { buyer } = booked[0]!;
    const { booking } = await gqlOk(sys.url, BookingDocument, { id: booked[0]!.bookingId }, buyer.token);
    const orderId = booking!.order!.id;
    await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer.token);
    await gqlOk(sys.url, SimulatePaymentDocument, { orderId, outcome: 'SUCCEED' }, buyer.token);
    const paid = await eventually(async () => {
      const { saleStats } = await gqlOk(sys.url, SaleStatsDocument, { eventId: event.id }, admin);
      return count(saleStats, 'SUCCEEDED') === 1 ? saleStats : undefined;
    });
    expect(count(paid, 'UNPAID')).toBe(2);
    expect(paid.timeline.reduce((sum, p) => sum + p.payments, 0)).toBe(1);
    expect(paid.paymentsPerSecond).toBeGreaterThan(0);
    expect(paid.ticketsLeft).toBe(14);
  });
});
